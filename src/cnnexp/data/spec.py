"""A data declaration as typed data: the `data` config group read once at the edge, used everywhere after.

Defaults come from the schema (data/schema.py), so `DataSpec(name=..., root=..., ...)` written in a test means
the same as a YAML file that leaves those keys out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from omegaconf import MISSING

from cnnexp.data.schema import AugmentConf, DataConf
from cnnexp.data.sources import SOURCES
from cnnexp.errors import ConfigError, closest
from cnnexp import fields as fd

DATA_KEYS = tuple(f.name for f in fields(DataConf))
AUGMENT_KEYS = tuple(f.name for f in fields(AugmentConf))
# Keys the schema leaves without a default (`???`): every conf/data file must state them.
REQUIRED = tuple(f.name for f in fields(DataConf) if f.default is MISSING)
GREY_OR_RGB = (1, 3)
EXAMPLES = {"root": "/path/to/images", "num_classes": 10}  # for keys a YAML leaves as ???


@dataclass(frozen=True)
class Augment:
    translate: int = AugmentConf.translate  # random shift of each training image, in pixels, zero fill
    flip: bool = AugmentConf.flip  # random horizontal flip with probability 0.5

    @property
    def active(self) -> bool:
        return self.translate > 0 or self.flip


@dataclass(frozen=True)
class DataSpec:
    name: str
    root: Path
    channels: int
    height: int
    width: int
    num_classes: int | None  # None: image_folder counts its class folders
    batch_size: int = DataConf.batch_size
    val_size: int = DataConf.val_size
    train_size: int | None = DataConf.train_size
    test_size: int | None = DataConf.test_size
    seed: int = DataConf.seed
    mean: tuple[float, ...] | None = None  # None: computed from the train split (in memory) or 0.5
    std: tuple[float, ...] | None = None
    adapt: bool = DataConf.adapt
    augment: Augment = field(default_factory=Augment)
    download: bool = DataConf.download
    num_workers: int = DataConf.num_workers
    in_memory: bool = DataConf.in_memory

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images as this data delivers them, before any adaptation to a model."""
        return (self.channels, self.height, self.width)


# One reader per plain key; name, root, mean/std and augment need the other keys and are read below.
READERS: dict[str, fd.Reader] = {
    "channels": fd.integer(1),
    "height": fd.integer(1),
    "width": fd.integer(1),
    "num_classes": fd.optional(fd.integer(1)),
    "batch_size": fd.integer(1),
    "val_size": fd.integer(0),
    "train_size": fd.optional(fd.integer(1)),
    "test_size": fd.optional(fd.integer(1)),
    "seed": fd.integer(0),
    "adapt": fd.boolean,
    "download": fd.boolean,
    "num_workers": fd.integer(0),
    "in_memory": fd.boolean,
}


def parse_data(cfg: Mapping[str, Any]) -> DataSpec:
    """Check and type a `data` config (a plain mapping, interpolations resolved)."""
    fd.no_unknown(cfg, DATA_KEYS, "data")
    for key in REQUIRED:
        if key not in cfg:
            raise ConfigError(f"data.{key} is missing; every conf/data file states {', '.join(REQUIRED)}.")
    name = SOURCES.canonical(fd.text(cfg["name"], "data.name"), "data.name")
    _all_given(cfg, name)
    typed = {key: read(cfg[key], f"data.{key}") for key, read in READERS.items() if key in cfg}
    if name == "image_folder" and typed["channels"] not in GREY_OR_RGB:
        raise ConfigError(f"data.channels must be 1 (grey) or 3 (RGB) for data=image_folder, got {typed['channels']}.")
    return DataSpec(
        name=name,
        root=_root(cfg["root"], name),
        mean=_per_channel(cfg.get("mean"), "data.mean", typed["channels"], 0.0),
        std=_per_channel(cfg.get("std"), "data.std", typed["channels"], 1e-6),
        augment=_augment(cfg.get("augment", {}), typed["height"], typed["width"]),
        **typed,
    )


def _all_given(cfg: Mapping[str, Any], name: str) -> None:
    unset = [key for key in REQUIRED if cfg[key] == MISSING]
    if unset:
        keys = ", ".join(f"data.{key}" for key in unset)
        examples = " ".join(f"data.{key}={EXAMPLES.get(key, '...')}" for key in unset)
        raise ConfigError(f"data={name} needs {keys} (left as ??? in its YAML); e.g. {examples}.")


def _root(raw: Any, name: str) -> Path:
    if raw is None:
        raise ConfigError(
            f"data.root must be given for data={name}: the folder that holds (or will hold) the images, "
            f"e.g. data.root=/path/to/images."
        )
    if not isinstance(raw, (str, Path)) or not str(raw):
        raise ConfigError(f"data.root must be a folder path, got {raw!r}.")
    # Absolute now, so that messages and every DDP process name the same folder.
    return Path(raw).expanduser().absolute()


def _per_channel(raw: Any, where: str, channels: int, minimum: float) -> tuple[float, ...] | None:
    """None, or one number per channel (mean and std on the 0..1 pixel scale)."""
    if raw is None:
        return None
    if not isinstance(raw, (list, tuple)) or len(raw) != channels:
        example = ", ".join(["0.5"] * channels)
        raise ConfigError(
            f"{where} must be null or a list of {channels} number(s), one per channel, e.g. [{example}]; got {raw!r}."
        )
    return tuple(fd.number(minimum)(value, f"{where}[{i}]") for i, value in enumerate(raw))


def _augment(raw: Any, height: int, width: int) -> Augment:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"data.augment must be a mapping such as {{translate: 2, flip: false}}, got {raw!r}.")
    fd.no_unknown(raw, AUGMENT_KEYS, "data.augment")
    translate = fd.integer(0)(raw.get("translate", AugmentConf.translate), "data.augment.translate")
    if translate >= min(height, width):
        raise ConfigError(
            f"data.augment.translate={translate} would shift a {height}×{width} image out of the frame; "
            f"use fewer pixels than {min(height, width)}."
        )
    return Augment(translate=translate, flip=fd.boolean(raw.get("flip", AugmentConf.flip), "data.augment.flip"))
