"""Model tests' helpers: a ModelSpec from inline layers, and a built network checked row by row against its plan."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnexp.model.layers import Row
from cnnexp.model.spec import ModelSpec, parse_model


def spec_of(
    layers: dict[str, Any], shape: tuple[int, int, int] = (1, 28, 28), classes: int = 10, **extra: Any
) -> ModelSpec:
    """A ModelSpec from a layers mapping written as in YAML."""
    c, h, w = shape
    cfg = {"name": "t", "input": {"channels": c, "height": h, "width": w}, "num_classes": classes, "layers": layers}
    return parse_model({**cfg, **extra})


BATCH = 2


def every_row(rows: Sequence[Row]) -> list[Row]:
    """Each row at every depth: layers, and groups (blocks, repetitions, branches, shortcuts) with their totals."""
    return [row for top in rows for _, row in top.walk()]


def check_rows(rows: Sequence[Row], net: nn.Module, input_shape: tuple[int, ...]) -> None:
    """Every planned row equals its module (found by the row's path): parameters, trainable parameters, output
    shape, and FLOPs by torch's counter = 2 × multiply-adds per image."""
    flat = every_row(rows)
    shapes: dict[str, tuple[int, ...]] = {}

    def record(path: str):  # noqa: ANN202  (a forward hook: it must return None, or it replaces the output)
        def hook(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
            shapes.setdefault(path, tuple(output.shape[1:]))

        return hook

    hooks = [net.get_submodule(path).register_forward_hook(record(path)) for path in {row.path for row in flat}]
    try:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            device = next((p.device for p in net.parameters()), torch.device("cpu"))  # meta: shapes and counts only
            out = net(torch.randn(BATCH, *input_shape, device=device))
    finally:
        for hook in hooks:
            hook.remove()
    flops = counter.get_flop_counts()
    root = type(net).__name__
    for row in flat:
        module = net.get_submodule(row.path)
        assert sum(p.numel() for p in module.parameters()) == row.params, row.path
        assert sum(p.numel() for p in module.parameters() if p.requires_grad) == row.trainable, row.path
        assert shapes[row.path] == row.out_shape, row.path
        assert sum(flops.get(f"{root}.{row.path}", {}).values()) == 2 * BATCH * row.macs, row.path
    assert tuple(out.shape[1:]) == rows[-1].out_shape
    assert counter.get_total_flops() == 2 * BATCH * sum(row.macs for row in rows)


def metrics(folder: Path) -> dict:
    """A run's (or sweep job's) metrics.json."""
    return json.loads((folder / "metrics.json").read_text())


def batches(loader: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Every batch of a loader, images and labels each concatenated (one split, in the loader's order)."""
    pairs = list(loader)
    return torch.cat([x for x, _ in pairs]), torch.cat([y for _, y in pairs])


def split_sizes(
    datamodule: Any, label_of: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...]
) -> dict[str, int]:
    """Each split's image count, after checking that its batches are uint8 images of `shape` whose labels are
    what `label_of` reads from the pixels (the test's images draw their class)."""
    sizes = {}
    for stage in ("train", "val", "test"):
        images, labels = batches(getattr(datamodule, f"{stage}_dataloader")())
        assert images.dtype == torch.uint8 and images.shape[1:] == shape
        assert torch.equal(label_of(images), labels), f"{stage}: every image has its row's class"
        sizes[stage] = len(labels)
    return sizes
