"""What the pictures are drawn from: the first conv layer, every conv layer's output, and the mistakes of an
evaluation pass, collected on the device.

Nothing here draws; viz/pictures.py turns these tensors into figures.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import Tensor, nn


def conv_layers(net: nn.Module) -> list[tuple[str, nn.Conv2d]]:
    """Every nn.Conv2d of `net` with its dotted name, in the order the modules were declared."""
    return [(name, module) for name, module in net.named_modules() if isinstance(module, nn.Conv2d)]


def first_conv(net: nn.Module) -> tuple[str, nn.Conv2d] | None:
    layers = conv_layers(net)
    return layers[0] if layers else None


def feature_maps(net: nn.Module, image: Tensor) -> dict[str, Tensor]:
    """Each conv layer's output for one image (1, C, H, W): {layer name: (channels, H', W') on the CPU}.

    Run in eval mode (dropout off, batch-norm running statistics), as the network classifies, then put back.
    """
    maps: dict[str, Tensor] = {}
    hooks = [module.register_forward_hook(partial(_keep_output, maps, name)) for name, module in conv_layers(net)]
    training = net.training
    param = next(net.parameters(), None)
    try:
        net.eval()
        with torch.no_grad():
            net(image.to(param.dtype) if param is not None else image)
    finally:
        net.train(training)
        for hook in hooks:
            hook.remove()
    return maps


def _keep_output(maps: dict[str, Tensor], name: str, module: nn.Module, inputs: Any, output: Tensor) -> None:
    maps[name] = output[0].detach().float().cpu()


class Mistakes:
    """Confusion counts and the first `keep` misclassified images of one evaluation pass.

    Everything stays on the device in tensors of fixed size, so an update never waits for the device (no
    `.item()`, no boolean indexing): the counts grow by `index_add_`, and the kept images are the batch's
    candidates re-sorted wrong-first with a stable sort, cut to `keep`.
    """

    def __init__(self, keep: int, classes: int | None = None, device: torch.device | None = None) -> None:
        """`classes` None: the count of the first batch's logits."""
        self.keep = keep
        # (classes, classes): row = true class, column = predicted
        self.counts = torch.zeros(classes, classes, dtype=torch.long, device=device) if classes else None
        self.images: Tensor | None = None  # (≤ keep, C, H, W)
        self.labels: Tensor | None = None  # (≤ keep, 2): true, predicted
        self.wrong: Tensor | None = None  # (≤ keep,) bool: which kept rows are mistakes

    def update(self, images: Tensor, labels: Tensor, logits: Tensor) -> None:
        classes = logits.shape[1]
        pred = logits.detach().argmax(1)
        if self.counts is None:
            self.counts = torch.zeros(classes, classes, dtype=torch.long, device=labels.device)
        self.counts.view(-1).index_add_(0, labels * classes + pred, torch.ones_like(labels))
        if self.keep > 0:
            self._keep(images.detach(), torch.stack([labels, pred], 1), pred != labels)

    def _keep(self, images: Tensor, labels: Tensor, wrong: Tensor) -> None:
        if self.images is not None:
            images = torch.cat([self.images, images])
            labels = torch.cat([self.labels, labels])  # type: ignore[list-item]
            wrong = torch.cat([self.wrong, wrong])  # type: ignore[list-item]
        # Mistakes first, each group in arrival order: the kept ones are the first mistakes seen.
        order = torch.sort((~wrong).to(torch.uint8), stable=True).indices[: self.keep]
        self.images, self.labels, self.wrong = images[order], labels[order], wrong[order]

    def misclassified(self) -> tuple[Tensor, Tensor, Tensor]:
        """The kept mistakes on the CPU: images (N, C, H, W), true (N,), predicted (N,); N ≤ keep."""
        if self.images is None or self.wrong is None or self.labels is None:
            return torch.zeros(0, 1, 1, 1), torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
        wrong = self.wrong.cpu()
        labels = self.labels.cpu()[wrong]
        return self.images.cpu()[wrong], labels[:, 0], labels[:, 1]
