"""The peers cnnexp is measured against.

- The plain loop: the floor of overhead. uint8 images already on the device, a per-epoch permutation, each
  batch gathered by index and normalised on the device, then forward, loss, backward, step; no framework,
  no metrics, no logging.
- The bare Lightning loop: Lightning's own floor. The plain loop's model, optimiser, batches and
  preparation, trained by a pl.Trainer with nothing of its own switched on: no logger, no checkpoints, no
  progress bar, no model summary, no validation; only the caller's clock callback. What cnnexp costs above
  it is what cnnexp adds; what it costs above the plain loop is Lightning's.
- The classic pipeline, as pytorch/examples' mnist/main.py (and lightning-hydra-template's MNIST module)
  write it: torchvision.datasets.MNIST with per-sample ToTensor + Normalize, a shuffling DataLoader
  (num_workers=1 and pinned memory on a GPU, as pytorch/examples sets them; none on a CPU), `.to(device)`
  per batch, and `loss.item()` every 10 batches (its log_interval).

Both share cnnexp_side's clock rule: a clock reads time at the start of an iteration (after its batch is
fetched and prepared, before its step) and, on a GPU, synchronises there, so a window of N iterations holds N
fetches, N preparations and N steps on either side, and nothing is synchronised inside the window.

`python bench/peers.py SPEC.json` runs the plain loop as a process of its own, for the peak-memory row: it
imports torch and cnnexp's torch-only modules (the layer builder, the digits cache reader) and nothing of
Lightning or Hydra, so its peak RSS is the floor a LeNet5 run on these images can reach: the interpreter,
torch, the dataset once as uint8 on the device, the model, its gradients and Adam's state.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

Prep = Callable[[Tensor], Tensor]  # uint8 (B, C, H, W) on the device -> the model's float input
LOG_INTERVAL = 10  # pytorch/examples mnist: --log-interval default


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepWindow:
    """Seconds from the start of iteration `first` to the start of iteration `first + count`."""

    def __init__(self, first: int, count: int) -> None:
        self.first, self.count = first, count
        self.seconds = 0.0
        self._start = 0.0

    @property
    def last(self) -> int:
        """The iteration whose start closes the window: run at least last + 1 iterations."""
        return self.first + self.count

    def at_start(self, index: int, device: torch.device) -> None:
        if index == self.first:
            sync(device)
            self._start = time.perf_counter()
        elif index == self.last:
            sync(device)
            self.seconds = time.perf_counter() - self._start


def autocast(device: torch.device, precision: str) -> AbstractContextManager[object]:
    """What Lightning's precision plugin wraps the forward in: bf16-mixed, 16-mixed, or nothing (32-true)."""
    dtypes = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
    if precision not in dtypes:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtypes[precision])


def normaliser(mean: tuple[float, ...], std: tuple[float, ...], device: torch.device) -> Prep:
    """(x / 255 - mean) / std as one multiply-add, per channel: the same arithmetic as cnnexp's BatchTransform."""
    scale = torch.tensor([1 / (255 * s) for s in std], device=device).view(-1, 1, 1)
    shift = torch.tensor([-m / s for m, s in zip(mean, std)], device=device).view(-1, 1, 1)
    return lambda x: torch.addcmul(shift, x.float(), scale)


