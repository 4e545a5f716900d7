"""Layer types of the networks after 2018: layer norm over channels and layer scale (ConvNeXt), stochastic depth
on a residual branch (EfficientNet, ConvNeXt), a linear layer over the channels at every position (ConvNeXt's
block), channel split and channel shuffle (ShuffleNetV2). Each is counted before anything is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from torch import nn

from cnnexp.config import fields as fd
from cnnexp.config.fields import fmt_shape
from cnnexp.errors import ConfigError
from cnnexp.model.layers import ops
from cnnexp.model.layers.base import (
    LAYERS,
    Context,
    Depth,
    Inferred,
    LayerSpec,
    Place,
    Shape,
    derived,
    need_map,
    spec_field,
)

SCHEDULES = {  # the rate of the i-th of n scheduled drop_path layers (from 0), given p
    "constant": "p",
    "linear": "p·i/(n − 1): 0 at the first, p at the last (ConvNeXt, timm's torch.linspace(0, p, n))",
    "depth_fraction": "p·i/n: p times the share of blocks before it (EfficientNet's stage_block_id / total_stage_blocks)",
}


def _schedule(value: Any, where: str) -> str:
    name = fd.text(value, where)
    if name not in SCHEDULES:
        raise ConfigError(f"{where} must be one of {', '.join(SCHEDULES)}, got {name!r}.")
    return name


@LAYERS.register("layernorm", "layer_norm", "layernorm2d")
@dataclass(frozen=True)
class LayerNorm(LayerSpec):
    """Normalises each position's C channels (a map, as ConvNeXt's LayerNorm2d), or a flat vector's features."""

    type_name = "layernorm"
    eps: float = spec_field(fd.number(0.0), 1e-5)
    affine: bool = spec_field(fd.boolean, True)

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        params = 2 * shape[0] if self.affine else 0
        return Inferred(shape, params, params)

    def build(self, shape: Shape) -> nn.Module:
        norm = ops.LayerNorm2d if len(shape) == 3 else nn.LayerNorm
        return norm(shape[0], self.eps, self.affine)


@LAYERS.register("layer_scale", "layerscale")
@dataclass(frozen=True)
class LayerScaleLayer(LayerSpec):
    """A learned factor per channel, starting at `init` (ConvNeXt's γ = 1e-6 in front of its residual add)."""

    type_name = "layer_scale"
    init: float = spec_field(fd.number(-1e9), 1e-6)

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        return Inferred(shape, shape[0], shape[0])

    def build(self, shape: Shape) -> nn.Module:
        return ops.LayerScale(shape, self.init)

    def geometry(self) -> str:
        return f"γ₀={self.init:g}"


@LAYERS.register("drop_path", "droppath", "stochastic_depth")
@dataclass(frozen=True)
class DropPathLayer(LayerSpec):
    """Stochastic depth: in training, zeroes the residual branch of a random share `rate` of the images (and scales
    the others by 1/(1 − rate)); in evaluation, nothing. Placed before the shortcut that adds the block's input."""

    type_name = "drop_path"
    p: float = spec_field(fd.number(0.0, 1.0, open_max=True), 0.0)
    schedule: str = spec_field(_schedule, "constant")
    position: int = derived(0)  # among the scheduled drop_path layers of the model, in order
    depth: Depth = field(default_factory=lambda: Depth(), compare=False, repr=False, metadata={"derived": True})
    residual: bool = derived(True)  # a shortcut follows it in its stack: there is a branch to drop

    @classmethod
    def parse(cls, raw: Mapping[str, Any], place: Place, ctx: Context | None = None) -> LayerSpec:
        spec = cast(DropPathLayer, super().parse(raw, place, ctx))
        if spec.schedule == "constant":
            return spec
        depth = (ctx or Context()).depth
        depth.count += 1
        return replace(spec, position=depth.count - 1, depth=depth)

    def in_stack(self, later: Sequence[LayerSpec]) -> LayerSpec:
        return replace(self, residual=any(layer.adds_from() is not None and layer.joins == "add" for layer in later))

    @property
    def rate(self) -> float:
        n, i = self.depth.total, self.position
        if self.schedule == "linear":
            return self.p * i / (n - 1) if n > 1 else 0.0
        return self.p * i / n if self.schedule == "depth_fraction" else self.p

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        return Inferred(shape, note="" if self.residual else "no shortcut after it: drops nothing")

    def build(self, shape: Shape) -> nn.Module:
        return ops.DropPath(self.rate if self.residual else 0.0)

    def geometry(self) -> str:
        return f"p={self.rate:.4g}"


@LAYERS.register("pointwise", "channel_linear")
@dataclass(frozen=True)
class Pointwise(LayerSpec):
    """A linear layer over the channels at every position: a 1×1 convolution with a linear layer's (out, in)
    weight, computed channels-last as ConvNeXt's block computes it (so torchvision's weights load as they are)."""

    type_name = "pointwise"
    weighted = True
    out_features: int = spec_field(fd.integer(1), alias="out", required=True)
    bias: bool = spec_field(fd.boolean, True)

    @classmethod
    def example(cls) -> str:
        return "Example: `fc1: {type: pointwise, out: 384}`."

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        c, h, w = need_map(shape, place)
        params = c * self.out_features + (self.out_features if self.bias else 0)
        return Inferred((self.out_features, h, w), params, params, c * self.out_features * h * w)

    def build(self, shape: Shape) -> nn.Module:
        return ops.PointwiseLinear(shape[0], self.out_features, self.bias)


@LAYERS.register("channel_split", "split")
@dataclass(frozen=True)
class ChannelSplitLayer(LayerSpec):
    """One of `parts` equal slices of the channels, `part` counting from 0 (ShuffleNetV2's x.chunk(2, dim=1))."""

    type_name = "channel_split"
    parts: int = spec_field(fd.integer(2), 2)
    part: int = spec_field(fd.integer(0), required=True)

    @classmethod
    def example(cls) -> str:
        return "Example: `half: {type: channel_split, parts: 2, part: 1}` (the second half of the channels)."

    def check(self, place: Place) -> None:
        if self.part >= self.parts:
            raise ConfigError(f"{place}: part={self.part} but there are {self.parts} parts, 0 to {self.parts - 1}.")

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        if shape[0] % self.parts:
            raise ConfigError(f"{place}: its input has {shape[0]} channels ({fmt_shape(shape)}), not a multiple of "
                              f"parts={self.parts}; give the layer before it a multiple of {self.parts}.")  # fmt: skip
        return Inferred((shape[0] // self.parts, *shape[1:]))

    def build(self, shape: Shape) -> nn.Module:
        return ops.ChannelSplit(self.parts, self.part)

    def geometry(self) -> str:
        return f"{self.part + 1} of {self.parts}"


@LAYERS.register("channel_shuffle", "shuffle")
@dataclass(frozen=True)
class ChannelShuffleLayer(LayerSpec):
    """Interleaves `groups` groups of channels (ShuffleNet's shuffle: channel g·k + j goes to j·groups + g)."""

    type_name = "channel_shuffle"
    groups: int = spec_field(fd.integer(1), required=True)

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        c, _, _ = need_map(shape, place)
        if c % self.groups:
            raise ConfigError(
                f"{place}: groups={self.groups} does not divide its {c} input channels; use groups that divide {c}."
            )
        return Inferred(shape)

    def build(self, shape: Shape) -> nn.Module:
        return ops.ChannelShuffle(self.groups)

    def geometry(self) -> str:
        return f"g={self.groups}"
