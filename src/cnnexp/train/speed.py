"""Speed settings that depend on the device a run trains on: memory format, TF32, torch.compile, precision.

Each switch left at None follows the device:
- channels_last: on for CUDA (cuDNN's tensor-core convolutions work in NHWC; NCHW weights cost a layout
  change around every convolution) and for CPUs with oneDNN (its convolutions are NHWC-native; measured
  faster for LeNet5 on the development CPU, docs/benchmarks.md); the same model either way, up to float
  rounding.
- tf32: float32 matmuls and cuDNN convolutions on TF32 tensor cores, CUDA only; set explicitly either way
  and restored when the stage ends (`set_tf32`).
- keep_memory: freed memory kept in the process for the next step (train/allocator.py), on a CPU only; once
  set it stays for the process.
- compile: off unless asked; torch.compile spends tens of seconds to minutes before the first step, which
  only long runs win back.
- precision (`auto_precision`, for trainer.precision=auto, in train/precision.py): bf16-mixed on GPUs with
  bfloat16, 16-mixed on older GPUs, 32-true on a CPU.
cuDNN autotuning is Lightning's own switch, `trainer.benchmark` (conf/trainer/default.yaml).

`SpeedUp` applies them in `setup`, before Lightning moves the model and builds the optimiser: a memory-format
change keeps the Parameter objects, and nn.Module.compile compiles in place, so checkpoints keep their keys.
"""

from __future__ import annotations

import logging

import pytorch_lightning as pl
import torch
from torch import nn

from cnnexp.errors import ConfigError
from cnnexp.train.allocator import keep_freed_memory, why_not
from cnnexp.train.precision import GPU_NAMES, PRECISION_AUTO, auto_precision, resolve_precision  # noqa: F401  (re-exported)

log = logging.getLogger(__name__)


def channels_last_for(device_type: str, choice: bool | None = None) -> bool:
    """Whether a model on `device_type` ("cuda", "cpu", ...) trains in channels_last; `choice` None follows it."""
    if choice is not None:
        return choice
    return device_type == "cuda" or (device_type == "cpu" and torch.backends.mkldnn.is_available())


class SpeedUp(pl.Callback):
    """channels_last / tf32: None follows the device (see above); compile: torch.compile the model's `net`.

    TF32 is a process-wide switch: set explicitly on or off for each stage (fit, test) and put back as it was
    when the stage ends, normally or by an exception, so that jobs of a sweep in one process never inherit an
    earlier job's setting.
    """

    def __init__(
        self, channels_last: bool | None = None, compile: bool = False, tf32: bool | None = None,
        keep_memory: bool | None = None,
    ) -> None:  # fmt: skip
        switches = {"channels_last": channels_last, "compile": compile, "tf32": tf32, "keep_memory": keep_memory}
        for name, value in switches.items():
            if value is not None and not isinstance(value, bool):
                raise ConfigError(
                    f"callbacks.speed.{name} must be true, false or null (follow the device), got {value!r}."
                )
        self.channels_last, self.compile, self.tf32, self.keep_memory = channels_last, compile, tf32, keep_memory
        self.applied: list[str] | None = None  # what setup did (None: not yet), for logs and tests
        self._switches_before: Switches | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        device = trainer.strategy.root_device.type
        tf32 = device == "cuda" if self.tf32 is None else self.tf32
        before = set_tf32(tf32)
        if self._switches_before is None:  # the switches as the process had them, not as an earlier stage left them
            self._switches_before = before
        if self.applied is not None:  # fit then test: the model is changed once
            return
        self.applied = []
        if channels_last_for(device, self.channels_last):
            pl_module.to(memory_format=torch.channels_last)  # 4-D weights only; the rest are left alone
            self.applied.append("channels_last")
        if tf32:
            self.applied.append("tf32")
        if (device == "cpu" if self.keep_memory is None else self.keep_memory) and keep_freed_memory():
            self.applied.append("keep_memory")
        elif self.keep_memory:  # asked for by name and not in effect: say why
            log.warning(f"callbacks.speed.keep_memory=true is not in effect: {why_not()}.")
        if self.compile:
            _compile(pl_module)
            self.applied.append("compile")

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._restore()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore()  # Lightning calls no teardown after an exception

    def _restore(self) -> None:
        if self._switches_before is not None:
            restore(self._switches_before)
            self._switches_before = None


Switches = tuple[str, bool]  # (float32 matmul precision, cuDNN allow_tf32)


def set_tf32(on: bool) -> Switches:
    """TF32 for float32 matmuls and cuDNN convolutions, on or off; returns the switches as they were."""
    before = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    torch.set_float32_matmul_precision("high" if on else "highest")
    torch.backends.cudnn.allow_tf32 = on
    return before


def restore(switches: Switches) -> None:
    torch.set_float32_matmul_precision(switches[0])
    torch.backends.cudnn.allow_tf32 = switches[1]


def _compile(module: pl.LightningModule) -> None:
    """Compile the network the training step calls (Classifier.net), in place; the module itself otherwise."""
    net = getattr(module, "net", None)
    (net if isinstance(net, nn.Module) else module).compile()
