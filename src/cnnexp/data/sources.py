"""Data sources by name (`data.name`): where the images come from and how they reach memory.

Each source has a `prepare` step, run once per machine before training (download, generate, verify), and a
`load` step run by every process, which only reads what is on disk. The tensor sources (digits and
torchvision's MNIST, Fashion-MNIST, CIFAR-10) return whole splits as uint8 (N, C, H, W) with int64 labels;
image folders (data/folders.py), tables of image files (data=csv, data/table.py) and Hugging Face datasets
(data=hf, data/hf.py) return per-image datasets. A key that only some sources read (spec.SOURCE_KEYS: a table's
columns, a dataset's name) is refused by the others, so that it is never silently ignored.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnexp.config.registry import Registry
from cnnexp.data.digits import TRAIN_IMAGES, load_digits
from cnnexp.data.spec import SOURCE_KEYS, DataSpec, images_of
from cnnexp.data.split import Source, Tensors, check_held_out
from cnnexp.errors import ConfigError


def _as_declared(spec: DataSpec) -> DataSpec:
    return spec


@dataclass(frozen=True)
class SourceKind:
    prepare: Callable[[DataSpec], None]  # once per machine (Lightning's prepare_data)
    load: Callable[[DataSpec], Source]  # every process (Lightning's setup)
    complete: Callable[[DataSpec], DataSpec] = _as_declared  # at the edge: checks and values the source decides
    keys: tuple[str, ...] = ()  # the SOURCE_KEYS this source reads; it refuses the others unless null


SOURCES: Registry[SourceKind] = Registry("data source")


def resolve_data(spec: DataSpec) -> DataSpec:
    """The spec with its source's canonical name and what that source decides (an image folder's classes)."""
    name = SOURCES.canonical(spec.name, "data.name")
    kind = SOURCES.get(name, "data.name")
    for key in SOURCE_KEYS:
        if getattr(spec, key) is not None and key not in kind.keys:
            readers = " and ".join(f"data={other}" for other in SOURCES if key in SOURCES.get(other, "data.name").keys)
            raise ConfigError(
                f"data.{key}={getattr(spec, key)} is read by {readers} only, not by data={name}; drop it (or set it to null)."
            )
    return kind.complete(replace(spec, name=name))


def _digits(spec: DataSpec) -> Source:
    sizes = {key: getattr(spec, key) for key in ("train_size", "test_size") if getattr(spec, key) is not None}
    splits = load_digits(spec.folder, seed=spec.seed, **sizes)
    grey = {stage: Tensors(images.unsqueeze(1), labels) for stage, (images, labels) in splits.items()}
    return Source(train=grey["train"], test=grey["test"], classes=[str(d) for d in range(10)])


def _rendered_counts(spec: DataSpec) -> DataSpec:
    """The digits are rendered to order: their train and test sizes are numbers of images, not shares; and
    data.val_size must leave images to train on, which is known here, before rendering (tens of seconds)."""
    for key in ("train_size", "test_size"):
        if isinstance(getattr(spec, key), float):
            raise ConfigError(
                f"data.{key}={getattr(spec, key)}: data=digits renders whole numbers of images; give one, e.g. "
                f"data.{key}=6000 (data.val_size may be a share of the train images)."
            )
    train = int(spec.train_size) if spec.train_size is not None else TRAIN_IMAGES  # a whole number: checked above
    check_held_out(images_of(spec.val_size, train), train, f"data.val_size={spec.val_size}")
    return spec


def _render_digits(spec: DataSpec) -> None:
    """Render once per machine into load_digits' cache in data.root; every process then reads that file."""
    _digits(spec)


def _step(module: str, step: str) -> Callable[[DataSpec], Any]:
    """A step of data/<module>.py, imported when it runs: reading the default run imports no torchvision (nor
    `datasets`, an optional extra)."""

    def run(spec: DataSpec) -> Any:
        return getattr(importlib.import_module(f"cnnexp.data.{module}"), step)(spec)

    return run


def _per_image(module: str, source: str, keys: tuple[str, ...] = ()) -> SourceKind:
    """A source whose steps are prepare_<source>, load_<source> and complete_<source> of data/<module>.py."""
    prepare, load, complete = (_step(module, f"{step}_{source}") for step in ("prepare", "load", "complete"))
    return SourceKind(prepare=prepare, load=load, complete=complete, keys=keys)


