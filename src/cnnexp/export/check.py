"""Export a network and prove the file: the layer that cannot be exported is named, and the file is run on a
batch (of another size than the example's, so the batch dimension is shown to be free) against PyTorch."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from cnnexp.config.fields import fmt_shape
from cnnexp.errors import ConfigError
from cnnexp.export.formats import FORMATS, Format

EXAMPLE_BATCH, CHECK_BATCH = 2, 3
# Allowed difference, relative to the largest logit: other runtimes' float32 kernels differ in rounding only
# (measured: at most 1.7e-05 over conf/model, docs/checkpoints.md; 3.4e-05 for a ResNet-18), while a wrong graph
# differs by whole units.
TOLERANCE = 1e-3


@dataclass(frozen=True)
class Exported:
    path: Path
    max_diff: float  # largest |exported - PyTorch| over the check batch
    batch: int


def export(net: nn.Module, name: str, shape: tuple[int, int, int], path: Path) -> Exported:
    """Write `net` (in eval mode) to `path` in format `name`, run the file and compare it with `net`."""
    fmt = FORMATS.get(name, "format")
    fmt.check_packages(name)
    net = net.eval()
    example = _batch(EXAMPLE_BATCH, shape, seed=1)
    try:
        fmt.write(net, example, path)
    # Exporters fail with many exception types (export, conversion, dispatch errors): any is a layer it cannot take.
    except Exception as err:  # noqa: BLE001
        raise ConfigError(_cannot(net, name, fmt, example, err)) from None
    return Exported(path, verify(net, fmt, path, name, shape), CHECK_BATCH)


def verify(net: nn.Module, fmt: Format, path: Path, name: str, shape: tuple[int, int, int]) -> float:
    x = _batch(CHECK_BATCH, shape, seed=0)
    with torch.no_grad():
        expected, got = net(x), fmt.load(path)(x)
    if tuple(got.shape) != tuple(expected.shape):
        raise ConfigError(
            f"format={name}: the exported {path.name} gives {fmt_shape(tuple(got.shape))} outputs for a batch of "
            f"{CHECK_BATCH}, the network {fmt_shape(tuple(expected.shape))}; the export is wrong, do not use it."
        )
    diff = float((got.float() - expected).abs().max())
    scale = max(1.0, float(expected.abs().max()))
    if not diff <= TOLERANCE * scale:  # `not <=`: a NaN difference fails too
        raise ConfigError(
            f"format={name}: the exported {path.name} differs from the network by up to {diff:.3g} on a batch of "
            f"{CHECK_BATCH} (logits up to {scale:.3g}); the export is wrong, do not use it."
        )
    return diff


def _batch(size: int, shape: tuple[int, int, int], seed: int) -> Tensor:
    # Normalised images are roughly standard normal; a seeded draw makes the check repeatable.
    return torch.randn(size, *shape, generator=torch.Generator().manual_seed(seed))


def _cannot(net: nn.Module, name: str, fmt: Format, example: Tensor, err: Exception) -> str:
    found = _first_failing_layer(net, fmt, example)
    if found:
        return f"format={name}: {found}; choose another activation or layer for this layer, or another format."
    return f"format={name}: the network cannot be exported: {reason(err)}; try another format."


def _first_failing_layer(net: nn.Module, fmt: Format, example: Tensor) -> str:
    """'layer NAME (Class) cannot be exported: why' for the first leaf module that fails alone; '' if none does.

    A leaf of the same kind as one already tried (`_kind`) is not exported again: each ONNX export costs about
    a second, and a ResNet-18's 60 leaves are 14 kinds."""
    leaves = [(name, module) for name, module in net.named_modules() if name and not any(module.children())]
    inputs: dict[str, Tensor] = {}

    def keep(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple[Tensor, ...], output: Tensor) -> None:  # None: the output stays
            inputs.setdefault(name, args[0])

        return hook

    hooks = [module.register_forward_hook(keep(name)) for name, module in leaves]
    try:
        with torch.no_grad():
            net(example)
    finally:
        for hook in hooks:
            hook.remove()
    tried: set[tuple[object, ...]] = set()
    with tempfile.TemporaryDirectory() as folder:
        for layer, module in leaves:
            kind = _kind(module, inputs[layer]) if layer in inputs else None
            if kind is None or kind in tried:
                continue
            tried.add(kind)
            try:
                fmt.write(module, inputs[layer], Path(folder) / f"layer{fmt.suffix}")
            except Exception as err:  # noqa: BLE001  (as in export: any failure is this layer's)
                return f"layer {layer} ({type(module).__name__}) cannot be exported: {reason(err)}"
    return ""


_MODULE_STATE = frozenset(vars(nn.Module()))  # what every nn.Module holds (its parameters, hooks, ...)


def _kind(module: nn.Module, x: Tensor) -> tuple[object, ...]:
    """What decides whether a leaf exports: its class, its settings (every attribute of its own, as text), the
    shapes of its parameters and buffers, and its input's shape. Weight values do not."""
    settings = sorted((k, repr(v)) for k, v in vars(module).items() if k not in _MODULE_STATE)
    tensors = [(name, tuple(t.shape), t.dtype) for name, t in [*module.named_parameters(), *module.named_buffers()]]
    return type(module), tuple(settings), tuple(tensors), tuple(x.shape), x.dtype


def reason(err: BaseException) -> str:
    """The innermost cause's first line, without the exporter's colour codes."""
    while err.__cause__ is not None:
        err = err.__cause__
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    first = re.sub(r"\x1b\[[0-9;]*m", "", lines[0]) if lines else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__
