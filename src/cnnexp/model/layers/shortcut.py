"""The edges of a layer graph that reach back: a shortcut adds an earlier value, a gate multiplies by one.

A shortcut adds the input of its stack, or an earlier layer's output, to the output of the layer before it,
through a projection when one is declared: output = body(x) + shortcut(x), as in ResNet. A gate multiplies
them instead: output = gate(x) ⊙ x, where the layers before it compute a C×1×1 gate from x that scales each of
x's C maps (squeeze-and-excitation, in EfficientNet and MobileNetV3). Both are checked on shapes before
anything is built; the stack that holds them builds as `Wired` (stack.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from torch import nn

from cnnexp.config import fields as fd
from cnnexp.config.fields import fmt_shape
from cnnexp.errors import ConfigError
from cnnexp.model.layers.base import LAYERS, Context, Follows, LayerSpec, Place, Row, Shape, derived, spec_field
from cnnexp.model.layers.joins import BROADCAST_RULE, broadcast, gate_hint
from cnnexp.model.layers.stack import parse_layer

IDENTITY = "identity"


def _earlier(place: Place, source: str, earlier: Mapping[str, Shape]) -> Shape:
    """The shape at `source` (the stack's input or an earlier layer), or a ConfigError naming the choices."""
    if source not in earlier:
        before = ", ".join(name for name in earlier if name != "input") or "none"
        raise ConfigError(
            f"{place.key('from')}: '{source}' is not a layer before this one in its stack; write `from: input` "
            f"(the stack's input) or the name of an earlier layer ({before})."
        )
    return earlier[source]


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
            raise ConfigError(
                f"{place.key('project')} must be `identity` or one layer, e.g. {{type: conv, filters: 128, F: 1, S: 2}}; got {project!r}."
            )
        return replace(spec, project=parse_layer(project, _project_place(place, "?"), ctx or Context()))

    def plan(self, shape: Shape, place: Place, strict: bool, earlier: Mapping[str, Shape]) -> Row:
        carried = _earlier(place, self.source, earlier)
        projected = None
        if self.project:
            projected = self.project.plan(
                carried, _project_place(place, self.project.label()), strict, {"input": carried}
            )
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
        fix = (
            projection_hint(carried, body)
            if not gate_hint([body, out])
            else (
                f"a {fmt_shape(body)} output that scales a map is a gate, which multiplies: `{{type: gate}}` in place of the shortcut."
            )
        )
        return f"{place}: the layers before it give {fmt_shape(body)} but {found}; {fix}{drop}"

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


@LAYERS.register("gate", "scale")
@dataclass(frozen=True)
class Gate(LayerSpec):
    """Multiplies `from` (the stack's input, or an earlier layer's output) by the running output, a C×1×1 gate."""

    type_name = "gate"
    joins = "mul"
    source: str = spec_field(fd.text, "input", alias="from")

    @classmethod
    def example(cls) -> str:
        return "Example: `scale: {type: gate}` after an SE branch's sigmoid: input × sigmoid(fc2(act(fc1(avgpool(input)))))."

    def plan(self, shape: Shape, place: Place, strict: bool, earlier: Mapping[str, Shape]) -> Row:
        carried = _earlier(place, self.source, earlier)
        out = broadcast([carried, shape])
        if out is None:
            what = f"the input of {place.scope}" if place.scope else "the model's input"
            what = what if self.source == "input" else f"the output of {self.source}"
            raise ConfigError(f"{place}: it multiplies {what}, {fmt_shape(carried)}, by the output of the layers before "
                              f"it, {fmt_shape(shape)}; {BROADCAST_RULE}. {_gate_fix(carried, shape)}")  # fmt: skip
        return Row.group(place, self.type_name, f"× {self.source}", (shape, out), ())

    def module(self, row: Row) -> nn.Module:
        return nn.Identity()

    def adds_from(self) -> str | None:
        return self.source


def _gate_fix(carried: Shape, gate: Shape) -> str:
    if len(carried) != 3 or len(gate) != 3:
        return "Keep the gate and what it scales on the same side of the flatten layer."
    if carried[0] != gate[0]:
        return (f"Make the layer before it give {carried[0]} channels (squeeze-and-excitation's second 1×1 convolution "
                f"has as many filters as the input it scales).")  # fmt: skip
    return "Pool the gate to 1×1 first (an adaptive_avgpool of size 1, as squeeze-and-excitation begins)."
