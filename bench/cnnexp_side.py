"""cnnexp's side of the rows: the real conf/ composed as the command line composes it, the real `assemble` and
`trainer.fit`, the clocks put inside the runner as Lightning callbacks, and the data every row shares.

The peers train on exactly the images cnnexp trains on: the split comes from cnnexp's data module, and the
classic pipeline reads the same images through torchvision.datasets.MNIST from IDX files written here (the
format torchvision reads MNIST from), so the only difference between the sides is the pipeline.

Everything the runner does by default stays on (its metrics, logger, checkpoints, progress bar, throughput
meter): the figures are those of `python -m cnnexp`, not of a stripped-down copy.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig
from peers import StepWindow, sync
from table import Size
from torch import Tensor, nn

from cnnexp import CONF_DIR
from cnnexp.data.module import ImageDataModule
from cnnexp.data.transforms import BatchTransform
from cnnexp.model.builder import build
from cnnexp.run import read_run
from cnnexp.schemas import register_schemas
from cnnexp.tasks.assemble import Experiment, assemble
from cnnexp.train.speed import channels_last_for, resolve_precision


def compose_cfg(*overrides: str) -> DictConfig:
    """The composed config of `python -m cnnexp OVERRIDES...` (output_dir must be among the overrides).

    Hydra is set up once for the bench's process: setting it up again for each of a run's dozen configs cost
    more than composing them."""
    if not GlobalHydra.instance().is_initialized():
        register_schemas()
        initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3")
    return compose(config_name="config", overrides=list(overrides))


def quiet_lightning() -> None:
    """Lightning's per-run info lines ('GPU available: ...') would bury the table; warnings still show."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)


def fit(cfg: DictConfig, clocks: list[pl.Callback]) -> Experiment:
    """assemble + trainer.fit with the clocks added (speed settings come from the config, as in a run)."""
    exp = assemble(read_run(cfg))
    exp.trainer.callbacks.extend(clocks)
    exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    return exp


@dataclass(frozen=True)
class Bench:
    """Where and at what size a set of rows runs; every cnnexp config of the rows comes from here."""

    size: Size
    device: torch.device
    tmp: Path
    data_root: Path
    seed: int = 0

    @property
    def device_name(self) -> str:
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        threads = torch.get_num_threads()
        return f"CPU, {threads} thread{'s' if threads > 1 else ''}"

    @property
    def gpu(self) -> bool:
        return self.device.type == "cuda"

    def overrides(self, *extra: str, val_images: int | None = None, batch: int | None = None) -> list[str]:
        accelerator = ["trainer.accelerator=gpu", "trainer.devices=1"] if self.gpu else ["trainer.accelerator=cpu"]
        digits = self.size.digits_overrides(val_images, batch)
        return [f"data.root={self.data_root}", *digits, *accelerator, f"seed={self.seed}", *extra]

    def cfg(self, run: str, *extra: str, val_images: int | None = None, batch: int | None = None) -> DictConfig:
        overrides = self.overrides(*extra, val_images=val_images, batch=batch)
        return compose_cfg(*overrides, f"output_dir={self.tmp / 'runs' / run}")

    def net(self, cfg: DictConfig, runner_layout: bool = True) -> nn.Module:
        """The composed model, built by cnnexp's builder, seeded as the runner seeds it: the peers' copy.

        `runner_layout`: in the memory format the runner's config gives it (the plain loop matches the runner
        in everything but the framework); False for the classic pipeline, which is NCHW as its authors wrote it.
        """
        torch.manual_seed(self.seed)
        net = build(read_run(cfg).model).to(self.device)
        if runner_layout and channels_last_of(cfg, self.device):
            net = net.to(memory_format=torch.channels_last)
        return net


def channels_last_of(cfg: DictConfig, device: torch.device) -> bool:
    """Whether the runner trains this config in channels_last: what its `callbacks.speed` entry decides, if any."""
    entry = cfg.callbacks.get("speed") if cfg.get("callbacks") else None
    return bool(entry) and channels_last_for(device.type, entry.get("channels_last"))


def precision_of(cfg: DictConfig) -> str:
    """The precision the runner trains with (its config's, resolved for the device), for the peer to match."""
    trainer = {"precision": cfg.trainer.precision or "32-true", "accelerator": str(cfg.trainer.accelerator)}
    return str(resolve_precision(trainer)["precision"])


class WindowCallback(pl.Callback):
    """A StepWindow over the runner's training iterations (counted across epochs)."""

    def __init__(self, window: StepWindow) -> None:
        self.window = window
        self.iterations = 0

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int) -> None:
        self.window.at_start(self.iterations, module.device)
        self.iterations += 1


class PairedSteps(pl.Callback):
    """Each training iteration of the runner followed by one of the plain loop, in this process, both timed.

    The runner's iteration is timed from the return of this hook to its next call: everything it does for one
    step (fetch, transforms, hooks, step, logging) and nothing of the plain loop's. Taken in turns, both sides
    see the same state of a busy machine, so their difference holds steady where separate runs drift by more
    than the difference. CPU only: on a GPU each clock would have to wait for the device. `clock`: wall time by
    default; bench/where.py reads the process's CPU time, which other processes' load does not inflate.
    """

    def __init__(self, plain: Iterator[int], clock: Callable[[], float] = time.perf_counter) -> None:
        self.plain, self.clock = plain, clock
        self.ours: list[float] = []  # seconds of each runner iteration
        self.peer: list[float] = []  # seconds of each plain iteration
        self._resumed: float | None = None

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int) -> None:
        start = self.clock()
        if self._resumed is not None:
            self.ours.append(start - self._resumed)
        with torch.enable_grad():
            next(self.plain)  # the previous plain batch's step, then the next batch fetched and prepared
        self._resumed = self.clock()
        self.peer.append(self._resumed - start)

    def means(self, timed: slice) -> tuple[float, float]:
        """Mean seconds per iteration (runner, plain loop) over the `timed` iterations."""
        ours, peer = self.ours[timed], self.peer[timed]
        return sum(ours) / len(ours), sum(peer) / len(peer)


class EpochCallback(pl.Callback):
    """Seconds of the first training epoch: from its start to the end of its last batch (validation after)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.current_epoch == 0:
            sync(module.device)
            self._start = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, out: Any, batch: Any, idx: int
    ) -> None:
        if self._start is not None and idx + 1 == trainer.num_training_batches:
            sync(module.device)
            self.seconds = time.perf_counter() - self._start
            self._start = None


class FirstStepProbe(pl.Callback):
    """For `python -m cnnexp +callbacks.first_step._target_=cnnexp_side.FirstStepProbe`: the start-up row.

    Writes the wall-clock time at which the first training step is about to run; the run goes on (its peak
    memory is the memory row's).
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.stamped = False

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int) -> None:
        if not self.stamped:  # the first step alone; a flag, not a look at the file every step
            self.path.write_text(repr(time.time()))
            self.stamped = True


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
    run = read_run(cfg)
    datamodule = ImageDataModule(run.data, run.model.input_shape)
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
    for prefix, images, labels in (
        ("train", split.images, split.labels),
        ("t10k", split.test_images, split.test_labels),
    ):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", IDX_IMAGES, images[:, 0])
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", IDX_LABELS, labels.to(torch.uint8))
    return root


def _write_idx(path: Path, magic: int, values: Tensor) -> None:
    header = struct.pack(f">{1 + values.dim()}i", magic, *values.shape)  # big-endian int32s
    path.write_bytes(header + values.contiguous().numpy().tobytes())
