"""The GPU rows: AlexNet (torchvision's layout, 224×224, bf16-mixed, channels_last) against a plain loop over
torchvision.models.alexnet, and the absolute figures the issue sets for one H100.

Both AlexNet sides train on the digits adapted per batch on the device (normalise, resize 28→224 with
antialiasing, grey→RGB), the same operations on both sides, with Adam, the same batch size and steps.
On a machine without a GPU every row here is reported as not measured, never estimated.
"""

from __future__ import annotations

import torch
import torchvision

from clocks import StepWindow
from cnnexp_side import fit
from goals import GPU, figure
from hooks import WindowCallback
from peers import normaliser, plain_loop, resizer
from rows import Bench, pairs
from splits import train_split
from table import Goal, Row, measured, median, not_measured, spread

# Later overrides win, as on the command line: these replace the LeNet5 size's batch.
ALEXNET = ("model=alexnet_torchvision", "data.adapt=true", "trainer.precision=bf16-mixed", "callbacks.speed.channels_last=true")
PRECISION = "bf16-mixed"
SIDE = 224

def not_measured_rows(why: str, images: int) -> list[Row]:
    return [not_measured(figure(key, images), "no GPU", goal.text, why) for key, goal in GPU.items()]


def alexnet_throughput(bench: Bench) -> tuple[Row, float]:
    """cnnexp's runner (callbacks.speed: channels_last) vs the plain loop; also returns cnnexp's images/s."""
    size = bench.size
    extra = (*ALEXNET, f"data.batch_size={size.alexnet_batch}", f"trainer.max_steps={size.warmup + size.alexnet_steps + 1}")
    base = bench.cfg("alexnet_split", *extra)
    split = train_split(base)
    images, labels = split.images.to(bench.device), split.labels.to(bench.device)
    prep = resizer(normaliser(split.mean, split.std, bench.device), SIDE, 3)
    lr = float(base.optimizer.lr)
    torch.set_float32_matmul_precision("high")  # what SpeedUp sets on a GPU, so the peer gets it too

    def ours(rep: int) -> float:
        window = StepWindow(size.warmup, size.alexnet_steps)
        fit(bench.cfg(f"alexnet{rep}", *extra), [WindowCallback(window)])
        return window.seconds

    def peer(rep: int) -> float:
        torch.manual_seed(bench.seed)
        net = torchvision.models.alexnet(num_classes=10).to(bench.device, memory_format=torch.channels_last)
        window = StepWindow(size.warmup, size.alexnet_steps)
        return plain_loop(net, images, labels, prep, window, size.alexnet_batch, lr, bench.seed, PRECISION)

    measured_pairs = pairs(size.repeats, ours, peer)
    rate = [size.alexnet_batch * size.alexnet_steps / o for o, _ in measured_pairs]
    peer_rate = [size.alexnet_batch * size.alexnet_steps / p for _, p in measured_pairs]
    ratios = [p / o for o, p in measured_pairs]
    row = measured(
        figure("alexnet", len(labels)), bench.device_name, f"{median(rate):,.0f} img/s", f"{median(peer_rate):,.0f} img/s",
        median(ratios), f"{median(ratios):.3f} ({spread(ratios)})", GPU["alexnet"],
    )  # fmt: skip
    return row, median(rate)


def absolute(bench: Bench, key: str, value: float, shown: str) -> Row:
    """A figure the issue fixes in absolute terms; measured on this run's GPU, whichever model it is."""
    return measured(figure(key, bench.size.train_images), bench.device_name, shown, "—", value, shown, GPU[key])
