"""The LightningModule: any nn.Module classifier, its loss function, metrics per stage (train/metrics.py), its optimiser."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MaxMetric

from cnnexp.train.loss import Loss, cross_entropy
from cnnexp.train.metrics import StageMetrics
from cnnexp.train.optim import OptimizerFactory, Schedule

Batch = tuple[torch.Tensor, torch.Tensor]  # (B, C, H, W) normalised images, (B,) class indices


class Classifier(pl.LightningModule):
    """Trains `net` on (images, labels) batches with `loss`; logs loss and accuracy per stage, top-5 above 10 classes."""

    def __init__(
        self,
        net: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory | None,  # None: a module that only evaluates (task=test)
        schedule: Schedule | None = None,
        loss: Loss = cross_entropy,
    ) -> None:
        super().__init__()
        self.net, self.loss_fn = net, loss
        self.optimizer_factory, self.schedule = optimizer, schedule
        # One collection per stage, as attributes (a ModuleDict key "train" would clash with nn.Module.train).
        self.train_metrics = StageMetrics("train", num_classes)
        self.val_metrics = StageMetrics("val", num_classes)
        # Images seen, summed over ranks: proves that DDP evaluates every test image exactly once.
        self.test_metrics = StageMetrics("test", num_classes, count_images=True)
        self.train_metrics.keep_in_checkpoints()  # a run resumed mid-epoch reports the same epoch figures
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # a resumed run remembers the best epoch before the interruption
        # epoch -> {"train/loss": ..., "val/acc": ...}: the curves drawn at the end (viz/callback.py); saved in
        # checkpoints so that a resumed run has every epoch.
        self.history: dict[int, dict[str, float]] = {}
        self._last_loss = torch.zeros(())  # the last training step's loss, detached

    def epoch_names(self) -> list[str]:
        """Every name this module logs once per epoch (all stages, and the best val accuracy so far)."""
        stages = (self.train_metrics, self.val_metrics, self.test_metrics)
        return [*(name for stage in stages for name in stage.names()), "val/acc_best"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: Batch, metrics: StageMetrics) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        loss = self.loss_fn(logits, y)
        # Nothing here waits for the device (no .item()); the metrics are logged once per epoch (_log_epoch):
        # `self.log(name, metric)` in the step would cost Lightning a `metric.to(device)` walk per call.
        metrics.add(logits, y, loss)
        return loss

    def _step_log_due(self) -> bool:
        """Whether Lightning would write step metrics after this batch: its own rule (not while gradients
        accumulate; every trainer.log_every_n_steps optimizer steps, when training stops, or under fast_dev_run)."""
        trainer = self.trainer
        if trainer.fit_loop.epoch_loop._should_accumulate():
            return False
        return trainer._logger_connector.should_update_logs or bool(trainer.fast_dev_run)  # type: ignore[attr-defined]

    def _write_step_log(self, loss: torch.Tensor) -> None:
        """train/loss_step to the loggers through the call Lightning makes for a `self.log(..., on_step=True)`
        value: the same step, "epoch", logged_metrics, every logger and its save. Not through `self.log`: its
        result bookkeeping cost about 0.9 ms per call on the development CPU, and then a share of every later
        step (docs/benchmarks.md), for one scalar written every 50 steps."""
        self.trainer._logger_connector.log_metrics({"train/loss_step": loss})

    def _log_epoch(self, metrics: StageMetrics, report: bool = True) -> dict[str, torch.Tensor]:
        """Log the stage's epoch figures (if `report`), start the next epoch afresh, and return the figures.
        compute() reduces over DDP ranks; a stage with no batches (limit_val_batches=0) has nothing to report."""
        figures = metrics.compute() if report else {}
        for name, value in figures.items():
            self.log(name, value, prog_bar=name in ("val/loss", "val/acc"))
            if metrics.stage != "test":
                self.history.setdefault(self.current_epoch, {})[name] = float(value)  # one sync per epoch
        metrics.reset()
        return figures

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = self._step(batch, self.train_metrics)
        self._last_loss = loss.detach()
        # What a monitor of train/loss_step reads (a checkpoint, early stopping, pruning), from this step's
        # callbacks on: this step's loss, as if logged every step. Into the dict behind trainer.callback_metrics:
        # reading that property would gather the step's results first.
        self.trainer._logger_connector._callback_metrics["train/loss_step"] = self._last_loss
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Batch, batch_idx: int) -> None:
        # The loggers get the loss where Lightning would write it: after the callbacks' on_train_batch_end, on
        # the steps its rule picks.
        if self._step_log_due():
            self._write_step_log(self._last_loss)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, self.val_metrics)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, self.test_metrics)

    def on_train_epoch_end(self) -> None:
        self._log_epoch(self.train_metrics)

    def on_validation_epoch_end(self) -> None:
        sanity = self.trainer.sanity_checking  # an untrained model: counts neither as epoch 0 nor as best
        figures = self._log_epoch(self.val_metrics, report=not sanity)
        if "val/acc" in figures:
            self.val_acc_best.update(figures["val/acc"])
            self.log("val/acc_best", self.val_acc_best.compute(), prog_bar=True)

    def on_test_epoch_end(self) -> None:
        self._log_epoch(self.test_metrics)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The random state (dropout, augmentation): with it, a resumed run draws what the uninterrupted one would.
        checkpoint["rng"] = {"torch": torch.get_rng_state()}
        checkpoint["history"] = {int(e): dict(v) for e, v in self.history.items()}
        checkpoint["train_steps_pending"] = self.train_metrics.pending()
        if torch.cuda.is_available():
            checkpoint["rng"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Merge, never replace: testing an older best checkpoint must not cut the curves back to its epoch.
        for epoch, values in checkpoint.get("history", {}).items():
            self.history.setdefault(int(epoch), dict(values))
        self.train_metrics.restore(checkpoint.get("train_steps_pending", {}))
        rng = checkpoint.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise RuntimeError("this Classifier was built to evaluate only (no optimizer): it cannot be trained")
        optimizer = self.optimizer_factory([p for p in self.parameters() if p.requires_grad])
        if self.schedule is None:
            return optimizer
        epochs = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else 1
        scheduler = self.schedule.make(optimizer, epochs, int(self.trainer.estimated_stepping_batches))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.schedule.interval}}
