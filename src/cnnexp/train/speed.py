"""Speed settings that depend on the device a run trains on: memory format, TF32, torch.compile, precision.

Each switch left at None follows the device: on a CUDA GPU, channels_last (cuDNN's tensor-core convolutions
work in NHWC; NCHW weights cost a layout change around every convolution) and TF32 matmuls; on a CPU
neither (no tensor cores; the CPU kernels are measured no faster for these models). torch.compile is off
unless asked: it spends tens of seconds to minutes before the first step, which only long runs win back.
cuDNN autotuning is Lightning's own switch, `trainer.benchmark` (conf/trainer/default.yaml).

`SpeedUp` applies them in `setup`, before Lightning moves the model and builds the optimiser: a memory-format
change keeps the Parameter objects, and nn.Module.compile compiles in place, so checkpoints keep their keys.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from cnnexp.errors import ConfigError

PRECISION_AUTO = "auto"


def auto_precision(accelerator: str) -> str:
    """trainer.precision=auto: bf16-mixed on GPUs with bfloat16 (Ampere and later), 16-mixed on older ones,
    32-true on a CPU (CPU autocast to bfloat16 is slower than float32 on most CPUs)."""
    gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if not gpu:
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def resolve_precision(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Trainer kwargs with precision=auto replaced by the device's default (other values pass through)."""
    if kwargs.get("precision") != PRECISION_AUTO:
        return kwargs
    return {**kwargs, "precision": auto_precision(str(kwargs.get("accelerator", "auto")).lower())}


def _follow(choice: bool | None, cuda: bool) -> bool:
    return cuda if choice is None else bool(choice)


class SpeedUp(pl.Callback):
    """channels_last / tf32: None follows the device (on for CUDA); compile: torch.compile the model's `net`."""

    def __init__(self, channels_last: bool | None = None, compile: bool = False, tf32: bool | None = None) -> None:
        for name, value in (("channels_last", channels_last), ("compile", compile), ("tf32", tf32)):
            if value is not None and not isinstance(value, bool):
                raise ConfigError(f"callbacks.speed.{name} must be true, false or null (follow the device), got {value!r}.")
        self.channels_last, self.compile, self.tf32 = channels_last, compile, tf32
        self.applied: list[str] = []  # what setup did, for logs and tests

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.applied:  # fit then test: once is enough
            return
        cuda = trainer.strategy.root_device.type == "cuda"
        if _follow(self.channels_last, cuda):
            pl_module.to(memory_format=torch.channels_last)  # 4-D weights only; the rest are left alone
            self.applied.append("channels_last")
        if _follow(self.tf32, cuda):
            torch.set_float32_matmul_precision("high")  # float32 matmuls on TF32 tensor cores
            self.applied.append("tf32")
        if self.compile:
            _compile(pl_module)
            self.applied.append("compile")
        self.applied.append("checked")  # so an all-off run is not set up again either


def _compile(module: pl.LightningModule) -> None:
    """Compile the network the training step calls (Classifier.net), in place; the module itself otherwise."""
    net = getattr(module, "net", None)
    (net if isinstance(net, nn.Module) else module).compile()
