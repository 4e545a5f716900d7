"""User-facing configuration errors.

A ConfigError is a mistake in what the user asked for (a key, a layer, a path). The entry point prints its
message as one paragraph and exits non-zero without a traceback; HYDRA_FULL_ERROR=1 shows the trace.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserFacingError(Exception):
    """An error whose message is the whole story for the user: printed as one paragraph, no traceback."""

    exit_code = 2


class ConfigError(UserFacingError, ValueError):
    """A mistake in the user's configuration; the message names the key, the numbers and the fix."""


class TrainingFailed(UserFacingError):
    """Training went wrong in a way the user must act on (a loss that became NaN); the message says how."""

    exit_code = 3


def closest(name: str, known: Iterable[str]) -> str:
    """A ' Did you mean X?' hint for a misspelled name, or '' when nothing is close."""
    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


class Stop(SystemExit):
    """Ends the run, or the whole sweep, with `code` once its results are written and `message` was printed.

    A SystemExit, so that Hydra's job runner (which catches Exception) lets it through and a sweep stops."""

    def __init__(self, code: int, message: str = "", reported: bool = False, said: bool = True) -> None:
        super().__init__(code)
        self.message = message
        self.reported = reported  # the sweep's report is written (or is not this process's to write)
        self.said = said  # False: the door prints `message` as the error's paragraph (cli/exits.py)
