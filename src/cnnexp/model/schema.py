"""Structured-config schema of conf/model: misspelled top-level model keys fail at compose time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING


@dataclass
class InputConf:
    channels: int = MISSING
    height: int = MISSING
    width: int = MISSING


@dataclass
class ModelConf:
    name: str = MISSING
    input: InputConf = field(default_factory=InputConf)
    num_classes: Optional[int] = MISSING  # null only until an image folder's classes are counted
    activation: str = "relu"
    init: str = "auto"
    strict: bool = False
    # Layers differ in their fields; model/spec.py checks each one against its type.
    layers: dict[str, Any] = field(default_factory=dict)
