"""The overrides the user typed, as Hydra read them: how a task that starts from a checkpoint tells what the
user asked for from what the config's defaults say.

They come with the Run (`run.invocation.overrides`, read once at the door: Hydra's own list in a run started by
`python -m cnnexp`, also in .hydra/overrides.yaml; in a multirun job, that job's; the API's as given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser


@dataclass(frozen=True)
class Given:
    """One override: `model.activation=tanh` (a key), `model=alexnet` (a group's option) or `~model.layers.x`."""

    key: str  # model.activation; for an option, the group: model
    text: str  # as typed
    value: Any  # as Hydra parsed it (None for a deletion)
    deleted: bool = False

    @property
    def group(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def path(self) -> tuple[str, ...]:
        """The key inside its group: ("activation",) for model.activation; () for the group's option."""
        return tuple(self.key.split(".")[1:])


def parse_overrides(texts: Sequence[str]) -> list[Given]:
    """Each override with its key, by Hydra's own parser (the syntax was checked when the config was composed)."""
    parsed = OverridesParser.create().parse_overrides(list(texts))
    return [
        Given(o.key_or_group, str(o.input_line), None if o.is_delete() else o.value(), o.is_delete()) for o in parsed
    ]
