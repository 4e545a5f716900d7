"""What a run tells its user without being asked: one line at the start, and a warning when a CPU run is slow.

`RunHeader`: once the data is set up, one line names the run folder, the device, the precision and the data
(name, shape, sizes, classes, where it lives, mean/std, any adaptation), in the console and in cnnexp.log.
`PaceWarning`: on a CPU, when the first training batches predict an epoch longer than `limit_s` (10 minutes),
the estimate and the quick ways out: fewer batches, or a model made for the data's size.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytorch_lightning as pl
import torch

log = logging.getLogger(__name__)
EPOCH_LIMIT_S = 600.0
TIMED_BATCH = 1  # the first batch pays for allocations and kernel selection; the second is timed


class RunHeader(pl.Callback):
    def __init__(self) -> None:
        self.said = False

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.said or not trainer.is_global_zero:
            return
        self.said = True
        datamodule = getattr(trainer, "datamodule", None)  # set by Lightning's data connector
        data = getattr(datamodule, "describe", lambda: "data: not a cnnexp data module")()
        log.info(f"run {trainer.default_root_dir} on {device_text(trainer)}, precision {trainer.precision}; {data}")


def device_text(trainer: pl.Trainer) -> str:
    """'cpu (2 threads)', 'cuda:0 (NVIDIA H100 80GB HBM3)', with ' × 2 processes' under DDP."""
    device = trainer.strategy.root_device
    what = f"{torch.get_num_threads()} threads" if device.type == "cpu" else ""
    if device.type == "cuda":
        what = torch.cuda.get_device_name(device)
    processes = f" × {trainer.world_size} processes" if trainer.world_size > 1 else ""
    return f"{device} ({what}){processes}" if what else f"{device}{processes}"


class PaceWarning(pl.Callback):
    """Times training batch TIMED_BATCH of the first epoch; warns once when an epoch would exceed `limit_s`. Once
    it has timed the batch, its hooks are off: it costs the steps after nothing."""

    def __init__(self, model_name: str, limit_s: float | None = None) -> None:
        self.model_name, self.limit_s = model_name, EPOCH_LIMIT_S if limit_s is None else limit_s
        self._start: float | None = None
        self.estimate_s: float | None = None  # the predicted epoch, once measured (for tests and logs)

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int) -> None:
        if idx == TIMED_BATCH and self.estimate_s is None:
            self._start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, out: Any, batch: Any, idx: int
    ) -> None:
        if self._start is None:
            return
        seconds, self._start = time.perf_counter() - self._start, None
        # Measured once: from now on neither hook has anything to do, and Lightning skips a hook set to None
        # rather than calling it on every step (train/hooks.py).
        self.on_train_batch_start = self.on_train_batch_end = None  # type: ignore[assignment,method-assign]
        counted = trainer.num_training_batches
        batches = int(counted) if counted != float("inf") else 0
        self.estimate_s = seconds * batches if batches else None
        if trainer.strategy.root_device.type == "cpu" and self.estimate_s and self.estimate_s > self.limit_s:
            if trainer.is_global_zero:
                log.warning(slow_message(self.estimate_s, seconds, batches, len(batch[0]), self.model_name))


def slow_message(epoch_s: float, batch_s: float, batches: int, batch_size: int, model: str) -> str:
    quick = max(1, int(60 / batch_s)) if batch_s > 0 else 10
    smaller = "model=alexnet_small (AlexNet's shape made for 28×28 to 32×32 inputs)" if model.startswith("alexnet") else (
        "a smaller model (model=lenet5, model=alexnet_small)")  # fmt: skip
    return (
        f"slow run: on this CPU a training batch of {batch_size} images takes {batch_s:.1f} s ({batch_size / batch_s:.1f} "
        f"images/s), so one epoch of {batches} batches takes about {_duration(epoch_s)}. For a quick run: "
        f"trainer.limit_train_batches={quick} (about {_duration(quick * batch_s)} per epoch), or {smaller}; or train on a GPU."
    )


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
