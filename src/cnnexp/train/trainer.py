"""conf/trainer: its schema (every pl.Trainer argument, plus `gpus`), its typed value, and the Trainer.

Lightning 2 dropped `Trainer(gpus=N)`, yet users write `trainer.gpus=2`; it means accelerator=gpu,
devices=N, and DDP when N > 1. The translation (and precision=auto) happens once, when the run is read.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import torch

from cnnexp.errors import ConfigError
from cnnexp.train.precision import GPU_NAMES, resolve_precision

if TYPE_CHECKING:
    import pytorch_lightning as pl

# Trainer arguments that cnnexp sets itself from other groups (see make_trainer's `managed`).
TRAINER_MANAGED = ("logger", "callbacks", "default_root_dir", "use_distributed_sampler", "plugins")
CPU_HINT = (
    "run on the CPU instead: drop trainer.gpus and set trainer.accelerator=cpu "
    "(trainer.devices=2 trainer.strategy=ddp trains with two CPU processes)"
)


def trainer_schema() -> type:
    """Every pl.Trainer argument, defaulting to null = Lightning's own default, plus cnnexp's `gpus`.

    Imports Lightning: cnnexp/schemas/library.py keeps its result, so composing a config does not."""
    import pytorch_lightning as pl

    params = list(inspect.signature(pl.Trainer.__init__).parameters.values())[1:]
    named = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    args = [(p.name, Any, field(default=None)) for p in params if p.kind in named and p.name not in TRAINER_MANAGED]
    return dataclasses.make_dataclass("TrainerConf", [("gpus", Optional[int], field(default=None)), *args])


@dataclass(frozen=True)
class TrainerSpec:
    """The pl.Trainer arguments of a run, `gpus` translated and precision=auto resolved (plain data)."""

    args: Mapping[str, Any]

    def on_gpu(self, index: int) -> TrainerSpec:
        """The same run on GPU `index` alone (a parallel-sweep job that holds that GPU)."""
        return TrainerSpec({**self.args, "accelerator": "gpu", "devices": [index]})

    def to_dict(self) -> dict[str, Any]:
        return dict(self.args)


def read_trainer(raw: Mapping[str, Any]) -> TrainerSpec:
    clash = sorted(set(raw) & set(TRAINER_MANAGED))
    if clash:
        raise ConfigError(f"trainer.{clash[0]} is set by cnnexp itself; configure it through its own group instead.")
    return TrainerSpec(trainer_kwargs(raw))


def trainer_kwargs(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Trainer arguments: unset (null) keys keep Lightning's defaults; `gpus` is translated."""
    kwargs = {key: value for key, value in cfg.items() if value is not None}
    gpus = kwargs.pop("gpus", None)
    if gpus:
        kwargs.update(_from_gpus(gpus, kwargs))
    if "devices" not in kwargs and kwargs.get("strategy", "auto") == "auto":
        # Lightning's devices=auto takes every GPU there is, and for several starts DDP processes of its own that
        # re-run the command line (under -m each would run the whole sweep; train/launch.py): one device unless
        # more are asked for (trainer.gpus=N).
        kwargs["devices"] = 1
    if str(kwargs.get("accelerator", "")).lower() in GPU_NAMES:
        _require_gpus(
            int(kwargs["devices"]) if isinstance(kwargs.get("devices"), int) else 1, "trainer.accelerator=gpu"
        )
    return resolve_precision(kwargs)  # after the translation: `auto` depends on the accelerator


def _from_gpus(gpus: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(gpus, int) or isinstance(gpus, bool) or gpus < 0:
        raise ConfigError(f"trainer.gpus must be a number of GPUs (0, 1, 2, ...), got {gpus!r}.")
    accelerator = str(kwargs.get("accelerator", "auto")).lower()
    if accelerator not in ("auto", *GPU_NAMES):
        raise ConfigError(
            f"trainer.gpus={gpus} asks for GPUs but trainer.accelerator={accelerator}; drop one of the two."
        )
    _require_gpus(gpus, f"trainer.gpus={gpus}")
    strategy = kwargs.get("strategy", "auto")
    return {"accelerator": "gpu", "devices": gpus, "strategy": "ddp" if gpus > 1 and strategy == "auto" else strategy}


def _require_gpus(count: int, asked: str) -> None:
    available = torch.cuda.device_count()
    if available < count:
        have = "none" if available == 0 else f"only {available}"
        raise ConfigError(f"{asked} asks for {count} GPU(s) but this machine has {have}; {CPU_HINT}.")


def make_trainer(spec: TrainerSpec, **managed: Any) -> pl.Trainer:
    """`managed` holds what cnnexp sets itself (logger, callbacks, run folder). The callbacks' idle per-batch
    hooks are not dispatched (train/hooks.py)."""
    import pytorch_lightning as pl  # here: reading a run (task=summary) needs no Lightning
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    from cnnexp.train.hooks import skip_idle_hooks

    try:
        trainer = pl.Trainer(**spec.args, **managed)
    except (MisconfigurationException, ValueError, TypeError) as err:
        raise ConfigError(f"trainer: Lightning refused these settings: {err}") from None
    skip_idle_hooks(trainer.callbacks)  # type: ignore[attr-defined]  # set by Lightning's callback connector
    return trainer
