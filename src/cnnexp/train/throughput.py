"""The throughput meter behind metrics.json's images/s: training steps only, one device sync per epoch."""

from __future__ import annotations

import math
import time
from typing import Any

import pytorch_lightning as pl
import torch


class Throughput(pl.Callback):
    """Training images per second over the training steps only (validation and start-up excluded).

    Times each epoch's training batches: from the first batch's start to the last batch's end, with one
    device synchronisation per epoch (never per step).
    """

    def __init__(self) -> None:
        self.images = 0
        self.seconds = 0.0
        self._start: float | None = None
        self._world, self._batches = 1, math.inf  # set when each epoch starts

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        # Read once per epoch, not per step: the ranks, and the batches Lightning will run this epoch.
        self._world, self._batches = trainer.world_size, trainer.num_training_batches

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int) -> None:
        if self._start is None:
            _sync(module.device)
            self._start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, out: Any, batch: Any, idx: int
    ) -> None:
        self.images += batch[0].shape[0] * self._world
        if idx + 1 >= self._batches:
            self._stop(module.device)

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._stop(module.device)

    def _stop(self, device: torch.device) -> None:
        if self._start is not None:
            _sync(device)
            self.seconds += time.perf_counter() - self._start
            self._start = None

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
