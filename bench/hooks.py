"""Lightning callbacks that put the bench's clocks inside cnnexp's runner, and the start-up probe."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from clocks import StepWindow, sync


class WindowCallback(pl.Callback):
    """A StepWindow over the runner's training iterations (counted across epochs)."""

    def __init__(self, window: StepWindow) -> None:
        self.window = window
        self.iterations = 0

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int) -> None:
        self.window.at_start(self.iterations, module.device)
        self.iterations += 1


class EpochCallback(pl.Callback):
    """Seconds of the first training epoch: from its start to the end of its last batch (validation after)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.current_epoch == 0:
            sync(module.device)
            self._start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, out: Any, batch: Any, idx: int) -> None:
        if self._start is not None and idx + 1 == trainer.num_training_batches:
            sync(module.device)
            self.seconds = time.perf_counter() - self._start
            self._start = None


class FirstStepProbe(pl.Callback):
    """For `python -m cnnexp +callbacks.first_step._target_=hooks.FirstStepProbe`: the start-up row.

    Writes the wall-clock time at which the first training step is about to run, then ends the process at
    once: what comes after the first step is not start-up, and a finished run would only cost bench time.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int) -> None:
        self.path.write_text(repr(time.time()))
        os._exit(0)  # no teardown: nothing of this run is kept
