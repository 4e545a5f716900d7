"""The LightningDataModule: a DataSpec and the model's input shape in, batches of that shape out.

In memory (data.in_memory=true, the tensor sets): each split is held once as uint8 on the training device
and batches are gathered by index there; a float copy exists only per batch. Streamed (image_folder): a
DataLoader decodes per image in worker processes. Either way `on_after_batch_transfer` normalises, adapts
and augments each batch on the device (data/transforms.py), and each rank takes its own shard
(data/batches.py); build the Trainer with use_distributed_sampler=False so Lightning leaves that alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.connectors.data_connector import _DataHookSelector

from cnnexp.config.fields import fmt_shape
from cnnexp.data import batches as bt
from cnnexp.data.sources import SOURCES
from cnnexp.data.spec import DataSpec
from cnnexp.data.split import STAGES, Part, Source, Tensors, as_dataset, as_tensors, part_size, split
from cnnexp.data.transforms import BatchTransform, Shape, channel_stats, check_adapt
from cnnexp.errors import ConfigError

STREAMED_MEAN = 0.5  # no pass over a folder on disk just for statistics: 0.5 maps 0..1 to -1..1


class ImageDataModule(pl.LightningDataModule):
    """Train / val / test batches of one DataSpec, shaped for a model that takes `model_input` (C, H, W)."""

    def __init__(
        self, spec: DataSpec, model_input: Shape, fitting_models: Sequence[str] = (), order_seed: int | None = None
    ) -> None:
        """`fitting_models` names models whose input matches this data, offered in the shape-mismatch error.

        `order_seed` shuffles the training batches (the run's `seed`, so a seed sweep varies the order too);
        the split and the rendered images follow `data.seed` alone.
        """
        super().__init__()
        self.order_seed = spec.seed if order_seed is None else order_seed
        check_adapt(spec.shape, model_input, spec.adapt, spec.name, fitting_models)
        self.spec, self.model_input = spec, model_input
        self.kind = SOURCES.get(spec.name, "data.name")
        self.parts: dict[str, Part] = {}
        self.class_names: list[str] = []
        self.transform: BatchTransform | None = None

    def prepare_data(self) -> None:
        self.kind.prepare(self.spec)

    def setup(self, stage: str | None = None) -> None:
        """Load and split once (fit then test reuse it); in memory, move the uint8 tensors to the device."""
        if not self.parts:
            source = self.kind.load(self.spec)
            self._check(source)
            self.class_names = list(source.classes)
            parts = split(source, self.spec)
            self.parts = {s: as_tensors(p, self.spec) for s, p in parts.items()} if self.spec.in_memory else parts
        if self.spec.in_memory:
            self.parts = {s: p.to(self._device()) for s, p in self.parts.items()}  # type: ignore[union-attr]
        if self.transform is None:
            mean, std = self._stats()
            self.transform = BatchTransform(mean, std, self.model_input, self.spec.augment)
        if isinstance(self.trainer, pl.Trainer):  # not the tests' stand-ins
            remember_hook_choice(self.trainer)

    def _device(self) -> torch.device:
        return self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")

    @property
    def num_train(self) -> int:
        return self.count("train")

    def train_batches(self, world: int = 1) -> int:
        """Training batches per epoch on each of `world` ranks: each rank gets an equal share of the images (the
        rest is dropped), cut into batches, the last one short."""
        return math.ceil(self.num_train // world / self.spec.batch_size)

    def count(self, stage: str) -> int:
        """Images in a split (0 before setup, or for an empty split)."""
        part = self.parts.get(stage)
        return part_size(part) if part is not None else 0

    def sample(self, stage: str, index: int, key: str = "index") -> tuple[torch.Tensor, int]:
        """Image `index` of a split as stored (uint8 C×H×W, before any transform) and its label; `key` names
        the setting that chose the index, for the error when there is no such image."""
        size = self.count(stage)
        if not 0 <= index < size:
            raise ConfigError(
                f"{key}={index} but data={self.spec.name} has {size} {stage} images (data.{stage}_size); "
                f"choose an index below {size}."
            )
        part = self.parts[stage]
        raw, label = (part.images[index], part.labels[index]) if isinstance(part, Tensors) else part[index]
        return raw, int(label)

    def as_model_input(self, raw: torch.Tensor, device: torch.device) -> torch.Tensor:
        """One stored image (C, H, W) as the model sees it in evaluation: (1, C', H', W'), normalised, adapted."""
        if self.transform is None:
            raise RuntimeError("ImageDataModule: call setup() before transforming images")
        return self.transform(raw[None].to(device), train=False)

    def train_dataloader(self) -> Iterable[bt.Batch]:
        return self._loader("train")

    def val_dataloader(self) -> Iterable[bt.Batch]:
        return self._loader("val")

    def test_dataloader(self) -> Iterable[bt.Batch]:
        return self._loader("test")

    def on_after_batch_transfer(self, batch: bt.Batch, dataloader_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        training = self.trainer is not None and self.trainer.training
        return self.transform(images, train=training), labels  # type: ignore[misc]

    def describe(self) -> str:
        """One line for the logs: sizes, shape, where the data lives, normalisation, adaptation, augmentation."""
        spec = self.spec
        head = f"data={spec.name} {fmt_shape(spec.shape)}, batch {spec.batch_size}"
        if not self.parts:
            return f"{head} (not loaded yet)"
        sizes = " / ".join(f"{part_size(self.parts[s])} {s}" for s in STAGES)
        where = self._where()
        norm = f"mean {_rounded(self.transform.mean)} std {_rounded(self.transform.std)}" if self.transform else ""
        extra = [f"adapted to {fmt_shape(self.model_input)}"] if self.model_input != spec.shape else []
        if spec.augment.active:
            extra.append(f"augment translate {spec.augment.translate}px flip {spec.augment.flip}")
        return ", ".join([f"{head}: {sizes} images, {len(self.class_names)} classes", where, norm, *extra])

    def _where(self) -> str:
        if self.spec.in_memory:
            total = sum(self._tensors(stage).nbytes for stage in self.parts)
            return f"uint8 in memory on {self._tensors('train').images.device} ({total / 2**20:.1f} MiB)"
        return f"streamed from {self.spec.root} by {self.spec.num_workers} worker(s)"

    def _check(self, source: Source) -> None:
        spec = self.spec
        count = len(source.classes)
        if spec.num_classes is not None and spec.num_classes != count:
            origin = source.origin or f"data={spec.name} has {count} classes"
            raise ConfigError(
                f"data.num_classes={spec.num_classes} but {origin}; set data.num_classes={count}, "
                f"or null to follow the data."
            )
        if isinstance(source.train, Tensors) and tuple(source.train.images.shape[1:]) != spec.shape:
            native = fmt_shape(tuple(source.train.images.shape[1:]))
            raise ConfigError(
                f"data.channels/height/width say {fmt_shape(spec.shape)} but data={spec.name} images are {native}; "
                f"these keys state the data's own shape (set them to {native}); to feed a model of another "
                f"shape, set data.adapt=true."
            )

    def _stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        spec, train = self.spec, self.parts["train"]
        mean, std = spec.mean, spec.std
        if (mean is None or std is None) and isinstance(train, Tensors):
            measured = channel_stats(train.images)
            mean, std = mean or measured[0], std or measured[1]
        return mean or (STREAMED_MEAN,) * spec.channels, std or (STREAMED_MEAN,) * spec.channels

    def _shard(self) -> bt.Shard:
        if self.trainer is None:
            return bt.Shard()
        return bt.Shard(rank=self.trainer.global_rank, world=self.trainer.world_size)

    def _epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def _done(self) -> int:
        """Batches of the current epoch already trained, when resuming from a mid-epoch checkpoint (else 0)."""
        fit_loop = getattr(self.trainer, "fit_loop", None)
        loop = fit_loop.epoch_loop if fit_loop is not None else None
        return loop.batch_progress.current.completed if loop is not None and loop.restarting else 0

    def _tensors(self, stage: str) -> Tensors:
        part = self.parts[stage]
        assert isinstance(part, Tensors), "data.in_memory: setup() decodes every part to tensors"
        return part

    def _loader(self, stage: str) -> Iterable[bt.Batch]:
        if not self.parts:
            raise RuntimeError("ImageDataModule: call setup() before asking for a dataloader")
        part, spec, shard = self.parts[stage], self.spec, self._shard()
        if self.spec.in_memory:
            if stage == "train":
                return bt.TrainBatches(
                    self._tensors(stage), spec.batch_size, self.order_seed, shard, self._epoch, self._done
                )
            return bt.EvalBatches(self._tensors(stage), spec.batch_size, shard)
        pin = self._device().type == "cuda"
        seed = self.order_seed if stage == "train" else None
        return bt.stream_loader(as_dataset(part), spec.batch_size, spec.num_workers, shard, seed, pin)


def _rounded(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.4f}" for v in values) + "]"


@dataclass
class RememberedHookChoice(_DataHookSelector):
    """Lightning's choice between the model's and the data module's batch-transfer hooks, made once per hook.

    Lightning asks anew for every batch and each of its three transfer hooks, two `is_overridden` checks each
    (about 9 µs per training step, warm, on the development CPU, docs/benchmarks.md); neither object changes its
    methods during a run, so the first answer is the answer.
    """

    chosen: dict[str, pl.LightningModule | pl.LightningDataModule] = field(default_factory=dict)

    def get_instance(self, hook_name: str) -> pl.LightningModule | pl.LightningDataModule:
        instance = self.chosen.get(hook_name)
        if instance is None:
            instance = self.chosen[hook_name] = super().get_instance(hook_name)
        return instance


def remember_hook_choice(trainer: pl.Trainer) -> None:
    """Put a RememberedHookChoice in place of the trainer's hook selector (set when fit, test, ... attach the data)."""
    connector = trainer._data_connector
    selector = connector._datahook_selector  # None until fit, test, ... attach the data
    if selector is not None and not isinstance(selector, RememberedHookChoice):
        connector._datahook_selector = RememberedHookChoice(selector.model, selector.datamodule)
