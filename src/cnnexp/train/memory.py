"""Will the model fit? Its weights, gradients and optimizer state against the device's memory, from the
summary's parameter count, before anything is allocated.

The estimate is a floor (activations and the data come on top), so a refusal is certain: a model past it
could never train there, and would otherwise fail minutes later inside an allocation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from cnnexp.errors import ConfigError
from cnnexp.train.instantiate import Target

GIB = 2**30
# Buffers per trainable parameter kept by torch.optim's optimizers (Adam: first and second moments).
STATE_BUFFERS = {"Adam": 2, "AdamW": 2, "NAdam": 2, "RAdam": 2, "Adamax": 2, "Adagrad": 1, "RMSprop": 1, "SGD": 0}
GPU_NAMES = ("gpu", "cuda")


def state_buffers(optimizer: Target) -> int:
    """Per-parameter buffers of this optimizer: SGD with momentum keeps one, Adam with amsgrad three, and an
    optimizer not in the table counts as Adam (the common worst case)."""
    count = STATE_BUFFERS.get(optimizer.class_name, 2)
    args = optimizer.args
    if optimizer.class_name == "SGD" and args.get("momentum"):
        count += 1
    if args.get("amsgrad"):
        count += 1
    if optimizer.class_name == "RMSprop" and args.get("momentum"):
        count += 1
    return count


def bytes_per_value(precision: Any) -> int:
    """fp32 unless the precision keeps the weights themselves in 16 or 64 bits ("16-true", "64-true");
    mixed precision keeps fp32 weights."""
    text = str(precision)
    if text.endswith("-true") and text.startswith(("16", "bf16")):
        return 2
    return 8 if text.startswith("64") else 4


def device_memory(trainer: Mapping[str, Any]) -> tuple[int, str]:
    """(bytes, name) of what one training process may use: a GPU's memory, or this machine's RAM shared by
    its CPU processes."""
    accelerator = str(trainer.get("accelerator", "auto")).lower()
    devices = trainer.get("devices")
    if accelerator in GPU_NAMES or (accelerator == "auto" and torch.cuda.is_available()):
        index = devices[0] if isinstance(devices, (list, tuple)) and devices else 0
        props = torch.cuda.get_device_properties(int(index))
        return props.total_memory, f"GPU {index} ({props.name})"
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    processes = devices if isinstance(devices, int) and devices > 1 and trainer.get("strategy") == "ddp" else 1
    where = "this machine's RAM" + (f" shared by {processes} CPU processes" if processes > 1 else "")
    return ram // processes, where


def check_fits(
    model: str, params: int, trainable: int, optimizer: Target, trainer: Mapping[str, Any], training: bool
) -> None:
    """ConfigError when the weights (and, to train, gradients and optimizer state) exceed the device's memory."""
    size = bytes_per_value(trainer.get("precision"))
    buffers = state_buffers(optimizer) if training else 0
    need = params * size + (trainable * size * (1 + buffers) if training else 0)
    have, where = device_memory(trainer)
    if need <= have:
        return
    what = (
        f"its weights, gradients and {optimizer.class_name}'s {buffers} state buffer(s) need {need / GIB:,.1f} GiB "
        f"({size * (2 + buffers)} bytes per parameter)"
        if training
        else f"its weights need {need / GIB:,.1f} GiB"
    )
    raise ConfigError(
        f"model={model} has {params:,} parameters: {what} before any activations, but {where} has "
        f"{have / GIB:,.1f} GiB. Make the model smaller (fewer or narrower layers: see the summary table, "
        f"task=summary) or run it on a device with more memory."
    )
