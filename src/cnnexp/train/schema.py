"""Structured-config schemas of the training groups, derived from the classes they configure.

A schema lists exactly the constructor arguments of its `_target_` (torch.optim.Adam, pl.Trainer, ...), so a
misspelled key fails when Hydra composes the config, and every real argument can be overridden from the
command line without a `+`.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Optional

import pytorch_lightning as pl
import torch
from omegaconf import MISSING
from pytorch_lightning import callbacks as plc
from pytorch_lightning.loggers import TensorBoardLogger

from cnnexp.train.speed import SpeedUp

PRIMITIVE = (bool, int, float, str, type(None))
# Trainer arguments that cnnexp sets itself from other groups (see train/trainer.py make_trainer).
TRAINER_MANAGED = ("logger", "callbacks", "default_root_dir", "use_distributed_sampler", "plugins")


def signature_schema(cls: type, name: str, partial: bool = False, skip: tuple[str, ...] = ()) -> type:
    """A dataclass with `_target_` and one field per constructor argument of `cls`."""
    fields: list[tuple[str, Any, Any]] = [("_target_", str, field(default=f"{cls.__module__}.{cls.__qualname__}"))]
    if partial:
        fields.append(("_partial_", bool, field(default=True)))
    for param in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if param.name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        value = _default(param)
        # A list default must be built fresh for each config (dataclasses refuse a shared mutable default).
        made = field(default_factory=lambda v=value: list(v)) if isinstance(value, list) else field(default=value)
        fields.append((param.name, Any, made))
    return dataclasses.make_dataclass(name, fields)


def _default(param: inspect.Parameter) -> Any:
    if param.default is inspect.Parameter.empty:
        return MISSING
    value = param.default
    if isinstance(value, tuple) and all(isinstance(v, PRIMITIVE) for v in value):
        return list(value)
    # Objects (a Tensor, an enum) cannot live in YAML: null means "the class's own default".
    return value if isinstance(value, PRIMITIVE) else None


def trainer_schema() -> type:
    """Every pl.Trainer argument, defaulting to null = Lightning's own default, plus cnnexp's `gpus`."""
    params = list(inspect.signature(pl.Trainer.__init__).parameters.values())[1:]
    named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    args = [(p.name, Any, field(default=None)) for p in params if p.kind in named and p.name not in TRAINER_MANAGED]
    return dataclasses.make_dataclass("TrainerConf", [("gpus", Optional[int], field(default=None)), *args])


@dataclass
class LossConf:
    name: str = "cross_entropy"


def callbacks_schema() -> type:
    from cnnexp.viz.callback import Pictures  # here, not at the top: it pulls in matplotlib and the data module

    entries = {
        "checkpoint": plc.ModelCheckpoint,
        "last": plc.ModelCheckpoint,
        "lr_monitor": plc.LearningRateMonitor,
        "early_stopping": plc.EarlyStopping,
        "progress": plc.TQDMProgressBar,
        "pictures": Pictures,
        "speed": SpeedUp,
    }
    fields = [(key, Optional[signature_schema(cls, f"{cls.__name__}Conf")], field(default=None))
              for key, cls in entries.items()]  # fmt: skip
    return dataclasses.make_dataclass("CallbacksConf", fields)


OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
SCHEDULERS = {
    "step": torch.optim.lr_scheduler.StepLR,
    "cosine": torch.optim.lr_scheduler.CosineAnnealingLR,
    "onecycle": torch.optim.lr_scheduler.OneCycleLR,
}


def scheduler_schema(cls: type, name: str) -> type:
    base = signature_schema(cls, name, partial=True, skip=("optimizer",))
    return dataclasses.make_dataclass(name, [("interval", str, field(default="epoch"))], bases=(base,))


@dataclass
class NoSchedulerConf:
    """scheduler=none: a constant learning rate."""


def logger_schema() -> type:
    return signature_schema(TensorBoardLogger, "TensorBoardConf")
