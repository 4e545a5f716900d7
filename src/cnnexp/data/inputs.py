"""Images named on the command line (task=predict's `input=`): a file, a folder, or a glob, decoded in batches
exactly as data=image_folder decodes its files (folders.Decode: mode and size of the data the model learned on).

A file that cannot be read is set aside with its reason, never a reason to stop: the caller lists them.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor
from torchvision.datasets.folder import IMG_EXTENSIONS

from cnnexp.data.folders import Decode
from cnnexp.errors import ConfigError

GLOB = ("*", "?", "[")


@dataclass
class Batch:
    paths: list[Path] = field(default_factory=list)  # the images read, in order
    images: list[Tensor] = field(default_factory=list)  # uint8 (C, H, W) each
    failed: list[tuple[Path, str]] = field(default_factory=list)  # the files that could not be read, and why

    def stacked(self) -> Tensor:
        return torch.stack(self.images)  # (B, C, H, W) uint8


def find_images(pattern: str, key: str = "input") -> list[Path]:
    """The files `pattern` names, sorted: itself (a file), the image files under it (a folder), or its matches."""
    if any(char in pattern for char in GLOB):
        found = sorted(Path(p) for p in glob.glob(os.path.expanduser(pattern), recursive=True) if os.path.isfile(p))
        if not found:
            raise ConfigError(f"{key}={pattern}: the pattern matches no file.")
        return found
    path = Path(pattern).expanduser()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError(
            f"{key}={pattern}: no such file or folder; give an image file, a folder of images, or a glob such as "
            f"'photos/*.jpg' (in quotes, so that the shell leaves it to cnnexp)."
        )
    # As ImageFolder finds a class's images: every file below, by extension.
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(IMG_EXTENSIONS))
    if not found:
        endings = ", ".join(IMG_EXTENSIONS)
        raise ConfigError(f"{key}={pattern}: the folder holds no image files (names ending in {endings}).")
    return found


def decode_batches(paths: Sequence[Path], decode: Decode, size: int, workers: int) -> Iterator[Batch]:
    """Batches of up to `size` files, each file decoded by one of `workers` threads (PIL frees the GIL)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for start in range(0, len(paths), size):
            chunk = paths[start : start + size]
            batch = Batch()
            for path, (image, problem) in zip(chunk, pool.map(lambda p: _read(decode, p), chunk)):
                if image is None:
                    batch.failed.append((path, problem))
                else:
                    batch.paths.append(path)
                    batch.images.append(image)
            yield batch


def _read(decode: Decode, path: Path) -> tuple[Tensor | None, str]:
    try:
        return decode.read(str(path)), ""
    # Image decoders raise many types (OSError, SyntaxError, struct.error, ...); any of them means a bad file.
    except Exception as err:  # noqa: BLE001
        return None, f"{type(err).__name__}: {err}"
