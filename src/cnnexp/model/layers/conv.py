"""The conv layer: filters, F, S, P, groups, dilation, and kernels written as matrices in the YAML."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnnexp.config import fields as fd
from cnnexp.errors import ConfigError
from cnnexp.model.arithmetic import fmt_pair
from cnnexp.model.layers.base import LAYERS, Inferred, LayerSpec, Place, Shape, need_map, spec_field
from cnnexp.model.layers.sliding import refit, slide

Matrix = tuple[tuple[float, ...], ...]


@LAYERS.register("conv", "conv2d")
@dataclass(frozen=True)
class Conv(LayerSpec):
    type_name = "conv"
    weighted = True
    filters: int | None = spec_field(fd.optional(fd.integer(1)), alias="out_channels")
    kernel_size: fd.Pair | None = spec_field(fd.optional(fd.pair(1)), alias="F")
    stride: fd.Pair = spec_field(fd.pair(1), (1, 1), alias="S")
    padding: fd.Pair | str = spec_field(fd.padding, (0, 0), alias="P")
    dilation: fd.Pair = spec_field(fd.pair(1), (1, 1))
    groups: int = spec_field(fd.integer(1), 1)
    bias: bool | None = spec_field(fd.optional(fd.boolean))
    kernel: tuple[Matrix, ...] | None = spec_field(fd.optional(fd.matrix))
    kernel_scale: float = spec_field(fd.number(-1e9), 1.0)
    frozen: bool = spec_field(fd.boolean, True)

    @classmethod
    def example(cls) -> str:
        return "Example: `conv1: {type: conv, filters: 20, F: 5, S: 1, P: 0}`."

    @property
    def out_channels(self) -> int:
        if self.filters is not None:
            return self.filters
        return len(self.kernel) if self.kernel else 0

    @property
    def size(self) -> fd.Pair:
        if self.kernel:
            return (len(self.kernel[0]), len(self.kernel[0][0]))
        return self.kernel_size  # type: ignore[return-value]

    @property
    def has_bias(self) -> bool:
        # A kernel written in the YAML is the whole filter, as on the lecture's slides: no bias unless asked.
        return self.bias if self.bias is not None else self.kernel is None

    def check(self, place: Place) -> None:
        if self.kernel is None:
            if self.filters is None:
                raise ConfigError(f"{place}: 'filters' is required (the number of output channels). {self.example()}")
            if self.kernel_size is None:
                raise ConfigError(f"{place}: 'F' is required (the filter size). {self.example()}")
        else:
            self._check_kernel(place)
        if self.padding == "same" and self.stride != (1, 1):
            raise ConfigError(
                f"{place}: P='same' needs S=1 (PyTorch has no 'same' padding for strided convolutions); "
                f"write P as a number instead, e.g. P={(self.size[0] - 1) // 2}."
            )
        if self.out_channels % self.groups:
            raise ConfigError(
                f"{place}: groups={self.groups} does not divide filters={self.out_channels}; "
                f"use a number of filters that is a multiple of {self.groups}."
            )

    def _check_kernel(self, place: Place) -> None:
        kernels = self.kernel or ()
        if self.kernel_size is not None and self.kernel_size != self.size:
            raise ConfigError(
                f"{place}: F={fmt_pair(self.kernel_size)} but the kernel matrix is {fmt_pair(self.size)}; "
                f"drop F (the matrix sets it) or make them agree."
            )
        if self.filters is not None and len(kernels) > 1 and self.filters != len(kernels):
            raise ConfigError(
                f"{place}: filters={self.filters} but {len(kernels)} kernels are given; drop filters or make them agree."
            )

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        c, h, w = need_map(shape, place)
        if c % self.groups:
            raise ConfigError(
                f"{place}: groups={self.groups} does not divide its {c} input channels; "
                f"use groups that divide both {c} and filters={self.out_channels}."
            )
        (ho, wo), note = slide(
            (h, w), self.size, self.stride, self.padding, self.dilation, False, place, strict, "filter"
        )
        per_filter = (c // self.groups) * self.size[0] * self.size[1]
        params = self.out_channels * per_filter + (self.out_channels if self.has_bias else 0)
        trainable = 0 if self.kernel is not None and self.frozen else params
        macs = self.out_channels * ho * wo * per_filter
        return Inferred((self.out_channels, ho, wo), params, trainable, macs, note)

    def build(self, shape: Shape) -> nn.Module:
        conv = nn.Conv2d(
            shape[0], self.out_channels, self.size, self.stride, self.padding,
            self.dilation, self.groups, self.has_bias,
        )  # fmt: skip
        if self.kernel is not None:
            self._load_kernel(conv)
        return conv

    def _load_kernel(self, conv: nn.Conv2d) -> None:
        bank = torch.tensor(self.kernel, dtype=conv.weight.dtype) * self.kernel_scale  # (K, F, F)
        index = torch.arange(conv.out_channels) % bank.shape[0]  # one kernel shared, or one per filter
        with torch.no_grad():
            conv.weight.copy_(bank[index].unsqueeze(1).expand_as(conv.weight))
            if conv.bias is not None:
                conv.bias.zero_()
        setattr(conv, "fixed_kernel", True)  # noqa: B010  # weight init must leave it as written (a plain attribute, not a tensor)
        if self.frozen:
            conv.requires_grad_(False)

    def refit(self, size: fd.Pair, want: fd.Pair) -> str:
        return refit(size, want, self.size, self.stride, self.padding, self.dilation, False)

    def geometry(self) -> str:
        pad = self.padding if isinstance(self.padding, str) else fmt_pair(self.padding)
        extra = "".join(
            [
                f" D={fmt_pair(self.dilation)}" if self.dilation != (1, 1) else "",
                f" g={self.groups}" if self.groups > 1 else "",
            ]
        )
        return f"F={fmt_pair(self.size)} S={fmt_pair(self.stride)} P={pad}{extra}"
