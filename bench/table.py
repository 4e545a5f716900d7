"""The benchmark's table: the sizes it runs at, each row's figure and goal per device, and the Markdown.

Every row uses one Size for both of its sides, so cnnexp and its peer always see the same model, data,
batch size and number of steps.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

COLUMNS = ("figure", "device", "cnnexp", "peer", "ratio", "goal", "met")
NOT_MEASURED = "not measured"
REFERENCE = "reference"  # the goal and met cells of a row that is measured to read others by (Lightning's floor)


@dataclass(frozen=True)
class Size:
    name: str
    train_images: int  # digits rendered for the train split (data.train_size)
    test_images: int  # digits rendered for the test split (data.test_size)
    val_images: int  # held out of train by cnnexp (data.val_size); the other rows train on the rest
    batch: int  # LeNet5 batch size, both sides
    small_batch: int  # the second framework-cost row: a smaller step, where a fixed cost weighs more
    warmup: int  # steps run before the clocks start (first-call costs, allocator growth)
    steps: int  # steps timed by the throughput and framework-cost rows
    repeats: int  # each pair of sides is measured this many times; figures are medians
    step_repeats: int  # the same for the per-step rows, whose goal (0.15 ms) is about the spread of three repeats
    memory_steps: int  # steps of the peak-memory runs (the peak is reached within the first few)
    alexnet_batch: int  # the GPU rows: AlexNet at 224×224
    alexnet_steps: int
    alexnet_warmup: int  # apart from `warmup`: at the tiny size these rows run on a CPU, seconds per step in bf16

    def digits_overrides(self, val_images: int | None = None, batch: int | None = None) -> list[str]:
        """cnnexp overrides that render (or read from the cache) this size's digits; `val_images` replaces the
        size's hold-out (0: every train image is trained on), `batch` the batch size."""
        val = self.val_images if val_images is None else val_images
        return [
            f"data.train_size={self.train_images}", f"data.test_size={self.test_images}",
            f"data.val_size={val}", f"data.batch_size={batch or self.batch}",
        ]  # fmt: skip


FULL = Size(
    name="full", train_images=60000, test_images=10000, val_images=5000, batch=128, small_batch=32, warmup=20,
    steps=300, repeats=3, step_repeats=5, memory_steps=50, alexnet_batch=256, alexnet_steps=100, alexnet_warmup=20,
)  # fmt: skip
# Small enough that the whole command runs in well under a minute on a 2-core CPU; figures are noise.
TINY = Size(
    name="tiny", train_images=1000, test_images=300, val_images=200, batch=32, small_batch=8, warmup=2, steps=8,
    repeats=1, step_repeats=1, memory_steps=3, alexnet_batch=1, alexnet_steps=1, alexnet_warmup=1,
)  # fmt: skip
SIZES = {size.name: size for size in (FULL, TINY)}


@dataclass(frozen=True)
class Goal:
    text: str  # as the issue states it, e.g. "≥ 0.95"
    bound: float
    at_least: bool  # True: the figure must be >= bound; False: <= bound (or < for times, same in practice)

    def met(self, value: float) -> bool:
        return value >= self.bound if self.at_least else value <= self.bound


FIGURES = {
    "lenet_throughput": "LeNet5 training throughput, cnnexp vs a plain PyTorch loop over in-memory batches",
    "step_cost": "framework cost per training step, cnnexp minus the plain loop (LeNet5, batch {batch})",
    "lightning_floor": "Lightning's floor per training step, a bare Lightning loop minus the plain loop (LeNet5, batch {batch})",
    "cnnexp_added": "what cnnexp adds per training step, cnnexp minus the bare Lightning loop (LeNet5, batch {batch})",
    "near_bare": "LeNet5 throughput against the plain loop, cnnexp's ratio vs the bare Lightning loop's (gap)",
    "lenet_epoch": "LeNet5 epoch ({images} images), cnnexp vs the classic pipeline (torchvision MNIST reader + "
    "DataLoader, per-sample ToTensor/Normalize)",
    "startup": "start-up: command to first training step, minus the time to import torch, Lightning and Hydra",
    "memory": "peak memory (RSS) of a LeNet5 run on {images} images, cnnexp vs the plain loop",
    "alexnet": "AlexNet (torchvision layout, 224×224, bf16-mixed, channels_last) training throughput vs a plain "
    "loop over torchvision.models.alexnet, same GPU",
    "alexnet_absolute": "AlexNet training images/s on one H100 (absolute)",
    "epoch_absolute": "LeNet5 epoch of {images} embedded digits on one H100, in-memory path (absolute)",
}
CPU = {
    "lenet_throughput": Goal("≥ 0.98 on CPU", 0.98, at_least=True),
    "step_cost": Goal("≤ 0.15 ms on CPU", 0.15, at_least=False),
    "cnnexp_added": Goal("≤ 0.15 ms on CPU", 0.15, at_least=False),
    "near_bare": Goal("≤ 0.02", 0.02, at_least=False),
    "lenet_epoch": Goal("≥ 1.2× faster on CPU", 1.2, at_least=True),
    "startup": Goal("< 1 s", 1.0, at_least=False),
    "memory": Goal("≤ 1.1×", 1.1, at_least=False),
}
GPU = {
    "lenet_throughput": Goal("≥ 0.90 on GPU", 0.90, at_least=True),
    "lenet_epoch": Goal("≥ 5× faster on GPU", 5.0, at_least=True),
    "alexnet": Goal("≥ 0.97", 0.97, at_least=True),
    "alexnet_absolute": Goal("≥ 50,000 img/s", 50000.0, at_least=True),
    "epoch_absolute": Goal("< 0.3 s", 0.3, at_least=False),
}


def figure(key: str, images: int = 0, batch: int = 0) -> str:
    return FIGURES[key].format(images=f"{images:,}", batch=batch)


@dataclass(frozen=True)
class Row:
    figure: str
    device: str
    cnnexp: str
    peer: str
    ratio: str
    goal: str
    met: str  # "yes", "no", or "not measured: why"

    def cells(self) -> tuple[str, ...]:
        return (self.figure, self.device, self.cnnexp, self.peer, self.ratio, self.goal, self.met)


def measured(figure: str, device: str, cnnexp: str, peer: str, value: float, shown: str, goal: Goal) -> Row:
    return Row(figure, device, cnnexp, peer, shown, goal.text, "yes" if goal.met(value) else "no")


def not_measured(figure: str, device: str, goal: str, why: str) -> Row:
    return Row(figure, device, "—", "—", "—", goal, f"{NOT_MEASURED}: {why}")


def not_measured_gpu_rows(why: str, images: int) -> list[Row]:
    return [not_measured(figure(key, images), "no GPU", goal.text, why) for key, goal in GPU.items()]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float], digits: int = 3) -> str:
    """min–max of the repeats, so a reader sees the noise behind a median."""
    return f"{min(values):.{digits}g}–{max(values):.{digits}g}" if len(values) > 1 else "one run"


def markdown(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row.cells()) + " |" for row in rows]
    return "\n".join(lines)
