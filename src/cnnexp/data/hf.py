"""data=hf: a Hugging Face `datasets` dataset, from a folder written by `save_to_disk` (data.root), or found by
`load_dataset` under a name (data.dataset: a dataset on the Hub, downloaded once into data.root as its cache,
or a local folder of data files).

Splits by name: train (required), validation and test (optional: held out of train without them, as for an
image folder; other splits are named in the log and not read). The image column (data.image_column, a
datasets.Image feature) is decoded as image files are (folders.Decode: mode, 16-bit range, size); the label
column (data.label_column) gives the classes: the names of its ClassLabel feature, in their order, or else its
values sorted (numbers as numbers, text as image_folder sorts its class folders). `prepare_hf` decodes every
image once, so a bad one stops the run before training. `datasets` is an optional extra: pip install 'cnnexp[hf]'.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

from torch import Tensor
from torch.utils.data import Dataset

from cnnexp.data.folders import MODES, Decode, UnreadableImage, listed, named_some
from cnnexp.data.spec import DataSpec
from cnnexp.data.split import Source
from cnnexp.errors import ConfigError, closest

log = logging.getLogger(__name__)
SPLITS = {"train": "train", "val": "validation", "test": "test"}  # stage -> the split it reads
EXAMPLE = {"image_column": "image", "label_column": "label"}


def library() -> ModuleType:
    """The `datasets` package, or a ConfigError saying how to install it."""
    if importlib.util.find_spec("datasets") is None:
        raise ConfigError(
            "data=hf needs the package datasets, which is not installed: pip install 'cnnexp[hf]' (or pip install datasets)."
        )
    return importlib.import_module("datasets")


@dataclass(frozen=True)
class Opened:
    """The splits read, their classes, and each split's labels as class indices."""

    where: str  # for messages: "data.root=/x" or "data.dataset=name"
    splits: dict[str, Any]  # stage -> datasets.Dataset
    classes: list[str]
    labels: dict[str, list[int]]
    unread: list[str]  # the dataset's other splits, named in the log


def open_hf(spec: DataSpec) -> Opened:
    """The dataset's train, val and test splits, its columns checked and its labels read (no image decoded)."""
    lib = library()
    where = f"data.root={spec.folder}" if spec.dataset is None else f"data.dataset={spec.dataset}"
    loaded = _from_disk(lib, spec) if spec.dataset is None else _by_name(lib, spec)
    named = dict(loaded) if isinstance(loaded, lib.DatasetDict) else {"train": loaded}
    if "train" not in named:
        raise ConfigError(
            f"data=hf: {where} has no split named train (its splits: {', '.join(named)}); cnnexp trains on the train split."
        )
    splits = {stage: named[name] for stage, name in SPLITS.items() if name in named}
    for stage, split in splits.items():  # every split read needs both columns
        image, label = (_column(spec, key, split.features, where, stage) for key in ("image_column", "label_column"))
    if not isinstance(splits["train"].features[image], lib.Image):
        raise ConfigError(
            f"data.image_column={image}: column '{image}' of {where} holds {splits['train'].features[image]}, not images "
            f"(a datasets.Image feature); set data.image_column to the column of images."
        )
    if not len(splits["train"]):
        raise ConfigError(f"data=hf: the train split of {where} has no rows.")
    classes, labels = _labels(lib, splits, label, where)
    return Opened(where, splits, classes, labels, [name for name in named if name not in SPLITS.values()])


def _from_disk(lib: ModuleType, spec: DataSpec) -> Any:
    try:
        return lib.load_from_disk(str(spec.folder))
    except FileNotFoundError as err:
        raise ConfigError(
            f"data.root={spec.folder} holds no dataset written by save_to_disk ({_one_line(err)}); give data.root=<the "
            f"folder save_to_disk wrote>, or data.dataset=NAME for a dataset load_dataset finds by name (data.root "
            f"then holds its download)."
        ) from None


def _by_name(lib: ModuleType, spec: DataSpec) -> Any:
    try:
        with _offline(lib, not spec.download):
            return lib.load_dataset(spec.dataset, cache_dir=str(spec.folder))
    # load_dataset reports a name it cannot find, a failed download or a bad file as many types; all mean the same.
    except Exception as err:  # noqa: BLE001
        offline = "; data.download=false reads only what is cached in data.root" if not spec.download else ""
        raise ConfigError(
            f"data.dataset={spec.dataset}: load_dataset could not load it into data.root={spec.folder} "
            f"({_one_line(err)}){offline}. Check the name (huggingface.co/datasets) and the network, or save the "
            f"dataset with save_to_disk and give that folder as data.root with data.dataset=null."
        ) from None


@contextlib.contextmanager
def _offline(lib: ModuleType, offline: bool) -> Iterator[None]:
    """data.download=false: no network for this load. `datasets` and `huggingface_hub` read HF_HUB_OFFLINE once, at
    import (DownloadConfig(local_files_only=True) still asks the Hub), so their switches are set, then restored."""
    hub = importlib.import_module("huggingface_hub.constants")
    switches = [(module, "HF_HUB_OFFLINE") for module in (lib.config, hub) if hasattr(module, "HF_HUB_OFFLINE")]
    saved = [getattr(module, name) for module, name in switches]
    try:
        for module, name in switches:
            setattr(module, name, getattr(module, name) or offline)
        yield
    finally:
        for (module, name), value in zip(switches, saved):
            setattr(module, name, value)


