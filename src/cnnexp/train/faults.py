"""Training faults: a loss that stops being finite, an interruption, a kill during a checkpoint write."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.utilities.exceptions import SIGTERMException

from cnnexp.errors import TrainingFailed

INTERRUPTED = "interrupted.ckpt"


class StopOnNonFinite(pl.Callback):
    """Stops training at the first step whose loss is NaN or infinite, naming that step.

    On a GPU the check keeps a device-side record of the first bad step, so it costs a host sync only every
    `every_n_steps` steps; on a CPU, where there is nothing to wait for, it reads every step's loss. Under DDP
    the ranks agree before stopping, so none is left waiting in a collective.
    """

    def __init__(self, every_n_steps: int = 50) -> None:
        self.every_n_steps = every_n_steps
        self._first_bad: torch.Tensor | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, out: Any, batch: Any, idx: int) -> None:
        loss = out["loss"].detach() if isinstance(out, dict) else out.detach()
        if module.device.type == "cpu" and trainer.world_size == 1:
            # Nothing to wait for and no rank to agree with: read this step's loss (a record would cost more).
            if not math.isfinite(loss.item()):
                self._fail(trainer, loss, trainer.global_step)
            return
        # new_full, not torch.tensor(step, device=...): a host-to-device copy would wait for the GPU every step.
        step = loss.new_full((), trainer.global_step, dtype=torch.long)
        first = self._first_bad if self._first_bad is not None else loss.new_full((), -1, dtype=torch.long)
        self._first_bad = torch.where((first < 0) & ~torch.isfinite(loss), step, first)
        if module.device.type == "cpu" or trainer.global_step % self.every_n_steps == 0:
            self._check(trainer, loss)

    def _check(self, trainer: pl.Trainer, loss: torch.Tensor) -> None:
        bad = bool(trainer.strategy.reduce_boolean_decision(bool(self._first_bad >= 0), all=False))
        if bad:
            self._fail(trainer, loss, int(self._first_bad) if self._first_bad is not None else trainer.global_step)

    def _fail(self, trainer: pl.Trainer, loss: torch.Tensor, step: int) -> None:
        saved = latest_checkpoint(trainer)
        kept = f"the last good checkpoint is {saved}" if saved else "no checkpoint had been written yet"
        raise TrainingFailed(
            f"train/loss is {float(loss)} at step {step} (epoch {trainer.current_epoch}): training diverged; "
            f"{kept} (these weights were not saved). Lower optimizer.lr, or try another activation or init."
        )


def latest_checkpoint(trainer: pl.Trainer) -> str:
    """The newest file any ModelCheckpoint of the run has written ("" before the first)."""
    paths = [p for cb in trainer.checkpoint_callbacks for p in (cb.best_model_path, cb.last_model_path) if p]
    existing = [p for p in paths if os.path.isfile(p)]
    return max(existing, key=os.path.getmtime) if existing else ""


class CheckpointOnInterrupt(pl.Callback):
    """On Ctrl-C (SIGINT) or SIGTERM (a cluster preemption) mid-epoch: write checkpoints/interrupted.ckpt.

    It holds the loop's progress inside the epoch, so a run resumed from it continues with the next batch
    (the data order, the random state and the running metrics are restored too: see train/module.py and
    data/batches.py).
    """

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)

    def on_exception(self, trainer: pl.Trainer, module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)) and trainer.state.fn == "fit":
            trainer.save_checkpoint(self.dirpath / INTERRUPTED)


@contextlib.contextmanager
def graceful_ctrl_c() -> Iterator[None]:
    """Ctrl-C stops like SIGTERM (a cluster preemption): after the running batch, with a checkpoint."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (joblib runs jobs in threads sometimes)
        return
    previous = signal.signal(signal.SIGINT, lambda *_: os.kill(os.getpid(), signal.SIGTERM))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint to a temporary file beside it, then renames it into place.

    A kill during the write leaves the previous checkpoint intact and never a half-written file.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
