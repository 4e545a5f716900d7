"""The LightningModule: any nn.Module classifier, its loss, metrics from torchmetrics, and its optimiser."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MaxMetric, MeanMetric, SumMetric
from torchmetrics.classification import MulticlassAccuracy

from cnnexp.train.loss import LOSSES
from cnnexp.train.optim import OptimizerFactory, Schedule

Batch = tuple[torch.Tensor, torch.Tensor]  # (B, C, H, W) normalised images, (B,) class indices
STAGES = ("train", "val", "test")


class Classifier(pl.LightningModule):
    """Trains `net` on (images, labels) batches; logs loss and accuracy per stage, top-5 above 10 classes."""

    def __init__(
        self,
        net: nn.Module,
        num_classes: int,
        optimizer: OptimizerFactory,
        schedule: Schedule | None = None,
        loss: str = "cross_entropy",
    ) -> None:
        super().__init__()
        self.net = net
        self.loss_name = LOSSES.canonical(loss, "loss.name")
        self.loss_fn = LOSSES.get(loss, "loss.name")
        self.optimizer_factory, self.schedule = optimizer, schedule
        self.top5 = num_classes > 10
        # No argument checks inside the step: each one is a host sync on a GPU (the labels are checked when the
        # data is read, and a non-finite loss is caught by train/faults.py, which names the step).
        kinds = {
            "loss": lambda: MeanMetric(nan_strategy="disable"),
            "acc": lambda: MulticlassAccuracy(num_classes, average="micro", validate_args=False),
        }
        if self.top5:
            kinds["acc_top5"] = lambda: MulticlassAccuracy(num_classes, top_k=5, average="micro", validate_args=False)
        # Keyed "train/acc" etc.: the logged name. (A plain "train" key would clash with nn.Module.train.)
        self.metrics = nn.ModuleDict({f"{s}/{k}": make() for s in STAGES for k, make in kinds.items()})
        # Images seen, summed over ranks: proves that DDP evaluates every test image exactly once.
        self.metrics["test/images"] = SumMetric()
        # Saved in checkpoints, so that a run resumed mid-epoch reports the same epoch figures.
        for name, metric in self.metrics.items():
            if name.startswith("train/"):
                metric.persistent(True)
        # Each stage's metrics, listed once: the step walks only its own.
        self._by_stage = {s: [(n, m) for n, m in self.metrics.items() if n.startswith(f"{s}/")] for s in STAGES}
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # a resumed run remembers the best epoch before the interruption
        # epoch -> {"train/loss": ..., "val/acc": ...}: the curves drawn at the end (viz/callback.py); saved in
        # checkpoints so that a resumed run has every epoch.
        self.history: dict[int, dict[str, float]] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch: Batch, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        loss = self.loss_fn(logits, y)
        # Metric objects accumulate on the device; nothing here waits for the GPU (no .item()). They are
        # logged once per epoch (_log_epoch): `self.log(name, metric)` in the step costs Lightning a
        # `metric.to(device)` walk per call, measured at 2.4 ms of a 16 ms LeNet5 step on a CPU.
        for name, metric in self._by_stage[stage]:
            if name.endswith("/loss"):
                metric.update(loss.detach(), weight=y.shape[0])
            elif name.endswith("/images"):
                metric.update(y.shape[0])
            else:
                metric.update(logits, y)
        if stage == "train":
            self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False)
        return loss

    def _log_epoch(self, stage: str, report: bool = True) -> None:
        """Log the stage's epoch figures (if `report`) and start the next epoch afresh. compute() reduces over
        DDP ranks."""
        for name, metric in self._by_stage[stage]:
            # A stage with no batches (limit_val_batches=0) has nothing to report.
            if report and metric.update_called:
                value = metric.compute()
                self.log(name, value, prog_bar=name in ("val/loss", "val/acc"))
                if stage != "test":
                    self.history.setdefault(self.current_epoch, {})[name] = float(value)  # one sync per epoch
            metric.reset()

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._step(batch, "test")

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        sanity = self.trainer.sanity_checking  # an untrained model: counts neither as epoch 0 nor as best
        if not sanity and self.metrics["val/acc"].update_called:
            self.val_acc_best.update(self.metrics["val/acc"].compute())
            self.log("val/acc_best", self.val_acc_best.compute(), prog_bar=True)
        self._log_epoch("val", report=not sanity)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The random state (dropout, augmentation): with it, a resumed run draws what the uninterrupted one would.
        checkpoint["rng"] = {"torch": torch.get_rng_state()}
        checkpoint["history"] = {int(e): dict(v) for e, v in self.history.items()}
        if torch.cuda.is_available():
            checkpoint["rng"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Merge, never replace: testing an older best checkpoint must not cut the curves back to its epoch.
        for epoch, values in checkpoint.get("history", {}).items():
            self.history.setdefault(int(epoch), dict(values))
        rng = checkpoint.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory([p for p in self.parameters() if p.requires_grad])
        if self.schedule is None:
            return optimizer
        epochs = self.trainer.max_epochs if self.trainer.max_epochs and self.trainer.max_epochs > 0 else 1
        scheduler = self.schedule.make(optimizer, epochs, int(self.trainer.estimated_stepping_batches))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": self.schedule.interval}}
