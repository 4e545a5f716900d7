"""conf/logger: the Lightning loggers a run writes to, by name; their schemas, typed value, and the loggers built.

Presets: tensorboard (the default), csv (metrics.csv in the run folder), wandb and mlflow (optional extras:
`pip install "cnnexp[wandb]"`). Several at once: `logger=[tensorboard,csv]`; none: `logger=null`. A logger
config of one's own is either one logger written flat (`_target_: ...` at the top) or loggers by name.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cnnexp.errors import ConfigError
from cnnexp.train.instantiate import TARGET, Target, build_subclass, preset_schemas, read_target

if TYPE_CHECKING:
    from pytorch_lightning.loggers import Logger

# The classes conf/logger's presets configure, by schema key (`/schema/logger_KEY`).
PRESET_CLASSES = {
    "tensorboard": "pytorch_lightning.loggers.TensorBoardLogger",
    "csv": "pytorch_lightning.loggers.CSVLogger",
    "wandb": "pytorch_lightning.loggers.WandbLogger",
    "mlflow": "pytorch_lightning.loggers.MLFlowLogger",
}
# Loggers whose client library cnnexp does not require: class name -> (module, what to install).
OPTIONAL = {
    "WandbLogger": ("wandb", "pip install 'cnnexp[wandb]' (or pip install wandb)"),
    "MLFlowLogger": ("mlflow", "pip install 'cnnexp[mlflow]' (or pip install mlflow)"),
    "CometLogger": ("comet_ml", "pip install comet-ml"),
    "NeptuneLogger": ("neptune", "pip install neptune"),
}


def logger_schemas() -> dict[str, type]:
    """One schema per preset class, listing its constructor's arguments (imports the classes)."""
    return preset_schemas("logger", PRESET_CLASSES)


def read_logger(raw: Mapping[str, Any] | None) -> dict[str, Target]:
    """The loggers switched on, by name (none: an empty mapping); one flat logger is named `logger`."""
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"logger must be a mapping of loggers by name, got {raw!r}; choose logger= from conf/logger/."
        )
    named = {"logger": raw} if TARGET in raw else {str(name): entry for name, entry in raw.items() if entry}
    loggers = {}
    for name, entry in named.items():
        where = "logger" if entry is raw else f"logger.{name}"
        loggers[name] = _installed(read_target(entry, where), where)
    return loggers


def _installed(target: Target, where: str) -> Target:
    """Refuse a logger whose client library is missing now, before any data is loaded."""
    module, install = OPTIONAL.get(target.class_name, (None, ""))
    if module and importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"{where}: {target.class_name} needs the '{module}' package, which is not installed: {install}; "
            f"or choose another logger (logger=tensorboard, logger=csv, logger=null)."
        )
    return target


def make_loggers(entries: Mapping[str, Target]) -> list[Logger]:
    """Each logger, once its class is known to be a Lightning Logger (nothing else is called)."""
    from pytorch_lightning.loggers import Logger

    fix = "name a Logger class there (e.g. pytorch_lightning.loggers.CSVLogger), or choose logger= from conf/logger/."
    return [
        build_subclass(target, "logger" if name == "logger" else f"logger.{name}", Logger, fix)
        for name, target in entries.items()
    ]
