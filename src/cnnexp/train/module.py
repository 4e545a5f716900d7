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

    def _writes_step_logs(self) -> bool:
        """Whether Lightning writes step metrics after this step: every trainer.log_every_n_steps optimizer steps
        and when training stops (its rule). Each `self.log` call costs Lightning's result bookkeeping, so the
        other steps skip it: the logger receives the same points as if every step logged."""
        trainer = self.trainer
        every = trainer.log_every_n_steps  # type: ignore[attr-defined]  # set by Lightning's logger connector
        return (every > 0 and (trainer.global_step + 1) % every == 0) or trainer.should_stop

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
        if self._writes_step_logs():
            self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False)
        return loss

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
