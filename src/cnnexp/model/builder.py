"""From a ModelSpec to figures (plan) and to an nn.Sequential (build): one loop over the layers each."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

from torch import nn

from cnnexp.errors import ConfigError
from cnnexp.fields import fmt_shape
from cnnexp.model.init import init_weights
from cnnexp.model.layers import Place, Shape
from cnnexp.model.layers.sliding import DoesNotFit
from cnnexp.model.spec import ModelSpec

LARGEST_INPUT = 4096  # how far the "resize to at least" hint searches


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    index: int
    name: str
    type: str
    geometry: str
    in_shape: Shape
    out_shape: Shape
    params: int
    trainable: int
    macs: int
    note: str


def plan(spec: ModelSpec) -> list[Row]:
    """Shapes, parameters and multiply-adds of every layer, before any weight is allocated."""
    try:
        rows = _walk(spec)
    except DoesNotFit as err:
        raise DoesNotFit(f"{err}; {_fit_hint(spec)}") from None
    shape = rows[-1].out_shape
    if shape != (spec.num_classes,):
        raise ConfigError(
            f"model.layers: the stack ends in {fmt_shape(shape)} outputs but model.num_classes={spec.num_classes}; "
            f"end it with a linear layer of `out: ${{model.num_classes}}` (after a flatten)."
        )
    return rows


def _walk(spec: ModelSpec) -> list[Row]:
    shape: Shape = spec.input_shape
    rows = []
    for index, (name, layer) in enumerate(spec.layers):
        info = layer.infer(shape, Place(index, name, layer.type_name), spec.strict)
        rows.append(Row(index, name, layer.type_name, layer.geometry(), shape, info.out, info.params,
                        info.trainable, info.macs, info.note))  # fmt: skip
        shape = info.out
    return rows


def build(spec: ModelSpec) -> nn.Sequential:
    """The network as nn.Sequential, one child per YAML layer, named as in the YAML (conv1, pool1, ...)."""
    rows = plan(spec)
    children = OrderedDict(
        (row.name, layer.build(row.in_shape, spec.activation)) for row, (_, layer) in zip(rows, spec.layers)
    )
    net = nn.Sequential(children)
    init_weights(net, spec.init, spec.activation)
    return net


def min_input(spec: ModelSpec) -> int | None:
    """The smallest square input on which every layer fits, or None if none up to LARGEST_INPUT does."""
    channels, height, width = spec.input_shape
    for n in range(max(height, width) + 1, LARGEST_INPUT + 1):
        try:
            _walk(replace(spec, input_shape=(channels, n, n), strict=False))
            return n
        except DoesNotFit:
            continue
    return None


def _fit_hint(spec: ModelSpec) -> str:
    n = min_input(spec)
    if n is None:
        return "reduce F, S or the number of pooling layers, or use a model made for small inputs such as model=alexnet_small"
    return (
        f"resize the input to at least {n}×{n} (model.input.height={n} model.input.width={n} data.adapt=true), "
        f"or use a model made for small inputs such as model=alexnet_small"
    )
