"""The Lightning Trainer from conf/trainer: any Trainer argument passes through, plus `gpus`.

Lightning 2 dropped `Trainer(gpus=N)`, yet users write `trainer.gpus=2`; it means accelerator=gpu,
devices=N, and DDP when N > 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.exceptions import MisconfigurationException

from cnnexp.errors import ConfigError
from cnnexp.train.speed import GPU_NAMES, resolve_precision

CPU_HINT = (
    "run on the CPU instead: drop trainer.gpus and set trainer.accelerator=cpu "
    "(trainer.devices=2 trainer.strategy=ddp trains with two CPU processes)"
)


def trainer_kwargs(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Trainer arguments: unset (null) keys keep Lightning's defaults; `gpus` is translated."""
    kwargs = {key: value for key, value in cfg.items() if value is not None}
    gpus = kwargs.pop("gpus", None)
    if gpus:
        kwargs.update(_from_gpus(gpus, kwargs))
    if str(kwargs.get("accelerator", "")).lower() in GPU_NAMES:
        _require_gpus(int(kwargs["devices"]) if isinstance(kwargs.get("devices"), int) else 1, "trainer.accelerator=gpu")
    return resolve_precision(kwargs)  # after the translation: `auto` depends on the accelerator


def _from_gpus(gpus: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 0:
        raise ConfigError(f"trainer.gpus must be a number of GPUs (0, 1, 2, ...), got {gpus!r}.")
    accelerator = str(kwargs.get("accelerator", "auto")).lower()
    if accelerator not in ("auto", *GPU_NAMES):
        raise ConfigError(f"trainer.gpus={gpus} asks for GPUs but trainer.accelerator={accelerator}; drop one of the two.")
    _require_gpus(gpus, f"trainer.gpus={gpus}")
    strategy = kwargs.get("strategy", "auto")
    return {"accelerator": "gpu", "devices": gpus, "strategy": "ddp" if gpus > 1 and strategy == "auto" else strategy}


def _require_gpus(count: int, asked: str) -> None:
    available = torch.cuda.device_count()
    if available < count:
        have = "none" if available == 0 else f"only {available}"
        raise ConfigError(f"{asked} asks for {count} GPU(s) but this machine has {have}; {CPU_HINT}.")


def make_trainer(cfg: Mapping[str, Any], **managed: Any) -> pl.Trainer:
    """`managed` holds what cnnexp sets itself (logger, callbacks, run folder)."""
    kwargs = trainer_kwargs(cfg)
    clash = sorted(set(kwargs) & set(managed))
    if clash:
        raise ConfigError(f"trainer.{clash[0]} is set by cnnexp itself; configure it through its own group instead.")
    try:
        return pl.Trainer(**kwargs, **managed)
    except (MisconfigurationException, ValueError, TypeError) as err:
        raise ConfigError(f"trainer: Lightning refused these settings: {err}") from None
