"""A stack: named layers applied in order. Parsed, planned, built and followed by one short loop each.

The model's `layers` is a stack, and so is a block's body, each branch of a branches layer and each
repetition of a block. A stack holding a shortcut layer builds as `Wired`, which keeps the outputs the
shortcut adds; any other stack is a plain nn.Sequential.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from cnnexp.config import fields as fd
from cnnexp.errors import ConfigError
from cnnexp.model.activations import ACTIVATIONS
from cnnexp.model.layers.base import LAYERS, Context, Follows, LayerSpec, Place, Row, Shape, Where

Stack = tuple[tuple[str, LayerSpec], ...]
LARGEST_MODEL = 10_000  # layers after expanding blocks: past this a `repeat` typo, not a network


class Wired(nn.Sequential):
    """A stack with shortcuts or gates: such a child computes from an earlier point, and its output is added to the
    running one (a shortcut) or multiplies it (a gate in `gates`)."""

    def __init__(
        self, children: OrderedDict[str, nn.Module], shortcuts: Mapping[str, str], gates: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(children)
        self._shortcuts = dict(shortcuts)  # child name -> 'input' or the earlier child whose output it takes
        self._gates = gates
        self._kept = set(shortcuts.values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept = {"input": x}
        for name, child in self._modules.items():
            if name not in self._shortcuts:
                x = child(x)
            elif name in self._gates:
                x = x * child(kept[self._shortcuts[name]])  # (N, C, 1, 1) gate × (N, C, H, W) map
            else:  # the carried value first: the sum keeps its memory layout (channels-last, in ConvNeXt's stages)
                x = child(kept[self._shortcuts[name]]) + x
            if name in self._kept:
                kept[name] = x
        return x


# A layer's name becomes a child module (net.conv1, state-dict key conv1.weight): add_module refuses a name that is
# empty, contains '.', or is an attribute of the module holding it. 'input' is where a shortcut starts.
RESERVED_NAMES = frozenset(dir(Wired(OrderedDict(), {}))) | {"input"}


def parse_stack(raw: Any, where: Where, ctx: Context) -> Stack:
    # A layer set to null (`model.layers.drop1=null`) is removed: the override form of deleting a layer.
    # Checked after the removal: a stack whose every layer is null has nothing to plan or build.
    named = [(str(name), layer) for name, layer in raw.items() if layer is not None] if isinstance(raw, Mapping) else []
    if not named:
        raise ConfigError(
            f"{where.parent} must be a non-empty mapping of named layers (a layer set to null is removed), e.g. "
            "`layers: {conv1: {type: conv, filters: 6, F: 5}, ...}`."
        )
    check_names([name for name, _ in named], where.parent, "layer")
    ctx.size[0] += len(named)
    if ctx.size[0] > LARGEST_MODEL:
        raise ConfigError(
            f"{where.parent}: the model has more than {LARGEST_MODEL:,} layers once its blocks are repeated; lower a `repeat`."
        )
    parsed = [(name, parse_layer(layer, where.place(i, name), ctx)) for i, (name, layer) in enumerate(named)]
    return tuple(
        (name, layer.in_stack([later for _, later in parsed[i + 1 :]])) for i, (name, layer) in enumerate(parsed)
    )


def check_names(names: list[str], parent: str, what: str) -> None:
    """Each name can become a child module; none is used twice."""
    for index, name in enumerate(names):
        if name in names[:index]:  # YAML keys 1 and '1' are two keys, but one name
            raise ConfigError(f"{parent}: {what}s {names.index(name)} and {index} are both named '{name}'; rename one.")
        why = ("is empty" if not name else "contains '.', which separates the keys of the state dict" if "." in name
               else "is reserved: a shortcut's `from: input` means its stack's input" if name == "input"
               else "is taken by PyTorch's nn.Module, which holds the layers" if name in RESERVED_NAMES else "")  # fmt: skip
        if why:
            fix = name.replace(".", "_") if "." in name else f"{name or what}{index}"
            raise ConfigError(f"{parent}: the name {name!r} of {what} {index} {why}; rename it, e.g. '{fix}'.")


def parse_layer(raw: Any, place: Place, ctx: Context) -> LayerSpec:
    """One layer: a registered type, or a block of this model used as a layer."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{place}: a layer is a mapping such as {{type: conv, filters: 6, F: 5}}, got {raw!r}.")
    if "type" not in raw:
        raise ConfigError(f"{place}: no 'type'. Known layer types: {', '.join(sorted(LAYERS.names()))}{_blocks(ctx)}.")
    kind = fd.text(raw["type"], place.key("type"))
    if kind in ctx.blocks:
        return ctx.blocks[kind].use(raw, replace(place, type=f"block {kind}"), ctx)
    if kind not in LAYERS:
        raise ConfigError(
            f"{place}: unknown layer type '{kind}'.{_hint(kind, ctx)} "
            f"Known layer types: {', '.join(sorted(LAYERS.names()))}{_blocks(ctx)}."
        )
    cls = LAYERS.get(kind, str(place))
    return cls.parse(raw, replace(place, type=cls.type_name), ctx)


def _hint(kind: str, ctx: Context) -> str:
    # `relu`, `ReLU`: an activation's name, but no layer type's (`linear` is a layer type before it is identity).
    act = next((name for name in ACTIVATIONS.names() if name.lower() == kind.lower().replace("_", "")), None)
    if act:
        return f" An activation is a layer of type activation: `{{type: activation, fn: {act}}}`."
    return LAYERS.hint(kind, ctx.blocks)


def _blocks(ctx: Context) -> str:
    return f"; blocks of this model: {', '.join(ctx.blocks)}" if ctx.blocks else ""


def plan_stack(stack: Stack, shape: Shape, where: Where, strict: bool) -> tuple[Row, ...]:
    """Every layer's row in order; each takes the shape the one before it gives."""
    earlier: dict[str, Shape] = {"input": shape}
    rows = []
    for index, (name, layer) in enumerate(stack):
        row = layer.plan(shape, where.place(index, name, layer.label()), strict, earlier)
        rows.append(row)
        shape = earlier[name] = row.out_shape
    return tuple(rows)


def build_stack(stack: Stack, rows: tuple[Row, ...]) -> nn.Sequential:
    children = OrderedDict((name, layer.module(row)) for (name, layer), row in zip(stack, rows))
    shortcuts = {name: source for name, layer in stack if (source := layer.adds_from()) is not None}
    gates = frozenset(name for name, layer in stack if name in shortcuts and layer.joins == "mul")
    return Wired(children, shortcuts, gates) if shortcuts else nn.Sequential(children)


def flow_stack(stack: Stack, rows: tuple[Row, ...], pending: frozenset[str], seen: Follows) -> frozenset[str]:
    for (_, layer), row in zip(stack, rows):
        pending = layer.flow(pending, row, seen)
    return pending


def stack_to_dict(stack: Stack) -> dict[str, Any]:
    return {name: layer.to_dict() for name, layer in stack}
