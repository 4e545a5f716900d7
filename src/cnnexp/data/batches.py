"""Batch iterables: in-memory tensors sliced by index, or DataLoaders over per-image datasets.

Both paths share one sharding rule. Training: a permutation seeded with `seed + epoch` (DistributedSampler's
rule, so a resumed run sees the order an uninterrupted one would), cut to a multiple of the world size so
every rank takes the same number of batches, rank r taking positions r, r + world, ... Evaluation: rank r
takes images r, r + world, ..., without padding, so the ranks together see every image exactly once (their
batch counts may differ by one; nothing in evaluation waits on the other ranks per batch).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from cnnexp.data.split import Tensors

Batch = tuple[Tensor, Tensor]  # (B, C, H, W) uint8 images, (B,) int64 labels


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1


def train_order(n: int, seed: int, epoch: int, shard: Shard) -> Tensor:
    """This rank's image indices for one training epoch (equal length on every rank)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))
    usable = n - n % shard.world
    return order[:usable][shard.rank :: shard.world]


class TrainBatches:
    """Shuffled batches of in-memory tensors, gathered by index on their device; no workers, no collation."""

    def __init__(
        self, data: Tensors, batch_size: int, seed: int, shard: Shard, epoch: Callable[[], int],
        done: Callable[[], int] = lambda: 0,
    ) -> None:  # fmt: skip
        self.data, self.batch_size, self.seed, self.shard = data, batch_size, seed, shard
        self.epoch = epoch  # read when iteration starts: the trainer's epoch, restored on resume
        # Batches of this epoch trained before a mid-epoch checkpoint: a resumed run skips exactly those.
        self.done = done

    def __len__(self) -> int:
        return math.ceil(len(self.data) // self.shard.world / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        index = train_order(len(self.data), self.seed, self.epoch(), self.shard).to(self.data.images.device)
        for start in range(self.done() * self.batch_size, len(index), self.batch_size):
            take = index[start : start + self.batch_size]
            yield self.data.images[take], self.data.labels[take]


class EvalBatches:
    """Batches of this rank's images r::world in stored order; slices are views, nothing is copied."""

    def __init__(self, data: Tensors, batch_size: int, shard: Shard) -> None:
        self.images = data.images[shard.rank :: shard.world]
        self.labels = data.labels[shard.rank :: shard.world]
        self.batch_size = batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        for start in range(0, len(self.labels), self.batch_size):
            yield self.images[start : start + self.batch_size], self.labels[start : start + self.batch_size]


class EvalShard(Sampler[int]):
    """Indices r, r + world, ... of a dataset: the evaluation rule above, for a DataLoader."""

    def __init__(self, size: int, shard: Shard) -> None:
        self.indices = range(shard.rank, size, shard.world)

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)


def stream_loader(
    dataset: Dataset, batch_size: int, workers: int, shard: Shard, seed: int | None, pin: bool
) -> DataLoader:
    """A DataLoader that decodes per image in `workers` processes; `seed` None means evaluation order."""
    if seed is None:
        sampler: Sampler[int] = EvalShard(len(dataset), shard)  # type: ignore[arg-type]  # torch's Dataset declares no __len__
    else:
        # Lightning calls set_epoch on it each epoch; drop_last cuts to a multiple of the world size.
        sampler = DistributedSampler(
            dataset, num_replicas=shard.world, rank=shard.rank, shuffle=True, seed=seed, drop_last=True
        )
    # A generator of its own: otherwise making each epoch's iterator draws from the global random state (for the
    # workers' seeds), and a resumed run, which makes its iterators at other moments, would drift off the
    # uninterrupted one (dropout draws from that state). Decoding uses no randomness.
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=workers, pin_memory=pin,
        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(seed or 0),
    )  # fmt: skip
