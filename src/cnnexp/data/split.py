"""What a source delivers and how it is cut into train / val / test.

A part of a source is either `Tensors` (the whole split decoded, uint8) or a per-image `Dataset` (image_folder
read from disk). Subsets and the validation hold-out are fixed by `data.seed` alone, so changing the training
seed never moves an image between train and val.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from cnnexp.data.spec import DataSpec
from cnnexp.errors import ConfigError

STAGES = ("train", "val", "test")


@dataclass(frozen=True)
class Tensors:
    images: Tensor  # (N, C, H, W) uint8
    labels: Tensor  # (N,) int64

    def __len__(self) -> int:
        return self.labels.shape[0]

    def take(self, index: Tensor) -> Tensors:
        return Tensors(self.images[index], self.labels[index])

    def to(self, device: torch.device) -> Tensors:
        if self.images.device == device:
            return self
        return Tensors(self.images.to(device), self.labels.to(device))

    @property
    def nbytes(self) -> int:
        return self.images.nbytes + self.labels.nbytes


Part = Union[Tensors, Dataset]


@dataclass(frozen=True)
class Source:
    train: Part
    test: Part
    classes: list[str]
    val: Part | None = None  # the source's own validation split (image_folder root/val); else held out of train
    origin: str = ""  # where the classes come from, for messages: "data=digits", "<root>/train"


def seeded_order(n: int, seed: int) -> Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def split(source: Source, spec: DataSpec) -> dict[str, Part]:
    """train_size images of the train split (seeded choice), val_size of them held out; test_size of test."""
    order = _chosen(len(source.train), spec.train_size, spec.seed, "train")
    if source.val is not None:
        val, train = source.val, take(source.train, order.sort().values)
    else:
        if spec.val_size >= len(order):
            raise ConfigError(
                f"data.val_size={spec.val_size} leaves no training images of the {len(order)} in the train split; "
                f"set data.val_size below {len(order)} (0 for no validation)."
            )
        held, kept = order[: spec.val_size], order[spec.val_size :]
        val, train = take(source.train, held.sort().values), take(source.train, kept.sort().values)
    # A different stream for test than for train, so equal sizes do not pick "the same" positions.
    test = take(source.test, _chosen(len(source.test), spec.test_size, spec.seed + 1, "test").sort().values)
    return {"train": train, "val": val, "test": test}


def _chosen(available: int, wanted: int | None, seed: int, stage: str) -> Tensor:
    if wanted is not None and wanted > available:
        raise ConfigError(
            f"data.{stage}_size={wanted} but the {stage} split has only {available} images; "
            f"set data.{stage}_size to at most {available}, or null for all."
        )
    return seeded_order(available, seed)[: available if wanted is None else wanted]


def take(part: Part, index: Tensor) -> Part:
    if isinstance(part, Tensors):
        return part if len(index) == len(part) and bool((index == torch.arange(len(part))).all()) else part.take(index)
    return Subset(part, index.tolist())


def as_dataset(part: Part) -> Dataset:
    return TensorDataset(part.images, part.labels) if isinstance(part, Tensors) else part


def as_tensors(part: Part, spec: DataSpec) -> Tensors:
    """Decode a per-image dataset once into uint8 tensors (image_folder with data.in_memory=true)."""
    if isinstance(part, Tensors):
        return part
    if len(part) == 0:
        return Tensors(torch.zeros(0, *spec.shape, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64))
    batches = list(DataLoader(part, batch_size=spec.batch_size, num_workers=spec.num_workers))
    return Tensors(torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches]))
