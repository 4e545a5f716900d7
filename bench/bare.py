"""The bare Lightning loop: Lightning's own floor, the peer that shows what cnnexp adds on top of Lightning.

The plain loop's model, optimiser, batches and their preparation (bench/peers.py), trained by a pl.Trainer
with nothing of its own switched on: no logger, no checkpoints, no progress bar, no model summary, no
validation or sanity check; only the caller's clocks as callbacks. Its cost above the plain loop is
Lightning's; cnnexp's cost above it is cnnexp's. (A module of its own: peers.py runs as a process that must not
import Lightning, for the peak-memory row.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytorch_lightning as pl
import torch
from peers import Prep, in_memory_batches
from torch import Tensor, nn
from torch.nn import functional as F

Batch = tuple[Tensor, Tensor]


class BareModule(pl.LightningModule):
    """The plain loop's step as a LightningModule: forward, cross-entropy, nothing else (Adam at `lr`)."""

    def __init__(self, net: nn.Module, lr: float) -> None:
        super().__init__()
        self.net, self.lr = net, lr

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)


class PreparedBatches:
    """`steps` batches of the plain loop's order, each prepared (normalised) as the plain loop prepares it."""

    def __init__(self, images: Tensor, labels: Tensor, prep: Prep, batch: int, seed: int, steps: int) -> None:
        self.images, self.labels, self.prep = images, labels, prep
        self.batch, self.seed, self.steps = batch, seed, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Batch]:
        for _, (x, y) in zip(range(self.steps), in_memory_batches(self.images, self.labels, self.batch, self.seed)):
            yield self.prep(x), y


def bare_fit(
    net: nn.Module, data: PreparedBatches, lr: float, clocks: list[pl.Callback], precision: str = "32-true"
) -> None:
    """Train `net` for `len(data)` steps in a bare pl.Trainer with `clocks` as its only callbacks."""
    device = data.images.device
    trainer = pl.Trainer(
        accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, max_epochs=1, precision=precision,  # type: ignore[arg-type]
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, callbacks=clocks,
    )  # fmt: skip
    trainer.fit(BareModule(net, lr), train_dataloaders=data)
