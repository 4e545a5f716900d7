"""Small builders for model tests: a ModelSpec from inline layers or from a conf/model file."""

from __future__ import annotations

from typing import Any

from cnnexp.model.spec import ModelSpec, parse_model


def spec_of(layers: dict[str, Any], shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10, **extra: Any) -> ModelSpec:
    """A ModelSpec from a layers mapping written as in YAML."""
    c, h, w = shape
    cfg = {"name": "t", "input": {"channels": c, "height": h, "width": w}, "num_classes": classes, "layers": layers}
    return parse_model({**cfg, **extra})
