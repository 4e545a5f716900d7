"""The rows measured in this process: cnnexp's runner against the plain loop and the classic pipeline.

On a CPU the LeNet5 throughput and the framework cost per step come from paired steps (cnnexp_side.PairedSteps):
one runner iteration, one plain-loop iteration, in turns, in one process; and the same for the bare Lightning
loop (bench/bare.py), so that Lightning's own floor and what cnnexp adds to it are told apart, each side's cost
taken against the plain loop it ran beside. On a GPU, where a per-step clock
would have to wait for the device, each side runs a window of steps alone. Either way each repeat measures
both sides, and a row shows the median over repeats with the spread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torchvision
from bare import PreparedBatches, bare_fit
from cnnexp_side import (
    Bench,
    EpochCallback,
    PairedSteps,
    WindowCallback,
    data_path_seconds,
    fit,
    precision_of,
    train_split,
    write_mnist,
)
from omegaconf import DictConfig
from peers import (
    ClassicData,
    StepWindow,
    classic_data_seconds,
    classic_epoch,
    normaliser,
    plain_iterations,
    plain_loop,
    resizer,
)
from table import GPU, REFERENCE, Goal, Row, figure, measured, median, spread

from cnnexp.train.speed import restore, set_tf32

# Later overrides win, as on the command line: these replace the LeNet5 size's batch.
ALEXNET = (
    "model=alexnet_torchvision",
    "data.adapt=true",
    "trainer.precision=bf16-mixed",
    "callbacks.speed.channels_last=true",
)
SIDE = 224  # AlexNet's input: the digits are resized per batch on the device


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


@dataclass(frozen=True)
class Paired:
    """One repeat at one batch size: mean seconds per iteration of cnnexp and of the bare Lightning loop, each
    with the plain loop's iterations taken in turns with its own (the same plain loop, run twice)."""

    ours: float
    ours_plain: float
    bare: float
    bare_plain: float

    @property
    def cost(self) -> float:
        """cnnexp above the plain loop (ms)."""
        return (self.ours - self.ours_plain) * 1e3

    @property
    def floor(self) -> float:
        """Bare Lightning above the plain loop (ms): Lightning's own floor."""
        return (self.bare - self.bare_plain) * 1e3

    @property
    def added(self) -> float:
        """cnnexp above bare Lightning (ms): each side's cost over the plain loop it was paired with."""
        return self.cost - self.floor


def step_clock() -> Callable[[], float]:
    """The process's CPU time with one torch thread (other processes' load inflates it far less than wall time,
    and one thread keeps it equal to the work done); wall time with several (CPU time would add up threads)."""
    return time.process_time if torch.get_num_threads() == 1 else time.perf_counter


def clock_name() -> str:
    return "CPU time" if torch.get_num_threads() == 1 else "wall time"


def paired_steps(bench: Bench, batch: int) -> list[Paired]:
    """Per repeat: cnnexp's runner and the bare Lightning loop, each paired step by step with the plain loop (CPU);
    even repeats run cnnexp first, odd ones bare Lightning first."""
    size = bench.size
    steps = size.warmup + size.steps + 1  # the last start closes the last timed step
    base = bench.cfg(f"paired_split{batch}", f"trainer.max_steps={steps}", batch=batch)
    split = train_split(base)
    prep, lr, precision = normaliser(split.mean, split.std, bench.device), float(base.optimizer.lr), precision_of(base)
    timed = slice(size.warmup, size.warmup + size.steps)

    def plain() -> PairedSteps:
        iterations = plain_iterations(
            bench.net(base), split.images, split.labels, prep, batch, lr, bench.seed, precision
        )
        return PairedSteps(iterations, clock=step_clock())

    def ours(rep: int) -> tuple[float, float]:
        clock = plain()
        fit(bench.cfg(f"paired{batch}_{rep}", f"trainer.max_steps={steps}", batch=batch), [clock])
        return clock.means(timed)

    def bare(rep: int) -> tuple[float, float]:
        clock = plain()
        # Its own batches: the same images in another order (seed + 1), as cnnexp's differ from the plain loop's.
        data = PreparedBatches(split.images, split.labels, prep, batch, bench.seed + 1, steps)
        bare_fit(bench.net(base), data, lr, [clock], precision)
        return clock.means(timed)

    return [Paired(*o, *b) for o, b in pairs(size.step_repeats, ours, bare)]


