"""The keys of `model` and their defaults, written once: Hydra's structured-config schema of conf/model (a
misspelled top-level model key fails at compose time), and what model/spec.py reads keys and defaults from."""

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
    # Numbers every block and layer may use as $name, in expressions too: a width multiplier (model/expressions.py).
    params: dict[str, Any] = field(default_factory=dict)
    # Blocks and layers differ in their fields; model/blocks.py and model/layers check each one.
    blocks: dict[str, Any] = field(default_factory=dict)
    layers: dict[str, Any] = field(default_factory=dict)