SOURCES.add("digits", SourceKind(prepare=_render_digits, load=_digits, complete=_rendered_counts))
SOURCES.add("image_folder", _per_image("folders", "folder"))
SOURCES.add("csv", _per_image("table", "table", keys=("image_column", "label_column", "split_column")))
SOURCES.add("hf", _per_image("hf", "hf", keys=("image_column", "label_column", "dataset")))


# --- torchvision's datasets: their own files, download mirrors and checksums --------------------------------


def _idx_layout(cls: Any, root: Path) -> tuple[Path, list[str]]:
    """MNIST-style sets: root/<ClassName>/raw/<the resources without .gz>."""
    return root / cls.__name__ / "raw", [os.path.splitext(os.path.basename(url))[0] for url, _ in cls.resources]


def _cifar_layout(cls: Any, root: Path) -> tuple[Path, list[str]]:
    files = [name for name, _ in (*cls.train_list, *cls.test_list)]
    return root / cls.base_folder, [*files, cls.meta["filename"]]


# data.name -> the torchvision.datasets class (by name: torchvision is imported only when one is used), layout.
TORCHVISION_DATASETS: dict[str, tuple[str, Callable[[type, Path], tuple[Path, list[str]]]]] = {
    "mnist": ("MNIST", _idx_layout),
    "fashion_mnist": ("FashionMNIST", _idx_layout),
    "cifar10": ("CIFAR10", _cifar_layout),
}


def _dataset_class(name: str) -> type:
    from torchvision import datasets

    return getattr(datasets, TORCHVISION_DATASETS[name][0])


def _layout(name: str, root: Path) -> tuple[Path, list[str]]:
    """The folder torchvision reads data=`name` from, and the files it needs there."""
    return TORCHVISION_DATASETS[name][1](_dataset_class(name), root)


def _missing(name: str, root: Path) -> tuple[Path, list[str]]:
    folder, files = _layout(name, root)
    return folder, [f for f in files if not (folder / f).is_file()]


def _files_message(name: str, root: Path, why: str) -> str:
    folder, missing = _missing(name, root)
    wanted = missing or _layout(name, root)[1]  # none missing: the files are there but bad; name them all
    return (
        f"data={name}: {why}. Put these files in {folder}: {', '.join(wanted)}; or point data.root "
        f"(env CNNEXP_DATA) at a folder that has them. data.download=true fetches them, which needs network."
    )


def _open(name: str, spec: DataSpec, train: bool, download: bool) -> Any:
    cls = _dataset_class(name)
    try:
        return cls(str(spec.folder), train=train, download=download)
    # torchvision reports a missing, truncated or failed download as any of these; the user needs the files.
    except (RuntimeError, OSError, ValueError, AssertionError, EOFError) as err:
        folder, missing = _missing(name, spec.folder)
        if download and missing:
            why = f"could not download into {folder} ({_one_line(err)})"
        elif missing:
            why = f"{len(missing)} file(s) missing in {folder} and data.download=false"
        else:
            why = f"the files in {folder} are unreadable or corrupt ({_one_line(err)})"
        raise ConfigError(_files_message(name, spec.folder, why)) from None


def _one_line(err: BaseException) -> str:
    """The reason in one line: torchvision's download errors span a line per mirror tried."""
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return (text[:300] + " ...") if len(text) > 300 else text or type(err).__name__


def _torchvision_prepare(name: str) -> Callable[[DataSpec], None]:
    def prepare(spec: DataSpec) -> None:
        if spec.download and _missing(name, spec.folder)[1]:
            for train in (True, False):
                _open(name, spec, train, download=True)

    return prepare


def _torchvision_load(name: str) -> Callable[[DataSpec], Source]:
    def load(spec: DataSpec) -> Source:
        train, test = (_open(name, spec, is_train, download=False) for is_train in (True, False))
        return Source(train=_tensors(train), test=_tensors(test), classes=list(train.classes))

    return load


def _tensors(dataset: Any) -> Tensors:
    data = dataset.data
    if isinstance(data, np.ndarray):  # CIFAR keeps (N, H, W, C) numpy
        images = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()
    else:  # MNIST family keeps (N, H, W) uint8 tensors
        images = data.unsqueeze(1)
    return Tensors(images, torch.as_tensor(dataset.targets, dtype=torch.int64))


for _name in TORCHVISION_DATASETS:
    SOURCES.add(_name, SourceKind(prepare=_torchvision_prepare(_name), load=_torchvision_load(_name)))
