"""A callback that reads every parameter's gradient after a run's first backward pass and writes what it found to
`<run folder>/gradients.json`: the fast_dev_run of every shipped model checks, in the same step, that each
trainable parameter gets a finite, non-zero gradient (and each frozen one none).

Stochastic depth is held off in that step: it drops a residual branch for each image with its probability, and in a
batch of two images it drops some block's branch for both often enough (EfficientNet-B0: 16 blocks at rates up to
0.19) that the branch's gradients are all zero, as they should be."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from cnnexp.model.layers.ops import DropPath


def gradient_state(param: torch.nn.Parameter) -> str:
    """'ok' for a finite, non-zero gradient of a trainable parameter, 'frozen' for none on a frozen one; else what
    is wrong."""
    if not param.requires_grad:
        return "frozen" if param.grad is None else "frozen, with a gradient"
    if param.grad is None:
        return "no gradient"
    if not torch.isfinite(param.grad).all():
        return "a gradient that is not finite"
    return "ok" if bool(param.grad.abs().sum() > 0) else "an all-zero gradient"


class GradientCheck(pl.Callback):
    def __init__(self) -> None:
        self.done = False
        self.held: list[DropPath] = []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if not self.done:
            self.held = [module for module in pl_module.modules() if isinstance(module, DropPath) and module.training]
            for module in self.held:
                module.eval()

    def on_after_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.done:
            return
        self.done = True
        found = {name: gradient_state(param) for name, param in pl_module.named_parameters()}
        (Path(trainer.default_root_dir) / "gradients.json").write_text(json.dumps(found, indent=1))
        for module in self.held:
            module.train()
