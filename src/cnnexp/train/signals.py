"""SIGTERM and Ctrl-C at any moment of a run or a sweep: stop cleanly, never exit 0.

While a Trainer runs (fit, validation, test), Lightning's own SIGTERM handler is installed; it stops at the
next batch boundary by raising SIGTERMException, which cnnexp turns into a checkpoint and exit 143
(train/faults.py, tasks/train.py). Outside a Trainer (reading data, between sweep jobs, writing a report)
nothing would: the handler below raises `Interrupted` there. Lightning calls the handler it found as well,
so this one checks whether it is the installed handler before acting. Ctrl-C is made to do what SIGTERM
does, so that one interruption path covers both.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from cnnexp.errors import Stop

EXIT_INTERRUPTED = 143  # what a shell reports for a process ended by SIGTERM (128 + 15)


class Interrupted(Stop):
    """SIGTERM or Ctrl-C: ends the run, or the whole sweep, with exit code 143 once the results are written.
    An empty message: raised where nothing was recorded yet."""

    def __init__(self, message: str = "") -> None:
        super().__init__(EXIT_INTERRUPTED, message)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Inside a Trainer, Lightning's handler is installed and calls this one too: Lightning stops by itself then.
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        raise Interrupted()


def _on_ctrl_c(signum: int, frame: FrameType | None) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM raises Interrupted wherever no Trainer runs; Ctrl-C does what SIGTERM does. Nests."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (joblib runs jobs in threads sometimes)
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm), signal.signal(signal.SIGINT, _on_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous[0] or signal.SIG_DFL)
        signal.signal(signal.SIGINT, previous[1] or signal.SIG_DFL)
