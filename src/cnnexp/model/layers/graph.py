"""Layers that make a stack a graph: a shortcut (a residual connection) and branches (parallel stacks, joined).

A shortcut adds the input of its stack, or an earlier layer's output, to the output of the layer before it,
through a projection when one is declared: output = body(x) + shortcut(x), as in ResNet. Branches run
parallel stacks on one input and join them by channel concatenation (Inception, SqueezeNet's fire module,
DenseNet) or by addition. Both are checked on shapes before anything is built.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import reduce
from typing import Any, cast

import torch
from torch import nn

from cnnexp import fields as fd
from cnnexp.errors import ConfigError, closest
from cnnexp.fields import fmt_shape
from cnnexp.model.layers.base import LAYERS, Context, Follows, LayerSpec, Place, Row, Shape, Where, derived, spec_field
from cnnexp.model.layers.stack import (
    Stack,
    build_stack,
    check_names,
    flow_stack,
    parse_layer,
    parse_stack,
    plan_stack,
    stack_to_dict,
)
from cnnexp.registry import Registry

IDENTITY = "identity"


@LAYERS.register("shortcut", "residual")
@dataclass(frozen=True)
class Shortcut(LayerSpec):
    """Adds `from` (the stack's input, or an earlier layer's output), through `project` if given, to the running output."""

    type_name = "shortcut"
    source: str = spec_field(fd.text, "input", alias="from")
    project: LayerSpec | None = spec_field(None)  # one layer (often a block: 1×1 conv and batch norm); None: identity
    given_by: str = derived("")  # the block parameter that placed this whole layer (`add: $residual`), if one did

    @classmethod
    def example(cls) -> str:
        return "Example: `add: {type: shortcut, from: input, project: {type: conv, filters: 128, F: 1, S: 2}}`."

    @classmethod
    def parse(cls, raw: Mapping[str, Any], place: Place, ctx: Context | None = None) -> LayerSpec:
        spec = replace(cast(Shortcut, super().parse({k: v for k, v in raw.items() if k != "project"}, place, ctx)),
                       given_by=place.origin)  # fmt: skip
        project = raw.get("project", IDENTITY)
        if project == IDENTITY or project is None:
            return spec
        if not isinstance(project, Mapping):
            raise ConfigError(f"{place.key('project')} must be `identity` or one layer, e.g. {{type: conv, filters: 128, F: 1, S: 2}}; got {project!r}.")
        return replace(spec, project=parse_layer(project, _project_place(place, "?"), ctx or Context()))

    def plan(self, shape: Shape, place: Place, strict: bool, earlier: Mapping[str, Shape]) -> Row:
        if self.source not in earlier:
            before = ", ".join(name for name in earlier if name != "input") or "none"
            raise ConfigError(
                f"{place.key('from')}: '{self.source}' is not a layer before this one in its stack; write `from: input` "
                f"(the stack's input) or the name of an earlier layer ({before})."
            )
        carried = earlier[self.source]
        projected = None
        if self.project:
            projected = self.project.plan(carried, _project_place(place, self.project.label()), strict, {"input": carried})
        out = projected.out_shape if projected else carried
        if out != shape:
            raise ConfigError(self._mismatch(place, shape, carried, out))
        children = (projected,) if projected else ()
        return Row.group(place, self.type_name, f"+ {self.source}", (shape, shape), children)

    def _mismatch(self, place: Place, body: Shape, carried: Shape, out: Shape) -> str:
        stack = f"the input of {place.scope}" if place.scope else "the model's input"
        what = stack if self.source == "input" else f"the output of {self.source}"
        if self.project:
            found = f"its projection turns {what}, {fmt_shape(carried)}, into {fmt_shape(out)}"
        else:
            found = f"it adds {what}, {fmt_shape(carried)}, with no projection declared"
        # A shortcut placed by a block parameter (MobileNetV2's `add: $residual`) may be one this use should not have.
        param = self.given_by.rsplit(".", 1)[-1]
        drop = (f" Or, if this use of the block adds nothing, give it `{param}: null` (this shortcut is set by "
                f"{self.given_by}; a null layer is removed).") if param else ""  # fmt: skip
        return f"{place}: the layers before it give {fmt_shape(body)} but {found}; {projection_hint(carried, body)}{drop}"

    def module(self, row: Row) -> nn.Module:
        return self.project.module(row.children[0]) if self.project else nn.Identity()

    def flow(self, pending: frozenset[str], row: Row, seen: Follows) -> frozenset[str]:
        # The projection's output is added to the running one: both reach whatever activation comes next.
        side = self.project.flow(frozenset(), row.children[0], seen) if self.project else frozenset()
        return pending | side

    def adds_from(self) -> str | None:
        return self.source

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type_name}
        if self.source != "input":
            out["from"] = self.source
        if self.project:
            out["project"] = self.project.to_dict()
        return out


def _project_place(place: Place, type: str) -> Place:
    # The projection's module is the shortcut's own child (torchvision's layer2.0.downsample.0.weight).
    return Place(None, "project", type, parent=place.path, scope=f"projection of shortcut {place.name}",
                 module=place.module_path, origins=place.origins)  # fmt: skip


def projection_hint(carried: Shape, want: Shape) -> str:
    """The one layer that turns `carried` into `want`, as the YAML of a shortcut's `project`."""
    if len(carried) != len(want):
        return "a shortcut adds like to like: keep it and the layers before it on the same side of the flatten layer."
    if len(want) == 1:
        return f"declare one that fits: `project: {{type: linear, out: {want[0]}}}`."
    strides = [-(-n // w) for n, w in zip(carried[1:], want[1:])]  # ceil(N / N'): a 1×1 window, stride S
    if any((n - 1) // s + 1 != w for n, w, s in zip(carried[1:], want[1:], strides)):
        return (f"no 1×1 convolution turns {carried[1]}×{carried[2]} into {want[1]}×{want[2]}; make the layers before "
                f"the shortcut keep or shrink the map by a whole stride.")  # fmt: skip
    stride = f", S: {strides[0]}" if strides[0] == strides[1] > 1 else f", S: {strides}" if strides != [1, 1] else ""
    return (f"declare one that fits: `project: {{type: conv, filters: {want[0]}, F: 1{stride}}}` (a 1×1 convolution, "
            f"He et al.'s projection shortcut; ResNets follow it with a batchnorm: make the two a block, as "
            f"model=resnet18's `projection`).")  # fmt: skip


@dataclass(frozen=True)
class Join:
    """How parallel outputs become one: the output shape (None if they cannot join) and the tensor operation."""

    shape: Callable[[list[Shape]], Shape | None]
    combine: Callable[[list[torch.Tensor]], torch.Tensor]
    fix: str  # what to change when the channels (or features) do not allow the join


def _concat_shape(shapes: list[Shape]) -> Shape | None:
    if len({s[1:] for s in shapes}) > 1:
        return None
    return (sum(s[0] for s in shapes), *shapes[0][1:])


JOINS: Registry[Join] = Registry("join")
JOINS.add("concat", Join(_concat_shape, lambda outs: torch.cat(outs, 1), ""), "cat")
JOINS.add("add", Join(lambda shapes: shapes[0] if len(set(shapes)) == 1 else None, lambda outs: reduce(operator.add, outs),
                      "give every branch the same number of filters, or `join: concat`"), "sum")  # fmt: skip


class Joined(nn.Module):
    """Parallel branches on one input, one child each (named as in the YAML), joined by `join`."""

    def __init__(self, branches: OrderedDict[str, nn.Module], join: str) -> None:
        super().__init__()
        for name, branch in branches.items():
            self.add_module(name, branch)
        self._join = join

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return JOINS.get(self._join, "join").combine([branch(x) for branch in self.children()])

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
            sub = replace(place, index=None, name=name, scope=f"branch {name}", parent=place.path, module=f"{place.module_path}.{name}")
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
        if len(shape) == len(shapes[0]) == 3 and len({s[1:] for s in shapes}) > 1:
            raise ConfigError(f"{place}: its branches must give maps of one height and width to join, but give {listed}; "
                              f"{self._refits(place, shape, rows)}.")  # fmt: skip
        join = JOINS.get(self.join, place.key("join"))
        out = join.shape(shapes)
        if out is None:
            raise ConfigError(f"{place}: `join: {self.join}` cannot join {listed}; {join.fix}.")
        return out

    def _refits(self, place: Place, shape: Shape, rows: list[Row]) -> str:
        """Per branch whose size differs from the input's (or the first branch's): the P or S that fixes it."""
        sizes = [row.out_shape[1:] for row in rows]
        want = shape[1:] if shape[1:] in sizes else sizes[0]
        fixes = [_refit(stack, row, want, place) for (_, stack), row in zip(self.branches, rows) if row.out_shape[1:] != want]
        return f"to give {want[0]}×{want[1]} as the others do: " + "; ".join(fixes)

    def module(self, row: Row) -> nn.Module:
        children = OrderedDict(
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
    resizing = [(layer, child) for (_, layer), child in zip(stack or (), row.children) if child.in_shape[1:] != child.out_shape[1:]]
    if len(resizing) == 1:
        layer, child = resizing[0]
        fix = layer.refit((child.in_shape[1], child.in_shape[2]), (want[0], want[1]))
        if fix:
            return f"{got}; with {fix}, its layer {place.path}.{row.name}.{child.name} gives {want[0]}×{want[1]}"
    return f"{got}; make its layers keep the size (S=1 and P=(F−1)/2 on each window) or shrink it alike"
