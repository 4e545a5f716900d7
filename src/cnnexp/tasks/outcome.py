"""What a run that tested its model writes and says: metrics.json's figures, TensorBoard's hparams, the closing
line (task=train after fitting, task=test of a checkpoint)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cnnexp.rundir.files import write_json
from cnnexp.tasks.assemble import Experiment
from cnnexp.train.results import log_to_tensorboard

log = logging.getLogger(__name__)


def outcome(exp: Experiment, tested: Mapping[str, float], seconds: float, checkpoint: str) -> dict[str, Any]:
    """metrics.json of a run that tested `checkpoint` (Lightning's `tested` figures), `seconds` after it started."""
    return {
        "status": "ok",
        "model": exp.run.model.name,
        "data": exp.run.data.name,
        "test_acc": float(tested["test/acc"]),
        "test_loss": float(tested["test/loss"]),
        "test_images": int(tested["test/images"]),
        "train_images": exp.datamodule.count("train"),  # the split as it was made (data.val_size held out)
        "val_images": exp.datamodule.count("val"),
        **({"test_acc_top5": float(tested["test/acc_top5"])} if "test/acc_top5" in tested else {}),
        "best_val_acc": None,
        "epochs": exp.trainer.current_epoch,
        "params": exp.summary.params,
        "trainable_params": sum(p.numel() for p in exp.module.net.parameters() if p.requires_grad),  # freeze= counts
        "wall_time_s": round(seconds, 3),
        "train_images_per_s": round(exp.throughput.images_per_second, 1),
        "world_size": exp.trainer.world_size,
        "checkpoint": checkpoint,
        # The epoch figures (train/val loss and accuracy) the curves and the sweep report are drawn from.
        "history": {str(epoch): values for epoch, values in sorted(exp.module.history.items())},
    }


def announce(exp: Experiment, metrics: dict[str, Any]) -> None:
    """metrics.json written, the run's choices and figures in TensorBoard, and the closing line."""
    write_json(exp.run_dir / "metrics.json", metrics)
    run = exp.run
    choices = {
        "optimizer": run.optimizer.class_name,
        "lr": _number(run.optimizer.args.get("lr")),  # a checkpoint's record (task=test) holds what it holds
        "batch_size": run.data.batch_size,
        "loss": run.loss.name,
        "data": run.data.name,
        "seed": run.options.seed,
    }
    final = {k: metrics[k] for k in ("test_acc", "best_val_acc") if metrics.get(k) is not None}
    log_to_tensorboard(exp.trainer, exp.summary, choices, final)
    if metrics["epochs"] is None:  # task=test: nothing was trained
        log.info(
            f"test accuracy {metrics['test_acc']:.4f} on {metrics['test_images']:,} images  run folder {exp.run_dir}"
        )
        return
    log.info(
        f"test accuracy {metrics['test_acc']:.4f} on {metrics['test_images']:,} images  best val accuracy "
        f"{_fmt(metrics['best_val_acc'])} on {metrics['val_images']:,}  epochs {metrics['epochs']} of "
        f"{metrics['train_images']:,} train images  {metrics['train_images_per_s']:.0f} images/s  run folder {exp.run_dir}"
    )


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
