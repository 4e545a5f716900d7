"""conf/loss: losses by name (cross-entropy, and the lecture's quadratic cost on one-hot targets)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cnnexp.config import fields as fd
from cnnexp.config.groups import read_group, setting
from cnnexp.config.registry import Registry

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LOSSES: Registry[Loss] = Registry("loss", "losses")


@LOSSES.register("cross_entropy", "ce", "nll")
def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """−log softmax(z)[y], averaged: the slide's log_softmax output followed by NLL."""
    return F.cross_entropy(logits, target)


@LOSSES.register("mse", "quadratic")
def quadratic(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """C = 1/(2n) Σ‖y(x) − a‖² with y one-hot and a = softmax(z), the network's output as probabilities."""
    a = logits.float().softmax(dim=1)
    y = F.one_hot(target, a.shape[1]).to(a.dtype)
    return 0.5 * (y - a).pow(2).sum(dim=1).mean()


def _loss_name(value: object, where: str) -> str:
    return LOSSES.canonical(fd.text(value, where), where)


@dataclass(frozen=True)
class LossSpec:
    name: str = setting(_loss_name, "cross_entropy")

    @property
    def fn(self) -> Loss:
        return LOSSES.get(self.name, "loss.name")


def read_loss(raw: object) -> LossSpec:
    return read_group(LossSpec, raw, "loss")
