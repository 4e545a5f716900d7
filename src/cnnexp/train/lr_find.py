"""Lightning's learning-rate range test, reported the cnnexp way: the suggested optimizer.lr and its plot.

`callbacks=[default,lr_finder]` runs the test at the start of training and trains with the suggestion;
`task=lr_find` (tasks/lr_find.py) runs the test alone. Both print one line with the suggestion and write the
loss-against-lr curve to lr_find.png in the run folder.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import LearningRateFinder
from torch.optim.lr_scheduler import OneCycleLR

log = logging.getLogger(__name__)
PLOT = "lr_find.png"


class FindLearningRate(LearningRateFinder):
    """The range test at the start of fit (Lightning's LearningRateFinder), then training at the suggested lr.

    cnnexp's LightningModule has no `lr` attribute for Lightning to set: the suggestion goes straight into the
    optimiser (and the schedule's base rates), unless `apply` is false.
    """

    def __init__(
        self, min_lr: float = 1e-6, max_lr: float = 1.0, num_training_steps: int = 100, mode: str = "exponential",
        early_stop_threshold: float | None = 4.0, apply: bool = True,
    ) -> None:  # fmt: skip
        super().__init__(min_lr, max_lr, num_training_steps, mode, early_stop_threshold, update_attr=False)
        self.apply = apply
        self.suggested: float | None = None

    def lr_find(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().lr_find(trainer, pl_module)
        if self.optimal_lr is None:
            return  # fast_dev_run: Lightning skips the test
        self.suggested = report(self.optimal_lr, Path(trainer.default_root_dir), trainer.is_global_zero)
        if self.apply and self.suggested is not None:
            apply_lr(trainer, self.suggested)

    def settings(self) -> dict[str, Any]:
        """The test's settings as Tuner.lr_find takes them (task=lr_find)."""
        return {
            "min_lr": self._min_lr, "max_lr": self._max_lr, "num_training": self._num_training_steps,
            "mode": self._mode, "early_stop_threshold": self._early_stop_threshold,
        }  # fmt: skip


def report(finder: Any, run_dir: Path, write: bool = True) -> float | None:
    """Print the suggestion and write the plot; the suggested lr (None when too few steps ran to suggest one)."""
    lr = finder.suggestion()
    if not write:
        return lr
    steps = len(finder.results.get("lr", []))
    if lr is None:
        log.warning(
            f"lr_find: no suggestion from {steps} steps; raise callbacks.lr_finder.num_training_steps or data.train_size."
        )
        return None
    figure = finder.plot(suggest=True, show=False)
    run_dir.mkdir(parents=True, exist_ok=True)
    figure.savefig(run_dir / PLOT, dpi=100)
    log.info(
        f"lr_find: suggested optimizer.lr={lr:.3g} (steepest fall of the loss over {steps} steps from "
        f"{finder.lr_min:g} to {finder.lr_max:g}); plot {run_dir / PLOT}"
    )
    return lr


def apply_lr(trainer: pl.Trainer, lr: float) -> None:
    """Train from `lr`: every parameter group, and the base rates a schedule scales from."""
    configs = trainer.lr_scheduler_configs
    if any(isinstance(config.scheduler, OneCycleLR) for config in configs):
        log.warning(
            f"lr_find: scheduler=onecycle sets the lr itself; the suggestion is not applied (set scheduler.max_lr={lr:.3g})."
        )
        return
    for optimizer in trainer.optimizers:
        for group in optimizer.param_groups:
            group["lr"] = lr
            if "initial_lr" in group:
                group["initial_lr"] = lr
    for config in configs:
        config.scheduler.base_lrs = [lr for _ in config.scheduler.base_lrs]
    log.info(f"lr_find: training with optimizer.lr={lr:.3g}")
