"""The data every row shares: cnnexp's own train split of the digits, in memory and as an MNIST copy on disk.

The peers train on exactly the images cnnexp trains on: the split comes from cnnexp's data module, and the
classic pipeline reads the same images through torchvision.datasets.MNIST from IDX files written here (the
format torchvision reads MNIST from), so the only difference between the sides is the pipeline.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import Tensor

from cnnexp.data.module import ImageDataModule
from cnnexp.data.spec import parse_data
from cnnexp.data.transforms import BatchTransform
from cnnexp.experiment import model_spec, plain
from peers import sync

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


def data_module(cfg: DictConfig) -> ImageDataModule:
    """cnnexp's data module for `cfg`, set up (the digits rendered or read from the cache), on the CPU."""
    datamodule = ImageDataModule(parse_data(plain(cfg, "data")), model_spec(cfg).input_shape)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def train_split(cfg: DictConfig) -> Split:
    """The train and test splits cnnexp's data module makes from `cfg`."""
    datamodule = data_module(cfg)
    train, test = datamodule.parts["train"], datamodule.parts["test"]
    mean, std = _transform(datamodule).mean, _transform(datamodule).std
    return Split(train.images, train.labels, test.images, test.labels, mean, std)  # type: ignore[union-attr]


def data_path_seconds(cfg: DictConfig, device: torch.device) -> float:
    """One epoch of cnnexp's training batches alone (gather by index, normalise), without the model."""
    datamodule = data_module(cfg)
    datamodule.parts["train"] = datamodule.parts["train"].to(device)  # type: ignore[union-attr]
    transform = _transform(datamodule)
    sync(device)
    start = time.perf_counter()
    for images, _ in datamodule.train_dataloader():
        transform(images, train=True)
    sync(device)
    return time.perf_counter() - start


def _transform(datamodule: ImageDataModule) -> BatchTransform:
    if datamodule.transform is None:
        raise RuntimeError("ImageDataModule.setup() made no BatchTransform")
    return datamodule.transform


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
