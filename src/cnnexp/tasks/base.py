"""The registry of tasks that `task=NAME` selects (each task module registers itself here), and the figure a
run hands to a sweeper."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cnnexp.config.registry import Registry
from cnnexp.errors import ConfigError, closest
from cnnexp.run import Run

TASKS: Registry[Callable[[Run], Any]] = Registry("task")

# The numbers task=train writes into metrics.json (test_acc_top5 only above 10 classes): what
# `optimized_metric` may name.
OPTIMIZABLE_METRICS = (
    "test_acc", "test_loss", "test_images", "test_acc_top5", "best_val_acc", "epochs", "params", "trainable_params",
    "wall_time_s", "train_images_per_s", "world_size",
)  # fmt: skip


def optimizable_metrics(num_classes: int) -> list[str]:
    return [f for f in OPTIMIZABLE_METRICS if f != "test_acc_top5" or num_classes > 10]


def check_optimized_metric(run: Run) -> None:
    """`optimized_metric` names a key metrics.json will have: checked before training, not after it."""
    key, known = run.options.optimized_metric, optimizable_metrics(run.model.num_classes)
    if key not in known:
        raise ConfigError(
            f"optimized_metric={key} is not a figure of metrics.json.{closest(key, known)} Choose one of "
            f"{', '.join(known)}."
        )


def optimized(run: Run, metrics: Mapping[str, Any]) -> float:
    """The metrics.json figure named by `optimized_metric`: what a sweeper maximises or minimises."""
    key = run.options.optimized_metric
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if value is None and key in metrics:
            return float("nan")  # e.g. best_val_acc of a run without validation: a failed trial to a sweeper
        numbers = sorted(k for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
        raise ConfigError(
            f"optimized_metric={key} is not a figure of metrics.json; choose one of {', '.join(numbers)}."
        )
    return float(value)