def resizer(normalise: Prep, size: int, channels: int) -> Prep:
    """Normalise, resize (bilinear, antialiased) and repeat a grey channel: digits fed to AlexNet."""

    def prep(x: Tensor) -> Tensor:
        x = F.interpolate(normalise(x), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return x.expand(-1, channels, -1, -1).contiguous()

    return prep


def in_memory_batches(images: Tensor, labels: Tensor, batch: int, seed: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Batches gathered by index from a fresh permutation each epoch, for as long as the caller asks."""
    epoch = 0
    while True:
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed + epoch))
        order = order.to(images.device)
        for start in range(0, len(order), batch):
            take = order[start : start + batch]
            yield images[take], labels[take]
        epoch += 1


def train_step(net: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, precision: str) -> Tensor:
    optimizer.zero_grad(set_to_none=True)
    with autocast(x.device, precision):
        loss = F.cross_entropy(net(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach()


def plain_iterations(
    net: nn.Module, images: Tensor, labels: Tensor, prep: Prep, batch: int, lr: float, seed: int,
    precision: str = "32-true",
) -> Iterator[int]:  # fmt: skip
    """The plain loop, endless: yields each iteration's index once its batch is fetched and prepared; the
    step on that batch runs when the caller resumes it."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    for index, (x, y) in enumerate(in_memory_batches(images, labels, batch, seed)):
        x = prep(x)
        yield index
        train_step(net, optimizer, x, y, precision)


def plain_loop(
    net: nn.Module, images: Tensor, labels: Tensor, prep: Prep, window: StepWindow, batch: int,
    lr: float, seed: int, precision: str = "32-true",
) -> float:  # fmt: skip
    """Seconds of `window.count` iterations of the plain loop, after `window.first` warm-up iterations."""
    for index in plain_iterations(net, images, labels, prep, batch, lr, seed, precision):
        window.at_start(index, images.device)
        if index == window.last:
            return window.seconds
    raise AssertionError("unreachable: plain_iterations never ends")


@dataclass(frozen=True)
class ClassicData:
    """pytorch/examples' MNIST input pipeline over the MNIST files under `root`."""

    root: Path
    mean: tuple[float, ...]
    std: tuple[float, ...]
    batch: int
    device: torch.device

    def loader(self) -> DataLoader:
        from torchvision import datasets, transforms  # only this peer needs torchvision

        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(self.mean, self.std)])
        dataset = datasets.MNIST(str(self.root), train=True, download=False, transform=transform)
        cuda = {"num_workers": 1, "pin_memory": True} if self.device.type == "cuda" else {}
        return DataLoader(dataset, batch_size=self.batch, shuffle=True, **cuda)


def classic_data_seconds(data: ClassicData) -> float:
    """One epoch of the classic pipeline's batches alone (decode, per-sample transforms, collate, copy)."""
    sync(data.device)
    start = time.perf_counter()
    for x, y in data.loader():
        x.to(data.device), y.to(data.device)
    sync(data.device)
    return time.perf_counter() - start


def classic_epoch(net: nn.Module, data: ClassicData, lr: float) -> float:
    """Seconds of one training epoch of `net` fed by the classic pipeline, as pytorch/examples trains."""
    loader, device = data.loader(), data.device
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    sync(device)
    start = time.perf_counter()
    for index, (x, y) in enumerate(loader):
        loss = train_step(net, optimizer, x.to(device), y.to(device), "32-true")
        if index % LOG_INTERVAL == 0:
            loss.item()  # pytorch/examples prints it; the host waits for the device here
    sync(device)
    return time.perf_counter() - start


def main(spec_path: str) -> None:
    """SPEC.json: {model: the composed model config, data_root, train_size, test_size, seed, batch, steps, lr, device,
    imports_peak_path: where to write the peak RSS of the imports alone}."""
    from cnnexp.data.digits import load_digits  # torch-only parts of cnnexp, imported by the child alone
    from cnnexp.model.builder import build
    from cnnexp.model.spec import parse_model
    from cnnexp.train.allocator import keep_freed_memory

    spec = json.loads(Path(spec_path).read_text())
    keep_freed_memory()  # the allocator setting cnnexp's runner makes on a CPU: the row compares the loops alone
    # The peak so far is the imports' alone (the memory row's note).
    Path(spec["imports_peak_path"]).write_text(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
    device = torch.device(spec["device"])
    splits = load_digits(Path(spec["data_root"]), spec["train_size"], spec["test_size"], spec["seed"])
    images, labels = splits["train"]  # the test split stays held too, as in cnnexp's run
    images, labels = images.unsqueeze(1).to(device), labels.to(device)  # (N, 1, 28, 28) uint8, as cnnexp holds it
    scaled = images[:1000].float().div_(255)
    mean, std = (scaled.mean().item(),), (scaled.std().item(),)  # a sample suffices: only the arithmetic matters here
    torch.manual_seed(spec["seed"])
    net = build(parse_model(spec["model"])).to(device)
    window = StepWindow(0, spec["steps"])
    plain_loop(net, images, labels, normaliser(mean, std, device), window, spec["batch"], spec["lr"], spec["seed"])


if __name__ == "__main__":
    main(sys.argv[1])
