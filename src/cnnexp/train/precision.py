"""trainer.precision=auto, resolved for the device a run trains on when the run is read.

Kept apart from train/speed.py (whose SpeedUp is a Lightning callback) so that reading a run, as task=summary
does, imports torch but not Lightning.
"""

from __future__ import annotations

from typing import Any

import torch

PRECISION_AUTO = "auto"
GPU_NAMES = ("gpu", "cuda")


def auto_precision(accelerator: str) -> str:
    """trainer.precision=auto: bf16-mixed on GPUs with bfloat16 (Ampere and later), 16-mixed on older ones,
    32-true on a CPU (bf16 autocast on a CPU changes the numbers, and is slower without AMX)."""
    gpu = accelerator in GPU_NAMES or (accelerator == "auto" and torch.cuda.is_available())
    if not gpu:
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def resolve_precision(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Trainer kwargs with precision=auto replaced by the device's default (other values pass through)."""
    if kwargs.get("precision") != PRECISION_AUTO:
        return kwargs
    return {**kwargs, "precision": auto_precision(str(kwargs.get("accelerator", "auto")).lower())}