def _one_line(err: BaseException) -> str:
    text = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
    return f"{type(err).__name__}: {text[:300]}" if text else type(err).__name__


def _column(spec: DataSpec, key: str, features: Any, where: str, stage: str) -> str:
    name = getattr(spec, key)
    if name is None:
        raise ConfigError(f"data.{key} must name a column of the dataset for data=hf, e.g. data.{key}={EXAMPLE[key]}.")
    if name not in features:
        split = "" if stage == "train" else f" (in its {SPLITS[stage]} split)"
        raise ConfigError(
            f"data.{key}={name}: {where} has no column '{name}'{split}.{closest(name, list(features))} "
            f"Its columns: {', '.join(features)}."
        )
    return str(name)


def _labels(lib: ModuleType, splits: dict[str, Any], label: str, where: str) -> tuple[list[str], dict[str, list[int]]]:
    """Class names and each split's labels as indices: a ClassLabel's own, or the train values sorted."""
    feature = splits["train"].features[label]
    values = {stage: list(split[label]) for stage, split in splits.items()}
    if isinstance(feature, lib.ClassLabel):
        for stage, split in splits.items():
            if split.features[label] != feature:
                raise ConfigError(
                    f"data=hf: the {SPLITS[stage]} split of {where} has other classes than its train split "
                    f"({split.features[label]} against {feature}); every split needs the same ClassLabel."
                )
        index = {i: i for i in range(feature.num_classes)}
        names = [str(name) for name in feature.names]
    elif getattr(feature, "dtype", "").startswith(("int", "uint", "string", "large_string")):
        kept = sorted({v for v in values["train"] if v is not None})  # numbers as numbers, text as text
        index, names = {v: i for i, v in enumerate(kept)}, [str(v) for v in kept]
    else:
        raise ConfigError(
            f"data.label_column={label}: column '{label}' of {where} holds {feature}; cnnexp classifies: a ClassLabel, "
            f"whole numbers or text."
        )
    return names, {stage: _indices(vals, index, stage, where, names) for stage, vals in values.items()}


def _indices(values: list[Any], index: dict[Any, int], stage: str, where: str, names: list[str]) -> list[int]:
    """Each row's class index; rows without a label (None, or -1 in a ClassLabel) or of an unknown class refused."""
    bad = [f"row {row} ({value!r})" for row, value in enumerate(values) if value not in index]
    if bad:
        raise ConfigError(
            f"data=hf: {len(bad)} row(s) of the {SPLITS[stage]} split of {where} have no label of a train class: "
            f"{listed(bad)} (the classes: {named_some(names)}); cnnexp needs a known label on every row (-1 or None "
            f"is a row without one)."
        )
    return [index[value] for value in values]


class HfImages(Dataset):
    """One split of a Hugging Face dataset: (uint8 (C, H, W), class index) per row, decoded as image files are."""

    def __init__(self, split: Any, image: str, labels: list[int], decode: Decode, name: str) -> None:
        self.rows, self.image, self.labels, self.decode, self.name = (
            split.select_columns([image]),
            image,
            labels,
            decode,
            name,
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        try:
            picture = self.rows[index][self.image]
            return self.decode.image(picture), self.labels[index]
        # The Image feature's decoding and PIL raise many types for a bad image; any of them means that image.
        except Exception as err:  # noqa: BLE001
            raise UnreadableImage(
                f"data=hf: cannot read the image of row {index} of {self.name} ({type(err).__name__}: {err}); "
                f"remove or replace it."
            ) from None


def _datasets(spec: DataSpec) -> tuple[Opened, dict[str, HfImages]]:
    opened = open_hf(spec)
    decode = Decode(spec.channels, spec.height, spec.width, source="hf")
    parts = {
        stage: HfImages(
            split, str(spec.image_column), opened.labels[stage], decode, f"the {SPLITS[stage]} split of {opened.where}"
        )
        for stage, split in opened.splits.items()
    }
    return opened, parts


def load_hf(spec: DataSpec) -> Source:
    opened, parts = _datasets(spec)
    if opened.unread:
        log.info(f"data=hf: {opened.where} has split(s) {', '.join(opened.unread)}, not read (cnnexp reads "
                 f"{', '.join(SPLITS.values())})")  # fmt: skip
    origin = f"{opened.where} has {len(opened.classes)} classes in column '{spec.label_column}' ({named_some(opened.classes)})"
    return Source(
        train=parts["train"], test=parts.get("test"), classes=opened.classes, val=parts.get("val"), origin=origin
    )


def prepare_hf(spec: DataSpec) -> None:
    """Load (downloading a named dataset once) and decode every image once, before training starts."""
    _, parts = _datasets(spec)
    problems = []
    for part in parts.values():
        for index in range(len(part)):
            try:
                part[index]
            except UnreadableImage as err:
                problems.append(
                    str(err).removeprefix("data=hf: cannot read the image of ").removesuffix("; remove or replace it.")
                )
    if problems:
        raise ConfigError(
            f"data=hf: {len(problems)} image(s) cannot be read: {listed(problems)}. Remove or replace them."
        )


def complete_hf(spec: DataSpec) -> DataSpec:
    """The spec checked (and `datasets` installed), with num_classes counted from the dataset when it is null."""
    library()
    if spec.channels not in MODES:
        raise ConfigError(f"data.channels must be 1 (grey) or 3 (RGB) for data=hf, got {spec.channels}.")
    if spec.num_classes is not None:
        return spec
    return replace(spec, num_classes=len(open_hf(spec).classes))
