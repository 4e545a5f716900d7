"""Builders for the data tests: specs with tiny sizes, a stand-in for the Trainer, files written on the spot.

Each builder reaches the tests as a fixture (a test module cannot import a conftest).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from cnnexp.data.module import ImageDataModule
from cnnexp.data.spec import Augment, DataSpec

SHAPES = {"digits": (1, 28, 28), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
TINY = {"num_classes": 10, "train_size": 300, "test_size": 100, "val_size": 60, "batch_size": 32}

SpecFor = Callable[..., DataSpec]
TrainerFor = Callable[..., SimpleNamespace]
Prepared = Callable[..., ImageDataModule]
MnistFiles = Callable[..., dict[str, tuple[np.ndarray, np.ndarray]]]
ImageTree = Callable[..., Path]


def data_spec(root: Path, name: str = "digits", **changes: Any) -> DataSpec:
    """A DataSpec as a YAML file would give it, shrunk: 300 train (60 of them val) and 100 test images."""
    c, h, w = changes.pop("shape", SHAPES.get(name, (3, 16, 16)))
    if isinstance(changes.get("augment"), dict):
        changes["augment"] = Augment(**changes["augment"])
    return DataSpec(name=name, root=root, channels=c, height=h, width=w, **{**TINY, **changes})


def fake_trainer(rank: int = 0, world: int = 1, epoch: int = 0, training: bool = True) -> SimpleNamespace:
    """What the data module reads from a Trainer; tests change `current_epoch` and `training` in place."""
    strategy = SimpleNamespace(root_device=torch.device("cpu"))
    return SimpleNamespace(
        global_rank=rank, world_size=world, current_epoch=epoch, training=training, strategy=strategy
    )


def ready(spec: DataSpec, model_input: tuple[int, int, int] | None = None, trainer: Any = None) -> ImageDataModule:
    """A data module after prepare_data and setup, as Lightning leaves it before the first batch."""
    dm = ImageDataModule(spec, model_input or spec.shape)
    dm.trainer = trainer
    dm.prepare_data()
    dm.setup("fit")
    return dm


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file as LeCun's MNIST files are: magic 2051 (images) or 2049 (labels), big-endian sizes, bytes."""
    magic = 2051 if array.ndim == 3 else 2049
    header = np.array([magic, *array.shape], dtype=">i4").tobytes()
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str = "MNIST", train: int = 40, test: int = 20) -> dict[str, tuple[Any, Any]]:
    """The four raw MNIST files with random pixels in root/<folder>/raw; returns what was written, per split."""
    rng = np.random.default_rng(0)
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    written = {}
    for split, prefix, n in (("train", "train", train), ("test", "t10k", test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        written[split] = (images, labels)
    return written


@pytest.fixture(scope="session")
def digits_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One render cache for every digits test of the session."""
    return tmp_path_factory.mktemp("digits")


@pytest.fixture
def spec_for(digits_root: Path) -> SpecFor:
    """spec_for(name="digits", root=None, **changes): a tiny DataSpec; the digits share one cache folder."""

    def make(name: str = "digits", root: Path | None = None, **changes: Any) -> DataSpec:
        return data_spec(root or digits_root, name, **changes)

    return make


@pytest.fixture
def trainer_for() -> TrainerFor:
    return fake_trainer


@pytest.fixture
def prepared() -> Prepared:
    return ready


@pytest.fixture
def mnist_files() -> MnistFiles:
    return write_mnist


@pytest.fixture
def image_tree(tmp_path: Path) -> ImageTree:
    """image_tree({"train": {"cat": 3, "dog": 2}, "test": {...}}, name="images") writes a tree of PNGs.

    Sizes vary per file, modes alternate grey and RGB. Class i (in sorted order) is filled with the value
    40 * (i + 1), so a batch's labels can be checked against its pixels.
    """

    def write(layout: dict[str, dict[str, int]], name: str = "images") -> Path:
        root = tmp_path / name
        for split, classes in layout.items():
            for index, (label, count) in enumerate(sorted(classes.items())):
                folder = root / split / label
                folder.mkdir(parents=True)
                for k in range(count):
                    grey = 40 * (index + 1)
                    image = Image.new("L", (11 + 3 * k, 7 + 5 * k), color=grey)
                    (image.convert("RGB") if k % 2 else image).save(folder / f"{k}.png")
        return root

    return write


def class_image(label: int, k: int = 0) -> Image.Image:
    """8×8, dark (20) with the quadrant of class `label` bright (200 + k % 5); grey for even k, RGB for odd k (the
    same values in each channel), so readers of both modes are exercised and the label shows in the pixels."""
    pixels = np.full((8, 8), 20, dtype=np.uint8)
    row, col = divmod(label % 4, 2)
    pixels[4 * row : 4 * row + 4, 4 * col : 4 * col + 4] = 200 + k % 5
    image = Image.fromarray(pixels, mode="L")
    return image.convert("RGB") if k % 2 else image


def bright_quadrant(images: torch.Tensor) -> torch.Tensor:
    """(N, C, 8, 8) uint8 -> (N,) the quadrant `class_image` made bright: its label."""
    quadrants = images[:, 0].float().unfold(1, 4, 4).unfold(2, 4, 4).mean((-1, -2)).flatten(1)  # (N, 4)
    return quadrants.argmax(1)


@pytest.fixture
def class_images() -> tuple[Callable[..., Image.Image], Callable[[torch.Tensor], torch.Tensor]]:
    """(class_image, bright_quadrant): tiny images whose pixels say their class, and the reader of that."""
    return class_image, bright_quadrant
