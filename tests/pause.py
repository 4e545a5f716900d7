"""A callback that holds one run at a known point until the test says go, so a signal sent by a test lands there
on any machine: sleeping a guessed time raced a fast CPU, which finished the epoch before the signal came."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl


class PauseAt(pl.Callback):
    """In the run whose folder is named `<run_prefix>...`, after training batch `batch` of epoch `epoch`:
    touches `<folder>/paused`, then waits until `<folder>/go` exists (at most `timeout` seconds)."""

    def __init__(self, folder: str, run_dir: str, run_prefix: str, epoch: int, batch: int, timeout: float = 120):
        self.folder, self.epoch, self.batch, self.timeout = Path(folder), epoch, batch, timeout
        self.armed = Path(run_dir).name.startswith(run_prefix)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if not self.armed or (trainer.current_epoch, trainer.fit_loop.epoch_loop.batch_idx) != (self.epoch, self.batch):
            return
        self.armed = False
        (self.folder / "paused").touch()
        deadline = time.monotonic() + self.timeout
        while not (self.folder / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.01)


TESTS = str(Path(__file__).parent)  # the started process imports pause.py from here: start(..., pythonpath=TESTS)


def pause_overrides(folder: Path, epoch: int, batch: int, run_prefix: str = "") -> tuple[str, ...]:
    """The command-line overrides that add PauseAt to a run (or to the sweep jobs named `run_prefix`...)."""
    return (
        "+callbacks.pause._target_=pause.PauseAt", f"+callbacks.pause.folder={folder}",
        "+callbacks.pause.run_dir=${output_dir}", f"+callbacks.pause.run_prefix={run_prefix}",
        f"+callbacks.pause.epoch={epoch}", f"+callbacks.pause.batch={batch}",
    )  # fmt: skip


def wait_until_paused(proc: Any, folder: Path) -> None:
    """Returns once the run holds at its PauseAt point (or its process has ended, which the test then sees)."""
    while not (folder / "paused").exists() and proc.poll() is None:
        time.sleep(0.05)


def go(folder: Path) -> None:
    """Lets the held run go on."""
    (folder / "go").touch()
