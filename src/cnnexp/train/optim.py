"""Optimisers and learning-rate schedules from conf/optimizer and conf/scheduler.

Both groups are Hydra `_partial_` targets: the config becomes a factory at the edge, and the
LightningModule calls it with its parameters (optimiser) or its optimiser (schedule).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from cnnexp.errors import ConfigError
from cnnexp.train.instantiate import instantiate_target

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], Optimizer]
INTERVALS = ("epoch", "step")
# Arguments of a schedule that mean "the length of training"; left null in the YAML, known only at fit time.
LENGTH_ARGS = ("T_max", "total_steps")


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule waiting for its optimiser and the length of training."""

    factory: partial[LRScheduler]
    interval: str  # "epoch" or "step": when Lightning calls scheduler.step()

    def make(self, optimizer: Optimizer, epochs: int, steps: int) -> LRScheduler:
        length = steps if self.interval == "step" else epochs
        fill = {arg: length for arg in LENGTH_ARGS if self.factory.keywords.get(arg, 0) is None}
        return self.factory(optimizer, **fill)


def make_optimizer(cfg: Mapping[str, Any]) -> OptimizerFactory:
    factory = instantiate_target(cfg, "optimizer")
    if not (inspect.isclass(factory.func) and issubclass(factory.func, Optimizer)):
        raise ConfigError(f"optimizer._target_ must name a torch.optim optimizer, got {cfg.get('_target_')!r}.")
    _try("optimizer", cfg, lambda: factory([_probe()]))
    return factory


def make_schedule(cfg: Mapping[str, Any] | None) -> Schedule | None:
    """None for `scheduler=none` (an empty group entry)."""
    if not cfg or cfg.get("_target_") is None:
        return None
    options = dict(cfg)
    interval = options.pop("interval", "epoch")
    if interval not in INTERVALS:
        raise ConfigError(f"scheduler.interval must be one of {', '.join(INTERVALS)}, got {interval!r}.")
    factory = instantiate_target(options, "scheduler")
    if not (inspect.isclass(factory.func) and issubclass(factory.func, LRScheduler)):
        raise ConfigError(f"scheduler._target_ must name a torch.optim.lr_scheduler class, got {cfg.get('_target_')!r}.")
    schedule = Schedule(factory, interval)
    _try("scheduler", cfg, lambda: schedule.make(torch.optim.SGD([_probe()], lr=0.1), epochs=1, steps=1))
    return schedule


def _probe() -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.zeros(1))


def _try(group: str, cfg: Mapping[str, Any], make: Callable[[], Any]) -> None:
    """Build once on a throw-away parameter: a bad value (lr=-1) fails now, not after the data is loaded."""
    try:
        make()
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{group}: cannot build {cfg.get('_target_')}: {err}") from None
