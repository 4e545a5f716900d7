"""conf/optimizer and conf/scheduler: their schemas, their typed values, and the factories built from them.

Both groups are Hydra `_partial_` targets: the LightningModule calls the optimizer factory with its parameters
and the schedule with its optimiser. Each is tried once on a throw-away parameter when it is made (before any
data is loaded), so a bad value (lr=-1) stops the run at once. Not when the run is read: the first optimiser
torch builds imports torch._dynamo, seconds that task=summary, which builds none, would pay for nothing.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from cnnexp.errors import ConfigError
from cnnexp.train.instantiate import Target, read_target, signature_schema

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], Optimizer]
INTERVALS = ("epoch", "step")
# Arguments of a schedule that mean "the length of training"; left null in the YAML, known only at fit time.
LENGTH_ARGS = ("T_max", "total_steps")
OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
SCHEDULERS = {
    "step": torch.optim.lr_scheduler.StepLR,
    "cosine": torch.optim.lr_scheduler.CosineAnnealingLR,
    "onecycle": torch.optim.lr_scheduler.OneCycleLR,
}


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule waiting for its optimiser and the length of training."""

    factory: partial[LRScheduler]
    interval: str  # "epoch" or "step": when Lightning calls scheduler.step()

    def make(self, optimizer: Optimizer, epochs: int, steps: int) -> LRScheduler:
        length = steps if self.interval == "step" else epochs
        fill = {arg: length for arg in LENGTH_ARGS if self.factory.keywords.get(arg, 0) is None}
        return self.factory(optimizer, **fill)


@dataclass(frozen=True)
class ScheduleSpec:
    """conf/scheduler as read: the class and its arguments, and when it steps."""

    target: Target
    interval: str = "epoch"

    def to_dict(self) -> dict[str, Any]:
        return {**self.target.to_dict(), "interval": self.interval}


@dataclass
class NoSchedulerConf:
    """scheduler=none: a constant learning rate."""


def schemas() -> dict[str, type]:
    """One schema per optimizer and scheduler option, named as conf/optimizer and conf/scheduler use them."""
    nodes: dict[str, type] = {"scheduler_none": NoSchedulerConf}
    for name, cls in OPTIMIZERS.items():
        nodes[f"optimizer_{name}"] = signature_schema(cls, f"{cls.__name__}Conf", True, ("params",))
    for name, cls in SCHEDULERS.items():
        base = signature_schema(cls, f"{cls.__name__}Conf", partial=True, skip=("optimizer",))
        nodes[f"scheduler_{name}"] = _with_interval(base)
    return nodes


def _with_interval(base: type) -> type:
    return dataclasses.make_dataclass(base.__name__, [("interval", str, field(default="epoch"))], bases=(base,))


def read_optimizer(raw: Mapping[str, Any]) -> Target:
    return read_target(raw, "optimizer")


def read_schedule(raw: Mapping[str, Any] | None) -> ScheduleSpec | None:
    """None for `scheduler=none` (an empty group entry)."""
    if not raw or raw.get("_target_") is None:
        return None
    options = dict(raw)
    interval = options.pop("interval", "epoch")
    if interval not in INTERVALS:
        raise ConfigError(f"scheduler.interval must be one of {', '.join(INTERVALS)}, got {interval!r}.")
    return ScheduleSpec(read_target(options, "scheduler"), interval)


def make_optimizer(target: Target) -> OptimizerFactory:
    factory = target.build("optimizer")
    if not (inspect.isclass(factory.func) and issubclass(factory.func, Optimizer)):
        raise ConfigError(f"optimizer._target_ must name a torch.optim optimizer, got {target.target!r}.")
    _try("optimizer", target, lambda: factory([_probe()]))
    return factory


def make_schedule(spec: ScheduleSpec | None) -> Schedule | None:
    if spec is None:
        return None
    factory = spec.target.build("scheduler")
    if not (inspect.isclass(factory.func) and issubclass(factory.func, LRScheduler)):
        raise ConfigError(f"scheduler._target_ must name a torch.optim.lr_scheduler class, got {spec.target.target!r}.")
    schedule = Schedule(factory, spec.interval)
    _try("scheduler", spec.target, lambda: schedule.make(torch.optim.SGD([_probe()], lr=0.1), epochs=1, steps=1))
    return schedule


def _probe() -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.zeros(1))


def _try(group: str, target: Target, make: Callable[[], Any]) -> None:
    """Build once on a throw-away parameter: a bad value (lr=-1) fails now, not after the data is loaded."""
    try:
        make()
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{group}: cannot build {target.target}: {err}") from None
