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
from cnnexp.train.speed import resolve_precision
from cnnexp_side import compose_cfg, fit, run_dir
from goals import figure
from hooks import EpochCallback, WindowCallback
from peers import classic_epoch, normaliser, plain_loop
from sizes import Size
from splits import train_split, write_mnist
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
        return f"CPU ({torch.get_num_threads()} threads)"

    @property
    def gpu(self) -> bool:
        return self.device.type == "cuda"

    def overrides(self, *extra: str, val_images: int | None = None) -> list[str]:
        accelerator = ["trainer.accelerator=gpu", "trainer.devices=1"] if self.gpu else ["trainer.accelerator=cpu"]
        return [f"data.root={self.data_root}", *self.size.digits_overrides(val_images), *accelerator, f"seed={self.seed}", *extra]

    def cfg(self, run: str, *extra: str, val_images: int | None = None) -> DictConfig:
        return compose_cfg(*self.overrides(*extra, val_images=val_images), run_dir(self.tmp, run))

    def net(self, cfg: DictConfig) -> nn.Module:
        """The composed model, built by cnnexp's builder, seeded as the runner seeds it: the peers' copy."""
        torch.manual_seed(self.seed)
        return build(model_spec(cfg)).to(self.device)


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


def lenet_epoch(bench: Bench, goal: Goal) -> tuple[Row, float]:
    """One training epoch over every train image: cnnexp vs the classic pipeline. Also returns cnnexp's seconds."""
    size = bench.size
    base = bench.cfg("epoch_split", "trainer.max_epochs=1", val_images=0)
    split = train_split(base)
    root = write_mnist(split, bench.tmp / "mnist_copy")
    lr = float(base.optimizer.lr)

    def ours(rep: int) -> float:
        clock = EpochCallback()
        fit(bench.cfg(f"epoch{rep}", "trainer.max_epochs=1", val_images=0), [clock])
        return clock.seconds

    def peer(rep: int) -> float:
        return classic_epoch(bench.net(base), root, split.mean, split.std, size.batch, lr, bench.device)

    measured_pairs = pairs(size.repeats, ours, peer)
    ours_s = [o for o, _ in measured_pairs]
    ratios = [peer_s / o for o, peer_s in measured_pairs]  # how many times faster cnnexp's epoch is
    row = measured(
        figure("lenet_epoch", len(split.labels)), bench.device_name,
        f"{median(ours_s):.2f} s", f"{median([p for _, p in measured_pairs]):.2f} s", median(ratios),
        f"{median(ratios):.2f}× faster ({spread(ratios)})", goal,
    )  # fmt: skip
    return row, median(ours_s)
