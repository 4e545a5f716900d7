"""A training run with no validation: data.val_size=0 (or a data set with no images left for it),
trainer.limit_val_batches=0, trainer.check_val_every_n_epoch above trainer.max_epochs, or a trainer.max_steps that
ends the fit before its first validation. No val/ figure is ever logged, so what watches one cannot do its job.

- The best-epoch checkpoint (a ModelCheckpoint monitoring a val/ figure) keeps nothing, and one line says so:
  the test after training evaluates the last epoch, which checkpoints/last.ckpt holds. Before, Lightning warned
  at every epoch that the monitored key was missing and asked whether `log('val/acc', ...)` had been called,
  a hint about code the user never wrote.
- Any other callback that monitors a val/ figure (early stopping, a pruner of yours) is a config mistake: it
  would stop the run on a figure that never comes (Lightning's EarlyStopping raised a RuntimeError with a
  traceback after the first epoch). The error names the callback's key and the three ways out.
- Validation every n epochs with n above the epochs (or a max_steps before it): Lightning's checkpoints then wait
  for a validation end that never comes, and the run ended without a single checkpoint, last.ckpt included, and
  without a word. They are written at each training epoch's end instead, as Lightning does without validation
  data.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

from cnnexp.config.logs import quiet_empty_validation
from cnnexp.data.module import ImageDataModule
from cnnexp.errors import ConfigError

log = logging.getLogger(__name__)
VAL = "val/"


@dataclass(frozen=True)
class NoValidation:
    reason: str  # the setting that leaves the fit without validation, e.g. "0 validation images, data.val_size=0"
    remedy: str  # the setting that gives it some, e.g. "keep some images for validation (data.val_size=0.1)"
    epoch_end: bool = False  # checkpoints must be written at each training epoch's end, or they never are


class WithoutValidation(pl.Callback):
    """`named`: the config's callbacks by their key (`callbacks.NAME`), the ones a mistake is reported under."""

    def __init__(self, named: Mapping[str, pl.Callback]) -> None:
        self.named = dict(named)
        self.missing: NoValidation | None = None  # why this fit runs no validation, once found

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        # Lightning sets the data module up before the callbacks: its split sizes are known here.
        self.missing = missing_validation(trainer) if stage == "fit" else None
        if self.missing is not None:
            self._without(trainer, self.missing)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # The training batches are counted by now: whether trainer.max_steps comes before the first validation.
        if self.missing is None:
            self.missing = ended_before_validation(trainer)
            if self.missing is not None:
                self._without(trainer, self.missing)

    def _without(self, trainer: pl.Trainer, missing: NoValidation) -> None:
        reason = missing.reason
        watching = {
            name: (callback, monitor)
            for name, callback in self.named.items()
            if isinstance(monitor := getattr(callback, "monitor", None), str) and monitor.startswith(VAL)
        }
        for name, (callback, monitor) in watching.items():  # the mistakes first: nothing is said before them
            if not isinstance(callback, ModelCheckpoint):
                raise ConfigError(
                    f"callbacks.{name} ({type(callback).__name__}) monitors {monitor}, but this run has no validation "
                    f"({reason}), so {monitor} is never logged; {missing.remedy}, "
                    f"monitor a training figure (callbacks.{name}.monitor=train/loss callbacks.{name}.mode=min), "
                    f"or switch it off: callbacks.{name}=null."
                )
        quiet_empty_validation()  # Lightning's "Total length of ... is zero": the settings chose it
        if missing.epoch_end:
            for checkpoint in trainer.checkpoint_callbacks:
                if isinstance(checkpoint, ModelCheckpoint):  # its argument save_on_train_epoch_end, read per epoch
                    checkpoint._save_on_train_epoch_end = True
        for name, (callback, monitor) in watching.items():
            assert isinstance(callback, ModelCheckpoint)  # every other kind was refused above
            callback.save_top_k = 0  # its state key (monitor, mode) stays: a resumed run still matches it
            if trainer.is_global_zero:
                log.info(
                    f"no validation ({reason}): callbacks.{name} keeps no best epoch by {monitor}; the test "
                    f"evaluates the last epoch, which checkpoints/last.ckpt holds."
                )


def missing_validation(trainer: pl.Trainer) -> NoValidation | None:
    """Why the fit runs no validation batch (the setting that says so, and the one that changes it), or None."""
    if trainer.limit_val_batches == 0:
        limit = f"trainer.limit_val_batches={trainer.limit_val_batches}"
        return NoValidation(limit, "validate some batches (trainer.limit_val_batches=1.0)")
    datamodule = getattr(trainer, "datamodule", None)  # set by Lightning's data connector
    if isinstance(datamodule, ImageDataModule) and datamodule.count("val") == 0:
        images = f"0 validation images, data.val_size={datamodule.spec.val_size}"
        return NoValidation(images, "keep some images for validation (data.val_size=0.1)")
    every, epochs = trainer.check_val_every_n_epoch, trainer.max_epochs
    if every is not None and epochs is not None and every > epochs >= 0:  # Lightning validates after epoch n-1
        rare = f"trainer.check_val_every_n_epoch={every} is more than trainer.max_epochs={epochs}"
        return NoValidation(rare, "validate within the epochs (trainer.check_val_every_n_epoch=1)", epoch_end=True)
    return None


def ended_before_validation(trainer: pl.Trainer) -> NoValidation | None:
    """When trainer.max_steps ends the fit before its first validation, in a fit that validates at epoch ends and
    starts at an epoch's beginning (a resumed mid-epoch fit is not worked out here: None)."""
    max_steps, every, interval = trainer.max_steps, trainer.check_val_every_n_epoch, trainer.val_check_interval
    batches = trainer.num_training_batches
    if max_steps < 0 or every is None or type(interval) is not float or interval != 1.0:
        return None
    if not math.isfinite(batches) or batches == 0 or trainer.fit_loop.epoch_loop.batch_progress.current.completed:
        return None
    epoch = trainer.current_epoch
    first = epoch + (every - (epoch + 1) % every) % every  # the first epoch after which Lightning validates
    at = trainer.global_step + (first - epoch + 1) * math.ceil(batches / trainer.accumulate_grad_batches)
    if max_steps >= at:
        return None
    reason = f"trainer.max_steps={max_steps} ends the fit before its first validation, after step {at}"
    return NoValidation(reason, f"train up to it (trainer.max_steps={at} or more)", epoch_end=True)
