"""The rows measured in this process: cnnexp's runner against the plain loop and the classic pipeline.

On a CPU the LeNet5 throughput and the framework cost per step come from paired steps (cnnexp_side.PairedSteps):
one runner iteration, one plain-loop iteration, in turns, in one process. On a GPU, where a per-step clock
would have to wait for the device, each side runs a window of steps alone. Either way each repeat measures
both sides, and a row shows the median over repeats with the spread.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchvision
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
from table import GPU, Goal, Row, figure, measured, median, spread

from cnnexp.train.speed import restore, set_tf32

# Later overrides win, as on the command line: these replace the LeNet5 size's batch.
ALEXNET = ("model=alexnet_torchvision", "data.adapt=true", "trainer.precision=bf16-mixed", "callbacks.speed.channels_last=true")
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


def paired_steps(bench: Bench, batch: int) -> list[tuple[float, float]]:
    """Mean seconds per iteration (cnnexp, plain loop) over the timed steps, per repeat (CPU)."""
    size = bench.size
    steps = f"trainer.max_steps={size.warmup + size.steps + 1}"  # the last start closes the last timed step
    base = bench.cfg(f"paired_split{batch}", steps, batch=batch)
    split = train_split(base)
    prep, lr = normaliser(split.mean, split.std, bench.device), float(base.optimizer.lr)
    results = []
    for rep in range(size.repeats):
        plain = plain_iterations(bench.net(base), split.images, split.labels, prep, batch, lr, bench.seed, precision_of(base))
        clock = PairedSteps(plain)
        fit(bench.cfg(f"paired{batch}_{rep}", steps, batch=batch), [clock])
        timed = slice(size.warmup, size.warmup + size.steps)
        ours, peer = clock.ours[timed], clock.peer[timed]
        results.append((sum(ours) / len(ours), sum(peer) / len(peer)))
    return results


def lenet_cpu_rows(bench: Bench, throughput: Goal, cost: Goal) -> list[Row]:
    """Throughput at the size's batch and the framework cost per step at that batch and a smaller one."""
    rows = []
    for batch in (bench.size.batch, bench.size.small_batch):
        measured_pairs = paired_steps(bench, batch)
        if batch == bench.size.batch:
            rows.append(_throughput_row(bench, measured_pairs, batch, throughput))
        costs = [(ours - peer) * 1e3 for ours, peer in measured_pairs]
        rows.append(measured(
            figure("step_cost", batch=batch), bench.device_name, f"{median([o for o, _ in measured_pairs]) * 1e3:.2f} ms/step",
            f"{median([p for _, p in measured_pairs]) * 1e3:.2f} ms/step", median(costs),
            f"{median(costs):.2f} ms ({spread(costs, 2)})", cost,
        ))  # fmt: skip
    return rows


def _throughput_row(bench: Bench, measured_pairs: list[tuple[float, float]], batch: int, goal: Goal) -> Row:
    """Images/s of each side and their ratio, from (cnnexp, peer) seconds per step or per window."""
    rate = [batch / ours for ours, _ in measured_pairs]
    peer_rate = [batch / peer for _, peer in measured_pairs]
    ratios = [peer / ours for ours, peer in measured_pairs]
    return measured(
        figure("lenet_throughput"), bench.device_name, f"{median(rate):,.0f} img/s", f"{median(peer_rate):,.0f} img/s",
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
        return plain_loop(bench.net(base), images, labels, prep, window, size.batch, lr, bench.seed, precision) / size.steps

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
