"""conf/kernels (task=kernels), declared once: the typed value and, derived from it, its Hydra schema.

Kept apart from viz/kernels.py so that reading the config does not import matplotlib. The kernels themselves
are conv layers of the stack language, parsed by task=kernels (viz/kernels.py `parse_kernels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnexp.config import fields as fd
from cnnexp.config.groups import read_group, setting
from cnnexp.errors import ConfigError


def _path(value: Any, where: str) -> Path | None:
    return None if value is None else Path(fd.text(str(value), where)).expanduser()


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where} must map names to kernels, e.g. {{edges: [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]}}."
        )
    return value


@dataclass(frozen=True)
class KernelsSpec:
    image: Path | None = setting(_path, None)  # an image file; null: a test image of the data config
    index: int = setting(fd.integer(0), 0)  # which test image, when image is null
    padding: Any = setting(fd.padding, 0)  # P of every kernel that does not set its own
    kernels: dict[str, Any] = setting(_mapping, factory=dict)  # name -> matrix, or {kernel: ..., kernel_scale: ...}
    out: Path | None = setting(_path, None)  # folder for the PNGs; null: the run folder


def read_kernels(raw: Any) -> KernelsSpec:
    return read_group(KernelsSpec, raw, "kernels")
