"""Pooling layers: max and average with F, S, P (ceil mode for Caffe-style rounding), adaptive average."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from cnnexp.config import fields as fd
from cnnexp.model.arithmetic import fmt_pair
from cnnexp.model.layers.base import LAYERS, Inferred, LayerSpec, Place, Shape, need_map, spec_field
from cnnexp.model.layers.sliding import check_pool_padding, refit, slide


@dataclass(frozen=True)
class _Pool(LayerSpec):
    kernel_size: fd.Pair = spec_field(fd.pair(1), alias="F", required=True)
    stride: fd.Pair | None = spec_field(fd.optional(fd.pair(1)), alias="S")
    padding: fd.Pair = spec_field(fd.pair(0), (0, 0), alias="P")
    ceil_mode: bool = spec_field(fd.boolean, False)

    @classmethod
    def example(cls) -> str:
        return f"Example: `pool1: {{type: {cls.type_name}, F: 2, S: 2}}`."

    @property
    def step(self) -> fd.Pair:
        return self.stride or self.kernel_size  # PyTorch's default: stride = window

    def check(self, place: Place) -> None:
        check_pool_padding(self.kernel_size, self.padding, place)

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        c, h, w = need_map(shape, place)
        (ho, wo), note = slide(
            (h, w), self.kernel_size, self.step, self.padding, (1, 1), self.ceil_mode, place, strict, "window"
        )
        return Inferred((c, ho, wo), note=note)

    def refit(self, size: fd.Pair, want: fd.Pair) -> str:
        half = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)  # PyTorch allows P ≤ F/2
        return refit(size, want, self.kernel_size, self.step, self.padding, (1, 1), self.ceil_mode, half)

    def geometry(self) -> str:
        ceil = " ceil" if self.ceil_mode else ""
        return f"F={fmt_pair(self.kernel_size)} S={fmt_pair(self.step)} P={fmt_pair(self.padding)}{ceil}"


@LAYERS.register("maxpool", "max_pool", "maxpool2d")
@dataclass(frozen=True)
class MaxPool(_Pool):
    type_name = "maxpool"

    def build(self, shape: Shape) -> nn.Module:
        return nn.MaxPool2d(self.kernel_size, self.step, self.padding, ceil_mode=self.ceil_mode)


@LAYERS.register("avgpool", "avg_pool", "avgpool2d")
@dataclass(frozen=True)
class AvgPool(_Pool):
    type_name = "avgpool"
    count_include_pad: bool = spec_field(fd.boolean, True)

    def build(self, shape: Shape) -> nn.Module:
        return nn.AvgPool2d(self.kernel_size, self.step, self.padding, self.ceil_mode, self.count_include_pad)


@LAYERS.register("adaptive_avgpool", "adaptive_avg_pool", "adaptiveavgpool2d")
@dataclass(frozen=True)
class AdaptiveAvgPool(LayerSpec):
    type_name = "adaptive_avgpool"
    output_size: fd.Pair = spec_field(fd.pair(1), alias="size", required=True)

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        c, h, w = need_map(shape, place)
        # A smaller input is repeated up to the output size: legal, but rarely meant.
        note = "upsamples" if h < self.output_size[0] or w < self.output_size[1] else ""
        return Inferred((c, *self.output_size), note=note)

    def build(self, shape: Shape) -> nn.Module:
        return nn.AdaptiveAvgPool2d(self.output_size)

    def geometry(self) -> str:
        return f"→ {self.output_size[0]}×{self.output_size[1]}"
