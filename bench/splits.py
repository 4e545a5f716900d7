"""The data every row shares: cnnexp's own train split of the digits, in memory and as an MNIST copy on disk.

The peers train on exactly the images cnnexp trains on: the split comes from cnnexp's data module, and the
classic pipeline reads the same images through torchvision.datasets.MNIST from IDX files written here (the
format torchvision reads MNIST from), so the only difference between the sides is the pipeline.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import Tensor

from cnnexp.data.module import ImageDataModule
from cnnexp.data.spec import parse_data
from cnnexp.experiment import model_spec, plain

IDX_IMAGES = 0x00000803  # IDX magic: unsigned bytes, 3 dimensions
IDX_LABELS = 0x00000801  # unsigned bytes, 1 dimension


@dataclass(frozen=True)
class Split:
    images: Tensor  # (N, 1, 28, 28) uint8
    labels: Tensor  # (N,) int64
    test_images: Tensor
    test_labels: Tensor
    mean: tuple[float, ...]  # what cnnexp normalises with (measured on the train split)
    std: tuple[float, ...]


def train_split(cfg: DictConfig) -> Split:
    """The train and test splits cnnexp's data module makes from `cfg` (rendered or read from the cache)."""
    spec = model_spec(cfg)
    datamodule = ImageDataModule(parse_data(plain(cfg, "data")), spec.input_shape)
    datamodule.prepare_data()
    datamodule.setup("fit")
    train, test = datamodule.parts["train"], datamodule.parts["test"]
    if datamodule.transform is None:
        raise RuntimeError("ImageDataModule.setup() made no BatchTransform")
    mean, std = datamodule.transform.mean, datamodule.transform.std
    return Split(train.images, train.labels, test.images, test.labels, mean, std)  # type: ignore[union-attr]


def write_mnist(split: Split, root: Path) -> Path:
    """root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte: what torchvision.datasets.MNIST opens."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, images, labels in (("train", split.images, split.labels), ("t10k", split.test_images, split.test_labels)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", IDX_IMAGES, images[:, 0])
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", IDX_LABELS, labels.to(torch.uint8))
    return root


def _write_idx(path: Path, magic: int, values: Tensor) -> None:
    header = struct.pack(f">{1 + values.dim()}i", magic, *values.shape)  # big-endian int32s
    path.write_bytes(header + values.contiguous().numpy().tobytes())
