"""data=image_folder: a folder of class folders, root/{train,test}[/val]/<class>/<image files>.

Every mistake in the layout is found before training starts: a missing split, no class folders, an empty
class, classes that differ between splits, and (in `prepare_folder`) any image file that PIL cannot read.
`complete_folder` gives the run what the folder decides: the class count when data.num_classes is null.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

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


class Decode:
    """Path -> uint8 (C, H, W) of the declared channels and size; a plain class so DataLoader workers can pickle it."""

    def __init__(self, channels: int, height: int, width: int) -> None:
        self.mode, self.size = MODES[channels], (width, height)

    def __call__(self, path: str) -> Tensor:
        try:
            return self.read(path)
        except (OSError, ValueError, SyntaxError) as err:
            raise ConfigError(f"data=image_folder: cannot read image {path} ({err}); remove or replace it.") from None

    def read(self, path: str) -> Tensor:
        """The image, or PIL's own error for a file it cannot read (task=predict lists those and goes on)."""
        with Image.open(path) as img:
            # PIL's bilinear resize widens its filter when shrinking, so downscaling is antialiased.
            return pil_to_tensor(img.convert(self.mode).resize(self.size, Image.Resampling.BILINEAR))


def split_folders(spec: DataSpec) -> dict[str, Path]:
    """The split folders that exist: train and test (required), val (optional)."""
    layout = f"{spec.root}/train/<class>/<images> and {spec.root}/test/<class>/<images> (optionally val/ too)"
    if not spec.root.is_dir():
        raise ConfigError(f"data.root={spec.root} is not a folder; data=image_folder expects {layout}.")
    folders = {stage: spec.root / stage for stage in ("train", "val", "test")}
    for stage in ("train", "test"):
        if not folders[stage].is_dir():
            raise ConfigError(f"data=image_folder: no folder {folders[stage]}; expected {layout}.")
    return {stage: path for stage, path in folders.items() if path.is_dir()}


def class_names(folder: Path) -> list[str]:
    """Sorted class folder names, each holding at least one image (ImageFolder's order, so its labels)."""
    # Exactly ImageFolder's rule (every sub-folder, hidden ones too), so our names are its labels.
    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    if not classes:
        raise ConfigError(
            f"data=image_folder: {folder} has no class folders; put each class's images in its own folder, "
            f"e.g. {folder}/cat/001.png, {folder}/dog/001.png."
        )
    empty = [name for name in classes if not _has_image(folder / name)]
    if empty:
        raise ConfigError(
            f"data=image_folder: class folder(s) without images in {folder}: {', '.join(empty)} "
            f"(image files end in {', '.join(IMG_EXTENSIONS)}); add images or remove the folder(s)."
        )
    return classes


def _has_image(folder: Path) -> bool:
    # ImageFolder walks the class folder recursively, following links.
    return any(f.lower().endswith(IMG_EXTENSIONS) for _, _, files in os.walk(folder, followlinks=True) for f in files)


def complete_folder(spec: DataSpec) -> DataSpec:
    """The spec checked for folders, with num_classes counted from root/train when it is null."""
    if spec.channels not in MODES:
        raise ConfigError(f"data.channels must be 1 (grey) or 3 (RGB) for data=image_folder, got {spec.channels}.")
    if spec.num_classes is not None:
        return spec
    return replace(spec, num_classes=len(class_names(split_folders(spec)["train"])))


def checked_classes(folders: dict[str, Path]) -> list[str]:
    """The class names, the same in every split (or the labels would not match)."""
    classes = class_names(folders["train"])
    for stage, folder in folders.items():
        other = classes if stage == "train" else class_names(folder)
        if other != classes:
            only_train, only_other = sorted(set(classes) - set(other)), sorted(set(other) - set(classes))
            raise ConfigError(
                f"data=image_folder: {folder} has other classes than {folders['train']} "
                f"(only in train: {only_train or 'none'}; only in {stage}: {only_other or 'none'}); "
                f"every split needs the same class folders, or the labels would not match."
            )
    return classes


def _datasets(spec: DataSpec) -> tuple[dict[str, ImageFolder], list[str], Path]:
    folders = split_folders(spec)
    classes = checked_classes(folders)
    decode = Decode(spec.channels, spec.height, spec.width)
    return {stage: ImageFolder(str(path), loader=decode) for stage, path in folders.items()}, classes, folders["train"]


def load_folder(spec: DataSpec) -> Source:
    parts, classes, train = _datasets(spec)
    origin = f"{train} has {len(classes)} class folders ({', '.join(classes)})"
    return Source(train=parts["train"], test=parts["test"], classes=classes, val=parts.get("val"), origin=origin)


def prepare_folder(spec: DataSpec) -> None:
    """Check the layout and open every image file once, so a bad file stops the run before training."""
    parts, _, _ = _datasets(spec)
    paths = [path for part in parts.values() for path, _ in part.samples]
    with ThreadPoolExecutor(max_workers=max(1, spec.num_workers)) as pool:
        problems = [p for p in pool.map(_problem, paths) if p]
    if problems:
        listed = "; ".join(problems[:SHOWN]) + (f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else "")
        raise ConfigError(
            f"data=image_folder: {len(problems)} image file(s) cannot be read: {listed}. Remove or replace them."
        )


def _problem(path: str) -> str:
    """'' when PIL can read the file, else 'path (reason)'."""
    try:
        with Image.open(path) as img:
            img.verify()
    # Image decoders raise many types (OSError, SyntaxError, struct.error, ...); any of them means a bad file.
    except Exception as err:  # noqa: BLE001
        return f"{path} ({type(err).__name__}: {err})"
    return ""
