"""data=image_folder: a folder of class folders, root/train[/val][/test]/<class>/<image files>.

Without root/val, validation images are held out of train (data.val_size, 10% by default); without root/test,
so are the test images (data.test_size, 10% when null), as data/split.py says in the log. Every mistake in the
layout is found before training starts: no train folder, no class folders, an empty class, classes that differ
between splits, a link that loops back to a folder above it, a file that is no regular file (a FIFO named
x.png would block the run forever), one file reached from two classes or two splits (train images leaking into
val or test), and (in `prepare_folder`) any image that cannot be decoded. Links are followed, and each file is
indexed once however many links reach it. Images of any mode become 8-bit grey or RGB with their range scaled,
not clipped (a 16-bit PNG spans 0..65535).
`complete_folder` gives the run what the folder decides: the class count when data.num_classes is null.
"""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch import Tensor
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms.functional import pil_to_tensor

from cnnexp.data.spec import DataSpec
from cnnexp.data.split import Source
from cnnexp.errors import ConfigError

MODES = {1: "L", 3: "RGB"}  # data.channels -> PIL mode
SHOWN = 5  # bad files listed by name in one message
# PIL modes whose values exceed 8 bits, and the factor that maps their range onto 0..255 (convert() clips).
WIDE = {"I;16": 1 / 257, "I;16B": 1 / 257, "I;16L": 1 / 257, "I;16N": 1 / 257, "I": 1 / 257, "F": 255.0}
FileId = tuple[int, int]  # (device, inode): one file, however many paths lead to it


class UnreadableImage(ConfigError):
    """An image that cannot be decoded. A DataLoader worker's error reaches the main process as a new error of
    the same class whose message is the worker's whole traceback; only the paragraph is kept."""

    def __init__(self, message: str) -> None:
        marker = f"{type(self).__module__}.{type(self).__qualname__}: "
        super().__init__(message.rsplit(marker, 1)[-1].strip())


class Decode:
    """Path -> uint8 (C, H, W) of the declared channels and size; a plain class so DataLoader workers can pickle it.

    `source` names the data in messages (data=image_folder, data=csv)."""

    def __init__(self, channels: int, height: int, width: int, source: str = "image_folder") -> None:
        self.mode, self.size, self.source = MODES[channels], (width, height), source

    def __call__(self, path: str) -> Tensor:
        try:
            return self.read(path)
        # Image decoders raise many types (OSError, SyntaxError, struct.error, ...); any of them means a bad file.
        except Exception as err:  # noqa: BLE001
            raise UnreadableImage(
                f"data={self.source}: cannot read image {path} ({type(err).__name__}: {err}); remove or replace it."
            ) from None

    def read(self, path: str) -> Tensor:
        """The image, or PIL's own error for a file it cannot read (task=predict lists those and goes on)."""
        with Image.open(path) as img:
            return self.image(img)

    def image(self, img: Image.Image) -> Tensor:
        """An opened image (a file's, or a Hugging Face dataset's) in the declared mode and size."""
        # PIL's bilinear resize widens its filter when shrinking, so downscaling is antialiased.
        return pil_to_tensor(eight_bit(img).convert(self.mode).resize(self.size, Image.Resampling.BILINEAR))


