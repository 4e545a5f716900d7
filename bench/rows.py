"""The LeNet5 rows measured in this process: cnnexp's runner against the plain loop and the classic pipeline.

Each repeat measures both sides back to back, alternating which goes first (so neither always inherits the
warmer caches), and forms the ratio of that pair; a row shows the median ratio and its spread. On a shared
machine the pairing is what keeps the ratio meaningful when the absolute figures drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn

from clocks import StepWindow
from cnnexp.experiment import model_spec
from cnnexp.model.builder import build
from cnnexp.train.speed import channels_last_for, resolve_precision
from cnnexp_side import compose_cfg, fit, run_dir
from goals import figure
from hooks import EpochCallback, WindowCallback
from peers import ClassicData, classic_data_seconds, classic_epoch, normaliser, plain_loop
from sizes import Size
from splits import data_path_seconds, train_split, write_mnist
from table import Goal, Row, measured, median, spread


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

    def overrides(self, *extra: str, val_images: int | None = None) -> list[str]:
        accelerator = ["trainer.accelerator=gpu", "trainer.devices=1"] if self.gpu else ["trainer.accelerator=cpu"]
        return [f"data.root={self.data_root}", *self.size.digits_overrides(val_images), *accelerator, f"seed={self.seed}", *extra]

    def cfg(self, run: str, *extra: str, val_images: int | None = None) -> DictConfig:
        return compose_cfg(*self.overrides(*extra, val_images=val_images), run_dir(self.tmp, run))

    def net(self, cfg: DictConfig, runner_layout: bool = True) -> nn.Module:
        """The composed model, built by cnnexp's builder, seeded as the runner seeds it: the peers' copy.

        `runner_layout`: in the memory format the runner's config gives it (the plain loop matches the runner
        in everything but the framework); False for the classic pipeline, which is NCHW as its authors wrote it.
        """
        torch.manual_seed(self.seed)
        net = build(model_spec(cfg)).to(self.device)
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


def pairs(repeats: int, ours: Callable[[int], float], peer: Callable[[int], float]) -> list[tuple[float, float]]:
    """(ours, peer) per repeat; even repeats run cnnexp first, odd ones the peer first."""
    results = []
    for rep in range(repeats):
        if rep % 2 == 0:
            first = ours(rep)
            results.append((first, peer(rep)))
        else:
            peer_first = peer(rep)
            results.append((ours(rep), peer_first))
    return results


def lenet_throughput(bench: Bench, goal: Goal) -> tuple[Row, float]:
    """Images/s over the same timed steps: cnnexp's runner vs the plain loop. Also returns cnnexp's images/s."""
    size = bench.size
    steps = f"trainer.max_steps={size.warmup + size.steps + 1}"  # the window closes at the start of the last
    base = bench.cfg("throughput_split", steps)
    split = train_split(base)
    images, labels = split.images.to(bench.device), split.labels.to(bench.device)
    prep, lr, precision = normaliser(split.mean, split.std, bench.device), float(base.optimizer.lr), precision_of(base)

    def ours(rep: int) -> float:
        window = StepWindow(size.warmup, size.steps)
        fit(bench.cfg(f"throughput{rep}", steps), [WindowCallback(window)])
        return window.seconds

    def peer(rep: int) -> float:
        window = StepWindow(size.warmup, size.steps)
        return plain_loop(bench.net(base), images, labels, prep, window, size.batch, lr, bench.seed, precision)

    measured_pairs = pairs(size.repeats, ours, peer)
    rate = [size.batch * size.steps / ours_s for ours_s, _ in measured_pairs]
    peer_rate = [size.batch * size.steps / peer_s for _, peer_s in measured_pairs]
    ratios = [peer_s / ours_s for ours_s, peer_s in measured_pairs]
    row = measured(
        figure("lenet_throughput", len(labels)), bench.device_name,
        f"{median(rate):,.0f} img/s", f"{median(peer_rate):,.0f} img/s", median(ratios),
        f"{median(ratios):.3f} ({spread(ratios)})", goal,
    )  # fmt: skip
    return row, median(rate)


def lenet_epoch(bench: Bench, goal: Goal) -> tuple[Row, float, str]:
    """One training epoch over every train image: cnnexp vs the classic pipeline.

    Also returns cnnexp's epoch seconds, and a note that splits each side's epoch into its data path alone
    (measured without the model) and the rest, which is where the ratio comes from.
    """
    size = bench.size
    epoch = ("trainer.max_epochs=1",)
    base = bench.cfg("epoch_split", *epoch, val_images=0)
    split = train_split(base)
    classic = ClassicData(write_mnist(split, bench.tmp / "mnist_copy"), split.mean, split.std, size.batch, bench.device)
    lr = float(base.optimizer.lr)

    def ours(rep: int) -> float:
        clock = EpochCallback()
        fit(bench.cfg(f"epoch{rep}", *epoch, val_images=0), [clock])
        return clock.seconds

    def peer(rep: int) -> float:
        return classic_epoch(bench.net(base, runner_layout=False), classic, lr)

    measured_pairs = pairs(size.repeats, ours, peer)
    ours_s, peer_s = [o for o, _ in measured_pairs], [p for _, p in measured_pairs]
    ratios = [p / o for o, p in measured_pairs]  # how many times faster cnnexp's epoch is
    row = measured(
        figure("lenet_epoch", len(split.labels)), bench.device_name, f"{median(ours_s):.2f} s",
        f"{median(peer_s):.2f} s", median(ratios), f"{median(ratios):.2f}× faster ({spread(ratios)})", goal,
    )  # fmt: skip
    note = _data_path_note(bench, base, classic, median(ours_s), median(peer_s))
    return row, median(ours_s), note


def _data_path_note(bench: Bench, cfg: DictConfig, classic: ClassicData, ours_s: float, peer_s: float) -> str:
    ours_data = median([data_path_seconds(cfg, bench.device) for _ in range(bench.size.repeats)])
    peer_data = median([classic_data_seconds(classic) for _ in range(bench.size.repeats)])
    return (
        f"LeNet5 epoch on {bench.device_name}: the data path alone (no model) takes {ours_data:.3f} s in cnnexp "
        f"(uint8 in memory, gathered and normalised per batch) and {peer_data:.3f} s in the classic pipeline "
        f"(per-sample PIL decode, ToTensor, Normalize, collate), {peer_data / ours_data:.0f}× more; the rest of "
        f"each epoch (model step, framework) is {ours_s - ours_data:.2f} s in cnnexp and "
        f"{peer_s - peer_data:.2f} s in the classic loop."
    )
