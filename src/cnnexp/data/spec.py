"""The `data` config group, declared once: the typed value the code uses, its field checks, and (derived from
it, cnnexp/config/groups.py) the schema Hydra checks conf/data/*.yaml against at compose time.

`DataSpec(name=..., root=..., ...)` written in a test means the same as a YAML file that leaves the other keys
out. Which source a name means, and what a source adds (an image folder's class count), is data/sources.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnexp.config import fields as fd
from cnnexp.config.groups import nested, read_group, setting, unset_keys
from cnnexp.errors import ConfigError

EXAMPLES = {"root": "/path/to/images", "num_classes": 10}  # for keys a YAML leaves as ???
SOURCE_KEYS = ("image_column", "label_column", "split_column", "dataset")  # read by some sources only


def _root(value: Any, where: str) -> Path | None:
    """A folder path, absolute now, so that messages and every DDP process name the same folder."""
    if value is None:
        return None
    if not isinstance(value, (str, Path)) or not str(value):
        raise ConfigError(f"{where} must be a folder path, got {value!r}.")
    return Path(value).expanduser().absolute()


def _count_or_share(minimum: int) -> fd.Reader:
    """A number of images (a whole number, at least `minimum`) or a share of a split (a fraction between 0 and 1)."""
    count = fd.integer(minimum)

    def read(value: Any, where: str) -> int | float:
        if isinstance(value, float):
            if not 0 < value < 1:
                raise ConfigError(
                    f"{where} must be a number of images (a whole number) or a share of the split between 0 and 1 "
                    f"(e.g. 0.1 for 10%), got {value!r}."
                )
            return value
        return count(value, where)

    return read


def images_of(size: int | float, available: int) -> int:
    """How many of `available` images a size means: a count as it is, a share rounded (at least one image)."""
    return max(1, round(size * available)) if isinstance(size, float) else size


def _per_channel(value: Any, where: str) -> tuple[float, ...] | None:
    """None, or numbers (one per channel, checked against data.channels in DataSpec.check)."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where} must be null or a list of numbers, one per channel, e.g. [0.5]; got {value!r}.")
    return tuple(fd.number(-1e9)(v, f"{where}[{i}]") for i, v in enumerate(value))


@dataclass(frozen=True)
class Augment:
    translate: int = setting(fd.integer(0), 0)  # random shift of each training image, in pixels, zero fill
    flip: bool = setting(fd.boolean, False)  # random horizontal flip with probability 0.5

    @property
    def active(self) -> bool:
        return self.translate > 0 or self.flip


@dataclass(frozen=True)
class DataSpec:
    name: str = setting(fd.text)
    root: Path | None = setting(_root)  # None only until check(): every source needs a folder
    channels: int = setting(fd.integer(1))
    height: int = setting(fd.integer(1))
    width: int = setting(fd.integer(1))
    num_classes: int | None = setting(fd.optional(fd.integer(1)))  # None: image_folder counts its class folders
    batch_size: int = setting(fd.integer(1), 128)
    # Sizes: a number of images, or a share of the split (0.1 = 10%). val: held out of train (unless the
    # source has a val split); test: a subset of the test split, or held out of train when there is none.
    # The share 0.1 by default, so that any train_size leaves most images to train on (6000 -> 5400 / 600).
    val_size: int | float = setting(_count_or_share(0), 0.1)
    train_size: int | float | None = setting(fd.optional(_count_or_share(1)), None)
    test_size: int | float | None = setting(fd.optional(_count_or_share(1)), None)
    seed: int = setting(fd.integer(0), 0)
    mean: tuple[float, ...] | None = setting(_per_channel, None)  # None: measured on the train split, or 0.5
    std: tuple[float, ...] | None = setting(_per_channel, None)
    # None (null): adapt to a model that declares another input (AlexNet's 3×227×227), saying so; false refuses.
    adapt: bool | None = setting(fd.optional(fd.boolean), None)
    augment: Augment = setting(nested(Augment), factory=Augment)
    download: bool = setting(fd.boolean, True)
    num_workers: int = setting(fd.integer(0), 2)
    in_memory: bool = setting(fd.boolean, True)
    # Keys of some sources only (SOURCE_KEYS), null for the others, which refuse them (data/sources.py): the
    # columns of a table (data=csv) or a dataset (data=hf), and a dataset's name on the Hugging Face Hub.
    image_column: str | None = setting(fd.optional(fd.text), None)
    label_column: str | None = setting(fd.optional(fd.text), None)
    split_column: str | None = setting(fd.optional(fd.text), None)
    dataset: str | None = setting(fd.optional(fd.text), None)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images as this data delivers them, before any adaptation to a model."""
        return (self.channels, self.height, self.width)

    @property
    def folder(self) -> Path:
        """data.root, which check() guarantees for every checked spec (None only before it)."""
        if self.root is None:
            raise ConfigError(f"data.root must be given for data={self.name}, e.g. data.root=/path/to/images.")
        return self.root

    def check(self, where: str = "data") -> None:
        """What no single field can say: a root for every source, one mean/std per channel, a shift that fits."""
        if self.root is None:
            raise ConfigError(
                f"{where}.root must be given for data={self.name}: the folder that holds (or will hold) the images, "
                f"e.g. {where}.root=/path/to/images."
            )
        for key, values, minimum in (("mean", self.mean, 0.0), ("std", self.std, 1e-6)):
            _check_per_channel(values, f"{where}.{key}", self.channels, minimum)
        if self.augment.translate >= min(self.height, self.width):
            raise ConfigError(
                f"{where}.augment.translate={self.augment.translate} would shift a {self.height}×{self.width} image "
                f"out of the frame; use fewer pixels than {min(self.height, self.width)}."
            )


def _check_per_channel(values: tuple[float, ...] | None, where: str, channels: int, minimum: float) -> None:
    if values is None:
        return
    if len(values) != channels:
        example = ", ".join(["0.5"] * channels)
        raise ConfigError(
            f"{where} must be null or a list of {channels} number(s), one per channel, e.g. [{example}]; "
            f"got {list(values)}."
        )
    for i, value in enumerate(values):
        if value < minimum:
            raise ConfigError(f"{where}[{i}] must be at least {minimum:g}, got {value:g}.")


def read_data(raw: Mapping[str, Any]) -> DataSpec:
    """Check and type a `data` config (a plain mapping, interpolations resolved)."""
    unset = unset_keys(raw)
    if unset:
        keys = ", ".join(f"data.{key}" for key in unset)
        examples = " ".join(f"data.{key}={EXAMPLES.get(key, '...')}" for key in unset)
        raise ConfigError(f"data={raw.get('name', '?')} needs {keys} (left as ??? in its YAML); e.g. {examples}.")
    return read_group(DataSpec, raw, "data")