def eight_bit(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit grey scaled onto 0..255 (floats read as 0..1); other modes as they are."""
    scale = WIDE.get(img.mode)
    if scale is None:
        return img
    values = np.asarray(img, dtype=np.float64) * scale
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), mode="L")


@dataclass(frozen=True)
class Indexed:
    """One split folder read once: its classes (sorted, ImageFolder's labels) and (path, label) samples."""

    root: Path
    classes: list[str]
    samples: list[tuple[str, int]]
    ids: dict[FileId, str]  # each file's identity -> the path it was indexed under


def split_folders(spec: DataSpec) -> dict[str, Path]:
    """The split folders that exist: train (required), val and test (optional: held out of train without them)."""
    root = spec.folder
    layout = f"{root}/train/<class>/<images> (optionally val/ and test/ beside train/, with the same classes)"
    if not root.is_dir():
        raise ConfigError(f"data.root={root} is not a folder; data=image_folder expects {layout}.")
    folders = {stage: root / stage for stage in ("train", "val", "test")}
    if not folders["train"].is_dir():
        raise ConfigError(f"data=image_folder: no folder {folders['train']}; expected {layout}.")
    return {stage: path for stage, path in folders.items() if path.is_dir()}


def index_split(folder: Path) -> Indexed:
    """Sorted class folder names (every sub-folder, hidden ones too, as ImageFolder does) and their images."""
    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    if not classes:
        raise ConfigError(
            f"data=image_folder: {folder} has no class folders; put each class's images in its own folder, "
            f"e.g. {folder}/cat/001.png, {folder}/dog/001.png."
        )
    walk = _Walk()
    samples = [(path, label) for label, name in enumerate(classes) for path in walk.files(folder / name)]
    walk.check(folder)
    empty = [name for label, name in enumerate(classes) if not any(s[1] == label for s in samples)]
    if empty:
        raise ConfigError(
            f"data=image_folder: class folder(s) without images in {folder}: {', '.join(empty)} "
            f"(image files end in {', '.join(IMG_EXTENSIONS)}); add images or remove the folder(s)."
        )
    return Indexed(folder, classes, samples, walk.ids)


class _Walk:
    """Image files under class folders, links followed: each file once, loops and odd files collected."""

    def __init__(self) -> None:
        self.ids: dict[FileId, str] = {}  # each file -> the path it was indexed under
        self.classes: dict[FileId, str] = {}  # each file -> its class folder's name
        self.dirs: dict[FileId, tuple[str, Path]] = {}  # each folder walked -> (its class, the path first seen)
        self.problems: list[str] = []

    def files(self, top: Path) -> list[str]:
        found: list[str] = []
        self._visit(top, (), top.name, found)
        return sorted(found)  # ImageFolder's order

    def _visit(self, directory: Path, above: tuple[FileId, ...], label: str, found: list[str]) -> None:
        ident = file_id(os.stat(directory))
        if ident in above:
            raise ConfigError(
                f"data=image_folder: {directory} links back to a folder above it (a loop: every file below it would "
                f"be read again and again); remove that link."
            )
        if ident in self.dirs:
            label_before, seen = self.dirs[ident]
            if label_before != label:
                self.problems.append(f"{directory} (the same folder as {seen}, which is in class {label_before})")
            return  # reached again through another link: its files are indexed already
        self.dirs[ident] = (label, directory)
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            path = Path(entry.path)
            if entry.is_dir():
                self._visit(path, (*above, ident), label, found)
            elif entry.name.lower().endswith(IMG_EXTENSIONS):
                self._file(path, label, found)

    def _file(self, path: Path, label: str, found: list[str]) -> None:
        try:
            info = os.stat(path)
        except OSError as err:
            self.problems.append(f"{path} ({err.strerror}: a broken link?)")
            return
        if not stat.S_ISREG(info.st_mode):
            self.problems.append(f"{path} (a {file_kind(info.st_mode)}, not a regular file)")
            return
        ident = file_id(info)
        if ident not in self.ids:
            self.ids[ident], self.classes[ident] = str(path), label
            found.append(str(path))
        elif self.classes[ident] != label:
            self.problems.append(
                f"{path} (the same file as {self.ids[ident]}, which is in class {self.classes[ident]})"
            )

    def check(self, folder: Path) -> None:
        if self.problems:
            raise ConfigError(f"data=image_folder: {len(self.problems)} file(s) under {folder} cannot be used: "
                              f"{listed(self.problems)}. Remove or replace them.")  # fmt: skip


def file_id(info: os.stat_result) -> FileId:
    return (info.st_dev, info.st_ino)


def file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "FIFO",
        stat.S_ISSOCK: "socket",
        stat.S_ISCHR: "character device",
        stat.S_ISBLK: "block device",
    }
    return next((name for test, name in kinds.items() if test(mode)), "special file")


def listed(items: list[str]) -> str:
    return "; ".join(items[:SHOWN]) + (f"; and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def named_some(names: list[str], shown: int = 10) -> str:
    """'a, b, c', or the first `shown` names and how many there are in all."""
    return ", ".join(names) if len(names) <= shown else f"{', '.join(names[:shown])}, ... ({len(names)} in all)"


def class_names(folder: Path) -> list[str]:
    return index_split(folder).classes


def complete_folder(spec: DataSpec) -> DataSpec:
    """The spec checked for folders, with num_classes counted from root/train when it is null."""
    if spec.channels not in MODES:
        raise ConfigError(f"data.channels must be 1 (grey) or 3 (RGB) for data=image_folder, got {spec.channels}.")
    if spec.num_classes is not None:
        return spec
    return replace(spec, num_classes=len(class_names(split_folders(spec)["train"])))


class FolderImages(ImageFolder):
    """torchvision's ImageFolder over the files `index_split` found (its own walk follows link loops forever)."""

    def __init__(self, indexed: Indexed, loader: Decode) -> None:
        self.indexed = indexed
        super().__init__(str(indexed.root), loader=loader)

    def find_classes(self, directory: Any) -> tuple[list[str], dict[str, int]]:
        return list(self.indexed.classes), {name: i for i, name in enumerate(self.indexed.classes)}

    def make_dataset(self, directory: Any, class_to_idx: Any, extensions: Any = None, is_valid_file: Any = None,
                     allow_empty: bool = False) -> list[tuple[str, int]]:  # fmt: skip
        return list(self.indexed.samples)


def checked_splits(folders: dict[str, Path]) -> dict[str, Indexed]:
    """Every split indexed, with the same classes (or the labels would not match) and no file in two splits."""
    splits = {stage: index_split(folder) for stage, folder in folders.items()}
    train = splits["train"]
    for stage, split in splits.items():
        if split.classes != train.classes:
            only_train, only_other = (
                sorted(set(train.classes) - set(split.classes)),
                sorted(set(split.classes) - set(train.classes)),
            )
            raise ConfigError(
                f"data=image_folder: {split.root} has other classes than {train.root} "
                f"(only in train: {only_train or 'none'}; only in {stage}: {only_other or 'none'}); "
                f"every split needs the same class folders, or the labels would not match."
            )  # fmt: skip
        shared = (
            [f"{split.ids[i]} is {train.ids[i]}" for i in split.ids.keys() & train.ids.keys()]
            if stage != "train"
            else []
        )
        if shared:
            raise ConfigError(
                f"data=image_folder: {len(shared)} file(s) of {split.root} are train files too (through links): "
                f"{listed(sorted(shared))}; {stage} must hold images the model never trains on."
            )
    return splits


def _datasets(spec: DataSpec) -> tuple[dict[str, FolderImages], list[str], Path]:
    splits = checked_splits(split_folders(spec))
    decode = Decode(spec.channels, spec.height, spec.width)
    return (
        {stage: FolderImages(split, decode) for stage, split in splits.items()},
        splits["train"].classes,
        splits["train"].root,
    )


def load_folder(spec: DataSpec) -> Source:
    parts, classes, train = _datasets(spec)
    origin = f"{train} has {len(classes)} class folders ({', '.join(classes)})"
    return Source(train=parts["train"], test=parts.get("test"), classes=classes, val=parts.get("val"), origin=origin)


def prepare_folder(spec: DataSpec) -> None:
    """Check the layout and decode every image once, as training will, so a bad file stops the run before it."""
    parts, _, _ = _datasets(spec)
    paths = [path for part in parts.values() for path, _ in part.samples]
    problems = [
        problem for _, problem in unreadable(paths, Decode(spec.channels, spec.height, spec.width), spec.num_workers)
    ]
    if problems:
        raise ConfigError(f"data=image_folder: {len(problems)} image file(s) cannot be read: {listed(problems)}. "
                          f"Remove or replace them.")  # fmt: skip


def unreadable(paths: list[str], decode: Decode, workers: int) -> list[tuple[str, str]]:
    """(path, 'path (reason)') for each file that does not decode, in the order of `paths` (`workers` threads)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return [(path, p) for path, p in zip(paths, pool.map(lambda path: _problem(decode, path), paths)) if p]


def _problem(decode: Decode, path: str) -> str:
    """'' when the image decodes, else 'path (reason)'."""
    try:
        decode(path)
    except UnreadableImage as err:
        return str(err).split("cannot read image ", 1)[-1].removesuffix("; remove or replace it.")
    return ""
