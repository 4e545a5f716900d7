"""The peers cnnexp is measured against.

- The plain loop: the floor of overhead. uint8 images already on the device, a per-epoch permutation, each
  batch gathered by index and normalised on the device, then forward, loss, backward, step; no framework,
  no metrics, no logging.
- The classic pipeline, as pytorch/examples' mnist/main.py (and lightning-hydra-template's MNIST module)
  write it: torchvision.datasets.MNIST with per-sample ToTensor + Normalize, a shuffling DataLoader
  (num_workers=1 and pinned memory on a GPU, as pytorch/examples sets them; none on a CPU), `.to(device)`
  per batch, and `loss.item()` every 10 batches (its log_interval).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import ContextManager

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from clocks import StepWindow, sync

Prep = Callable[[Tensor], Tensor]  # uint8 (B, C, H, W) on the device -> the model's float input
LOG_INTERVAL = 10  # pytorch/examples mnist: --log-interval default


def autocast(device: torch.device, precision: str) -> ContextManager:
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


def plain_loop(
    net: nn.Module, images: Tensor, labels: Tensor, prep: Prep, window: StepWindow, batch: int,
    lr: float, seed: int, precision: str = "32-true",
) -> float:  # fmt: skip
    """Seconds of `window.count` iterations of the plain loop, after `window.first` warm-up iterations."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    for index, (x, y) in enumerate(in_memory_batches(images, labels, batch, seed)):
        x = prep(x)
        window.at_start(index, images.device)
        if index == window.last:
            return window.seconds
        train_step(net, optimizer, x, y, precision)
    raise AssertionError("unreachable: in_memory_batches never ends")


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