def lenet_cpu_rows(bench: Bench, throughput: Goal, cost: Goal, added: Goal, near: Goal) -> list[Row]:
    """At the size's batch and a smaller one: the framework cost per step (cnnexp minus the plain loop),
    Lightning's floor (bare Lightning minus the plain loop) and what cnnexp adds to it (cnnexp minus bare
    Lightning); at the size's batch, the throughput against the plain loop, of cnnexp and of bare Lightning."""
    rows, device = [], f"{bench.device_name}, {clock_name()}"
    for batch in (bench.size.batch, bench.size.small_batch):
        paired = paired_steps(bench, batch)
        if batch == bench.size.batch:
            rows.append(_throughput_row(bench, [(p.ours, p.ours_plain) for p in paired], batch, throughput, device))
            rows.append(_near_bare_row(device, paired, near))
        ours, plain, bare = ([getattr(p, side) for p in paired] for side in ("ours", "ours_plain", "bare"))
        costs, floors, adds = ([getattr(p, figure) for p in paired] for figure in ("cost", "floor", "added"))
        rows += [
            measured(figure("step_cost", batch=batch), device, _ms(ours), _ms(plain), median(costs), _shown(costs), cost),
            Row(figure("lightning_floor", batch=batch), device, _ms(bare), _ms([p.bare_plain for p in paired]),
                _shown(floors), REFERENCE, REFERENCE),
            measured(figure("cnnexp_added", batch=batch), device, _ms(ours), _ms(bare), median(adds), _shown(adds), added),
        ]  # fmt: skip
    return rows


def _ms(seconds: list[float]) -> str:
    return f"{median(seconds) * 1e3:.2f} ms/step"


def _shown(ms: list[float]) -> str:
    return f"{median(ms):.2f} ms ({spread(ms, 2)})"


def _near_bare_row(device: str, measured_pairs: list[Paired], goal: Goal) -> Row:
    """cnnexp's throughput ratio against the plain loop beside bare Lightning's own, and how far apart they are."""
    ours = [p.ours_plain / p.ours for p in measured_pairs]
    bare = [p.bare_plain / p.bare for p in measured_pairs]
    gaps = [b - o for o, b in zip(ours, bare)]
    return measured(
        figure("near_bare"), device, f"{median(ours):.3f} of plain", f"{median(bare):.3f} of plain", median(gaps),
        f"{median(gaps):.3f} ({spread(gaps, 2)})", goal,
    )  # fmt: skip


def _throughput_row(
    bench: Bench, measured_pairs: list[tuple[float, float]], batch: int, goal: Goal, device: str | None = None
) -> Row:
    """Images/s of each side and their ratio, from (cnnexp, peer) seconds per step or per window (`device`: the
    device column, when it names the clock too)."""
    rate = [batch / ours for ours, _ in measured_pairs]
    peer_rate = [batch / peer for _, peer in measured_pairs]
    ratios = [peer / ours for ours, peer in measured_pairs]
    return measured(
        figure("lenet_throughput"), device or bench.device_name, f"{median(rate):,.0f} img/s", f"{median(peer_rate):,.0f} img/s",
        median(ratios), f"{median(ratios):.3f} ({spread(ratios)})", goal,
    )  # fmt: skip


