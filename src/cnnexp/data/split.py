"""What a source delivers and how it is cut into train / val / test.

A part of a source is either `Tensors` (the whole split decoded, uint8) or a per-image `Dataset` (image_folder
read from disk). Subsets and the validation hold-out are fixed by `data.seed` alone, so changing the training
seed never moves an image between train and val.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Union

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from cnnexp.config.logs import is_rank_zero
from cnnexp.data.spec import DataSpec, images_of
from cnnexp.errors import ConfigError

log = logging.getLogger(__name__)
STAGES = ("train", "val", "test")
HELD_OUT_TEST = 0.1  # the share of train held out as the test split when a source has none (test_size: null)


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


def part_size(part: Part) -> int:
    """Images in a part: torch's Dataset type declares no __len__, though every dataset read here has one."""
    return len(part)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Source:
    train: Part
    test: Part | None  # None: the source has no test split (image_folder without root/test): held out of train
    classes: list[str]
    val: Part | None = None  # the source's own validation split (image_folder root/val); else held out of train
    origin: str = ""  # where the classes come from, for messages: "data=digits", "<root>/train"


def seeded_order(n: int, seed: int) -> Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def split(source: Source, spec: DataSpec) -> dict[str, Part]:
    """train_size images of the train split (seeded choice); test_size of the test split, or held out of train
    when the source has none; val_size held out of train unless the source has a val split."""
    order = _chosen(part_size(source.train), spec.train_size, spec.seed, "train")
    chosen, held = len(order), {}  # a share is of the chosen train images, for val and test alike
    if source.test is None:
        test_size = spec.test_size if spec.test_size is not None else HELD_OUT_TEST
        held["test"] = _held_out(order, images_of(test_size, chosen), f"data.test_size={test_size}")
        log.info(
            f"data={spec.name}: no test split in {spec.root}: {len(held['test'])} of its {chosen} train images are "
            f"held out for testing (data.test_size={test_size})"
        )
        order = order[len(held["test"]) :]
    if source.val is None:
        held["val"] = _held_out(order, images_of(spec.val_size, chosen), f"data.val_size={spec.val_size}")
        order = order[len(held["val"]) :]
    parts = {stage: take(source.train, index.sort().values) for stage, index in held.items()}
    parts["train"] = take(source.train, order.sort().values)
    if source.val is not None:
        parts["val"] = source.val
    if source.test is not None:
        # A different stream for test than for train, so equal sizes do not pick "the same" positions.
        parts["test"] = take(
            source.test, _chosen(part_size(source.test), spec.test_size, spec.seed + 1, "test").sort().values
        )
    _say_if_val_outweighs_train(part_size(parts["val"]), part_size(parts["train"]), source.val is None, spec)
    return {stage: parts[stage] for stage in STAGES}


def _say_if_val_outweighs_train(val: int, train: int, held_out: bool, spec: DataSpec) -> None:
    """One warning (not an error: it may be meant) when validation is larger than training, from the first process."""
    if val <= train or not is_rank_zero():
        return
    where = f"data.val_size={spec.val_size} of the train split" if held_out else f"the val split of {spec.root}"
    fix = "; a share such as data.val_size=0.1 holds out a tenth" if held_out else ""
    log.warning(
        f"data={spec.name}: {val} val images ({where}) but {train} train images: validation is larger than training{fix}."
    )


def _held_out(order: Tensor, count: int, setting: str) -> Tensor:
    """The first `count` images of `order` (for val or test), leaving at least one to train on."""
    check_held_out(count, len(order), setting)
    return order[:count]


def check_held_out(count: int, available: int, setting: str) -> None:
    """Holding `count` of `available` train images out (`setting`, e.g. "data.val_size=0.1") leaves some to
    train on; else a ConfigError that says what to set."""
    if count >= available:
        raise ConfigError(
            f"{setting} leaves no training images of the {available} in the train split; set "
            f"{setting.split('=')[0]} below {available}, or a share such as 0.1 (0 for none)."
        )


def _chosen(available: int, wanted: int | float | None, seed: int, stage: str) -> Tensor:
    count = available if wanted is None else images_of(wanted, available)
    if count > available:
        raise ConfigError(
            f"data.{stage}_size={wanted} but the {stage} split has only {available} images; "
            f"set data.{stage}_size to at most {available}, a share such as 0.5, or null for all."
        )
    return seeded_order(available, seed)[:count]


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
    if part_size(part) == 0:
        return Tensors(torch.zeros(0, *spec.shape, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64))
    batches = list(DataLoader(part, batch_size=spec.batch_size, num_workers=spec.num_workers))
    return Tensors(torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches]))
