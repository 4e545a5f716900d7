"""Branches: parallel stacks on one input, joined by channel concatenation (Inception, SqueezeNet's fire module,
DenseNet), by addition, or by multiplication (a gate: squeeze-and-excitation). Checked on shapes before anything
is built; the joins are in joins.py, shortcuts and gates (a graph's other edges) in shortcut.py.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

import torch
from torch import nn

from cnnexp.config import fields as fd
from cnnexp.config.fields import fmt_shape
from cnnexp.errors import ConfigError, closest
from cnnexp.model.layers.base import LAYERS, Context, Follows, LayerSpec, Place, Row, Shape, Where, derived, spec_field
from cnnexp.model.layers.joins import JOINS, gate_hint
from cnnexp.model.layers.stack import (
    Stack,
    build_stack,
    check_names,
    flow_stack,
    parse_stack,
    plan_stack,
    stack_to_dict,
)

IDENTITY = "identity"


class Joined(nn.Module):
    """Parallel branches on one input, one child each (named as in the YAML), joined by `join`."""

    def __init__(self, branches: OrderedDict[str, nn.Module], join: str) -> None:
        super().__init__()
        for name, branch in branches.items():
            self.add_module(name, branch)
        self._join = join
        self._combine = JOINS.get(join, "join").combine

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._combine([branch(x) for branch in self.children()])

    def extra_repr(self) -> str:
        return f"join={self._join}"


def _join(value: Any, where: str) -> str:
    return JOINS.canonical(fd.text(value, where), where)


@LAYERS.register("branches", "parallel")
@dataclass(frozen=True)
class Branches(LayerSpec):
    """Parallel stacks on the same input, each under its own key (a stack of named layers, or `identity`)."""

    type_name = "branches"
    join: str = spec_field(_join, "concat")
    branches: tuple[tuple[str, Stack | None], ...] = derived(())  # None: the identity branch

    @classmethod
    def example(cls) -> str:
        return "Example: `fire: {type: branches, join: concat, e1: {conv: {type: conv, filters: 64, F: 1}}, e3: {conv: {type: conv, filters: 64, F: 3, P: 1}}}`."

    @classmethod
    def parse(cls, raw: Mapping[str, Any], place: Place, ctx: Context | None = None) -> LayerSpec:
        own = ("type", "join")
        spec = cast(Branches, super().parse({k: v for k, v in raw.items() if k in own}, place, ctx))
        named = [(str(k), v) for k, v in raw.items() if k not in own and v is not None]  # null removes a branch
        if len(named) < 2:
            raise ConfigError(f"{place}: joins two or more branches but has {len(named)}. {cls.example()}")
        check_names([name for name, _ in named], place.path, "branch")
        branches = tuple((name, _branch(value, place, name, ctx or Context())) for name, value in named)
        return replace(spec, branches=branches)

    def plan(self, shape: Shape, place: Place, strict: bool, earlier: Mapping[str, Shape]) -> Row:
        rows = []
        for name, stack in self.branches:
            sub = replace(
                place,
                index=None,
                name=name,
                scope=f"branch {name}",
                parent=place.path,
                module=f"{place.module_path}.{name}",
            )
            if stack is None:
                rows.append(Row(None, name, IDENTITY, "", shape, shape, 0, 0, 0, path=sub.module_path))
                continue
            inner = plan_stack(stack, shape, Where.inside(place, name, f"branch {name}"), strict)
            rows.append(Row.group(sub, "branch", "", (shape, inner[-1].out_shape), inner))
        out = self._joined(place, shape, rows)
        return Row.group(place, self.type_name, self.join, (shape, out), tuple(rows))

    def _joined(self, place: Place, shape: Shape, rows: list[Row]) -> Shape:
        shapes = [row.out_shape for row in rows]
        listed = ", ".join(f"{row.name} {fmt_shape(row.out_shape)}" for row in rows)
        if len({len(s) for s in shapes}) > 1:
            raise ConfigError(f"{place}: its branches give {listed}: feature maps and flat features do not join; "
                              f"flatten after the branches layer, not inside a branch.")  # fmt: skip
        join = JOINS.get(self.join, place.key("join"))
        if len(shape) == len(shapes[0]) == 3 and len({s[1:] for s in shapes}) > 1 and not join.broadcasts:
            if gate := gate_hint(shapes):  # a C×1×1 branch beside maps: a gate, not a size to fix
                raise ConfigError(f"{place}: `join: {self.join}` cannot join {listed}{gate}.")
            raise ConfigError(f"{place}: its branches must give maps of one height and width to join, but give {listed}; "
                              f"{self._refits(place, shape, rows)}.")  # fmt: skip
        out = join.shape(shapes)
        if out is None:
            raise ConfigError(f"{place}: `join: {self.join}` cannot join {listed}; {join.fix}.")
        return out

    def _refits(self, place: Place, shape: Shape, rows: list[Row]) -> str:
        """Per branch whose size differs from the input's (or the first branch's): the P or S that fixes it."""
        sizes = [row.out_shape[1:] for row in rows]
        want = shape[1:] if shape[1:] in sizes else sizes[0]
        fixes = [
            _refit(stack, row, want, place) for (_, stack), row in zip(self.branches, rows) if row.out_shape[1:] != want
        ]
        return f"to give {want[0]}×{want[1]} as the others do: " + "; ".join(fixes)

    def module(self, row: Row) -> nn.Module:
        children: OrderedDict[str, nn.Module] = OrderedDict(
            (name, nn.Identity() if stack is None else build_stack(stack, branch.children))
            for (name, stack), branch in zip(self.branches, row.children)
        )
        return Joined(children, self.join)

    def flow(self, pending: frozenset[str], row: Row, seen: Follows) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for (_, stack), branch in zip(self.branches, row.children):
            out |= pending if stack is None else flow_stack(stack, branch.children, pending, seen)
        return out

    def to_dict(self) -> dict[str, Any]:
        branches = {name: IDENTITY if stack is None else stack_to_dict(stack) for name, stack in self.branches}
        return {"type": self.type_name, "join": self.join, **branches}


def _branch(value: Any, place: Place, name: str, ctx: Context) -> Stack | None:
    if value == IDENTITY:
        return None
    if not isinstance(value, Mapping) or "type" in value:
        hint = closest(name, ["join", "type"]) if not isinstance(value, Mapping) else ""
        raise ConfigError(
            f"{place.path}.{name} (a branch of {place.name}): a branch is `identity` or a stack of named layers such "
            f"as {{conv: {{type: conv, filters: 32, F: 1}}, act: {{type: activation}}}}; got {value!r}.{hint}"
        )
    return parse_stack(value, Where.inside(place, name, f"branch {name}"), ctx)


def _refit(stack: Stack | None, row: Row, want: tuple[int, ...], place: Place) -> str:
    """'b2 gives 26×26; with P=1, its layer model.layers.inc.b2.conv gives 28×28': the one layer of a branch
    that resizes, and the padding or stride that makes it give the size the others give."""
    got = f"{row.name} gives {row.out_shape[1]}×{row.out_shape[2]}"
    resizing = [
        (layer, child)
        for (_, layer), child in zip(stack or (), row.children)
        if child.in_shape[1:] != child.out_shape[1:]
    ]
    if len(resizing) == 1:
        layer, child = resizing[0]
        fix = layer.refit((child.in_shape[1], child.in_shape[2]), (want[0], want[1]))
        if fix:
            return f"{got}; with {fix}, its layer {place.path}.{row.name}.{child.name} gives {want[0]}×{want[1]}"
    return f"{got}; make its layers keep the size (S=1 and P=(F−1)/2 on each window) or shrink it alike"
