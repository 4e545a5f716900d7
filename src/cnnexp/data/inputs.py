"""Images named on the command line (task=predict's `input=`): a file, a folder, or a glob, decoded in batches
exactly as data=image_folder decodes its files (folders.Decode: mode and size of the data the model learned on).

A file that cannot be read is set aside with its reason, never a reason to stop: the caller lists them. Each
real file is read once, however many links lead to it: a glob's `**` follows links to folders, as glob does, but
enters each real folder once (a link to the folder itself or to a parent would repeat its files forty times, and
two such links make glob's own walk endless).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator, Sequence
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
class DecodedBatch:
    paths: list[Path] = field(default_factory=list)  # the images read, in order
    images: list[Tensor] = field(default_factory=list)  # uint8 (C, H, W) each
    failed: list[tuple[Path, str]] = field(default_factory=list)  # the files that could not be read, and why

    def stacked(self) -> Tensor:
        return torch.stack(self.images)  # (B, C, H, W) uint8


def find_images(pattern: str, key: str = "input") -> list[Path]:
    """The files `pattern` names, sorted: itself (a file), the image files under it (a folder), or its matches."""
    if any(char in pattern for char in GLOB):
        found = _once(Path(p) for p in _glob(os.path.expanduser(pattern)) if os.path.isfile(p))
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
    found = _once(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(IMG_EXTENSIONS))
    if not found:
        endings = ", ".join(IMG_EXTENSIONS)
        raise ConfigError(f"{key}={pattern}: the folder holds no image files (names ending in {endings}).")
    return found


def _once(paths: Iterable[Path]) -> list[Path]:
    """`paths` sorted, each real file once: the first path (in that order) that leads to it."""
    seen: set[str] = set()
    kept = []
    for path in sorted(paths):
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            kept.append(path)
    return kept


def _glob(pattern: str) -> list[str]:
    """glob.glob's matches of `pattern`, but `**` enters each real folder once (see the module's docstring)."""
    parts = pattern.split("/")
    if "**" not in parts:
        return glob.glob(pattern)
    at = parts.index("**")
    head, tail = "/".join(parts[:at]) or ("/" if pattern.startswith("/") else ""), "/".join(parts[at + 1 :]) or "*"
    bases = glob.glob(head) if glob.has_magic(head) else [head]
    found: list[str] = []
    for base in bases:
        for folder in _folders(base):
            below = os.path.join(glob.escape(folder), tail) if folder else tail
            found += _glob(below) if "**" in tail.split("/") else glob.glob(below)
    return found


def _folders(base: str) -> Iterator[str]:
    """`base` and every folder below it that `**` matches (not hidden ones, as glob), each real folder once:
    links to folders are followed, real folders before links, so that a folder is reached by its own name."""
    seen = {os.path.realpath(base or os.curdir)}
    for here, subs, _ in os.walk(base or os.curdir, followlinks=True):
        yield here if base else here.removeprefix(os.curdir).lstrip("/")
        subs.sort(key=lambda name: (os.path.islink(os.path.join(here, name)), name))
        kept = []
        for name in subs:
            real = os.path.realpath(os.path.join(here, name))
            if not name.startswith(".") and real not in seen:
                seen.add(real)
                kept.append(name)
        subs[:] = kept  # os.walk enters only these


def decode_batches(paths: Sequence[Path], decode: Decode, size: int, workers: int) -> Iterator[DecodedBatch]:
    """Batches of up to `size` files, each file decoded by one of `workers` threads (PIL frees the GIL)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for start in range(0, len(paths), size):
            chunk = paths[start : start + size]
            batch = DecodedBatch()
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
