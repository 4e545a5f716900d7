"""Training faults: a loss that stops being finite, an interruption, a kill or a full disk during a checkpoint write."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException
from torchmetrics import Metric

from cnnexp.errors import TrainingFailed
from cnnexp.rundir.files import atomic_write

INTERRUPTED = "interrupted.ckpt"
UPDATED = "cnnexp_updated_metrics"  # checkpoint key: the metrics whose saved states hold updates


class StopOnNonFinite(pl.Callback):
    """Stops training at the first step whose loss is NaN or infinite, naming that step.

    On a GPU the check keeps a device-side record of the first bad step, so it costs a host sync only every
    `every_n_steps` steps; on a CPU, where there is nothing to wait for, it reads every step's loss. Under DDP
    the ranks agree before stopping, so none is left waiting in a collective.
    """

    def __init__(self, every_n_steps: int = 50) -> None:
        self.every_n_steps = every_n_steps
        self._first_bad: torch.Tensor | None = None
        self._read_each_step = False  # set when training starts

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        # Nothing to wait for and no rank to agree with: read each step's loss (a record would cost more).
        self._read_each_step = module.device.type == "cpu" and trainer.world_size == 1

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, out: Any, batch: Any, idx: int
    ) -> None:
        loss = out["loss"].detach() if isinstance(out, dict) else out.detach()
        if self._read_each_step:
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
        seen = self._first_bad is not None and bool(self._first_bad >= 0)
        bad = bool(trainer.strategy.reduce_boolean_decision(seen, all=False))
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
    saving = [cb for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint)]
    paths = [p for cb in saving for p in (cb.best_model_path, cb.last_model_path) if p]
    existing = [p for p in paths if os.path.isfile(p)]
    return max(existing, key=os.path.getmtime) if existing else ""


class CheckpointOnInterrupt(pl.Callback):
    """On SIGTERM or Ctrl-C (train/signals.py) during fit: write checkpoints/interrupted.ckpt.

    `phase` says where the run was stopped, `saved` where the checkpoint went (None: nothing to save). A
    resumed run continues exactly: mid-epoch with the next batch (the data order, random state and running
    metrics are restored: see train/module.py and data/batches.py); during the validation of an epoch, with
    that validation from its first batch, as if it had not started, then the epoch's end. The sanity check
    before training leaves no checkpoint: nothing was trained, the run just starts again.
    """

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self.phase = ""
        self.saved: Path | None = None
        self._mid_validation = False

    def on_exception(self, trainer: pl.Trainer, module: pl.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            return
        self.phase = _phase(trainer)
        if trainer.state.fn != "fit" or trainer.sanity_checking:
            return
        self._mid_validation = trainer.validating
        self.saved = self.dirpath / INTERRUPTED
        trainer.save_checkpoint(self.saved)

    def on_save_checkpoint(self, trainer: pl.Trainer, module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        if self._mid_validation:
            _validation_not_done(checkpoint)
        # torchmetrics does not save that a metric was updated; without it, an epoch whose batches were all
        # trained before the stop would not report its running figures after the resume.
        saved = checkpoint.get("state_dict", {})
        checkpoint[UPDATED] = [name for name, metric in _metrics(module) if metric.update_called and _in(name, saved)]

    def on_load_checkpoint(self, trainer: pl.Trainer, module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        # Callbacks load after the module's weights and metric states: mark the restored ones as updated.
        updated = set(checkpoint.get(UPDATED, ()))
        for name, metric in _metrics(module):
            if name in updated and not metric.update_called:
                metric._update_count = 1  # the count torchmetrics keeps beside the states it saves


def _metrics(module: pl.LightningModule) -> list[tuple[str, Metric]]:
    return [(name, m) for name, m in module.named_modules() if isinstance(m, Metric)]


def _in(name: str, state_dict: dict[str, Any]) -> bool:
    """Whether the metric's states are saved (persistent), so that a resumed run gets them back."""
    return any(key.startswith(f"{name}.") for key in state_dict)


def _phase(trainer: pl.Trainer) -> str:
    if trainer.sanity_checking:
        return "sanity check"
    if trainer.state.fn != "fit":
        return trainer.state.fn.value if trainer.state.fn else "evaluation"  # "test", "validate"
    return "validation" if trainer.validating else "training"


def _validation_not_done(checkpoint: dict[str, Any]) -> None:
    """Mark this epoch's validation in the checkpoint as Lightning marks one stopped inside a step.

    Lightning reruns such a validation on resume ("restarted mid evaluation": one batch started and not
    processed), but fast-forwards past one stopped between batches, which loses that epoch's validation,
    its best-checkpoint and its curves. The current counters go back to 0: the rerun starts at batch 0, so
    the epoch's figures cover the whole validation set.
    """
    progress = checkpoint["loops"]["fit_loop"]["epoch_loop.val_loop.batch_progress"]
    before = progress["total"]["completed"] - progress["current"]["completed"]  # batches of earlier epochs
    progress["total"] = {"ready": before + 1, "started": before + 1, "processed": before, "completed": before}
    progress["current"] = {"ready": 0, "started": 0, "processed": 0, "completed": 0}
    progress["is_last_batch"] = False


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint through a temporary file beside it, renamed into place (rundir/files.py).

    A kill during the write leaves the previous checkpoint intact and never a half-written file; a full disk
    is one paragraph (NoSpace), not torch's "unexpected pos".
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        atomic_write(Path(path), lambda handle: torch.save(checkpoint, handle))