def lenet_throughput_windows(bench: Bench, goal: Goal) -> Row:
    """Images/s over the same window of steps, each side alone (GPU): cnnexp's runner vs the plain loop."""
    size = bench.size
    steps = f"trainer.max_steps={size.warmup + size.steps + 1}"  # the window closes at the start of the last
    base = bench.cfg("throughput_split", steps)
    split = train_split(base)
    images, labels = split.images.to(bench.device), split.labels.to(bench.device)
    prep, lr, precision = normaliser(split.mean, split.std, bench.device), float(base.optimizer.lr), precision_of(base)

    def ours(rep: int) -> float:
        window = StepWindow(size.warmup, size.steps)
        fit(bench.cfg(f"throughput{rep}", steps), [WindowCallback(window)])
        return window.seconds / size.steps

    def peer(rep: int) -> float:
        window = StepWindow(size.warmup, size.steps)
        return (
            plain_loop(bench.net(base), images, labels, prep, window, size.batch, lr, bench.seed, precision)
            / size.steps
        )

    return _throughput_row(bench, pairs(size.repeats, ours, peer), size.batch, goal)


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


def alexnet_throughput(bench: Bench) -> tuple[Row, float]:
    """AlexNet (GPU): cnnexp's runner (bf16-mixed, channels_last) vs a plain loop over torchvision's AlexNet,
    both on the digits adapted per batch on the device (normalise, resize 28→224, grey→RGB), with Adam, the
    same batch and steps. Also returns cnnexp's images/s."""
    size = bench.size
    extra = (
        *ALEXNET, f"data.batch_size={size.alexnet_batch}",
        f"trainer.max_steps={size.alexnet_warmup + size.alexnet_steps + 1}",
        "trainer.limit_val_batches=0",  # no validation: only the training steps are timed (and, on a CPU, slow)
        # Nor the checkpoints written after the steps: 0.7 GB each with Adam's state, 2 s of a tiny run on a CPU.
        "callbacks.checkpoint=null", "callbacks.last=null",
    )  # fmt: skip
    base = bench.cfg("alexnet_split", *extra)
    split = train_split(base)
    images, labels = split.images.to(bench.device), split.labels.to(bench.device)
    prep = resizer(normaliser(split.mean, split.std, bench.device), SIDE, 3)
    lr = float(base.optimizer.lr)

    def ours(rep: int) -> float:
        window = StepWindow(size.alexnet_warmup, size.alexnet_steps)
        fit(bench.cfg(f"alexnet{rep}", *extra), [WindowCallback(window)])
        return window.seconds

    def peer(rep: int) -> float:
        torch.manual_seed(bench.seed)
        net = torchvision.models.alexnet(num_classes=10).to(bench.device, memory_format=torch.channels_last)
        window = StepWindow(size.alexnet_warmup, size.alexnet_steps)
        before = set_tf32(True)  # what cnnexp's SpeedUp sets on a GPU while it trains
        try:
            return plain_loop(net, images, labels, prep, window, size.alexnet_batch, lr, bench.seed, "bf16-mixed")
        finally:
            restore(before)

    measured_pairs = pairs(size.repeats, ours, peer)
    rate = [size.alexnet_batch * size.alexnet_steps / o for o, _ in measured_pairs]
    peer_rate = [size.alexnet_batch * size.alexnet_steps / p for _, p in measured_pairs]
    ratios = [p / o for o, p in measured_pairs]
    row = measured(
        figure("alexnet"), bench.device_name, f"{median(rate):,.0f} img/s", f"{median(peer_rate):,.0f} img/s",
        median(ratios), f"{median(ratios):.3f} ({spread(ratios)})", GPU["alexnet"],
    )  # fmt: skip
    return row, median(rate)


def absolute(bench: Bench, key: str, value: float, shown: str) -> Row:
    """A figure the issue fixes in absolute terms; measured on this run's GPU, whichever model it is."""
    return measured(figure(key, bench.size.train_images), bench.device_name, shown, "—", value, shown, GPU[key])
