"""Layers without a sliding window: activation, batch norm, LRN, dropout, flatten, linear."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from torch import nn

from cnnexp.config import fields as fd
from cnnexp.model.activations import ACTIVATIONS, make_activation
from cnnexp.model.layers.base import (
    LAYERS,
    Context,
    Follows,
    Inferred,
    LayerSpec,
    Place,
    Row,
    Shape,
    derived,
    need_flat,
    need_map,
    spec_field,
)


@LAYERS.register("activation", "act")
@dataclass(frozen=True)
class ActivationLayer(LayerSpec):
    """Applies `fn` if it pins one, else the model's `activation`: resolved once, when the stack is parsed."""

    type_name = "activation"
    fn: str | None = spec_field(fd.optional(fd.text))
    activation: str = derived("")  # the canonical name of the function it applies

    @classmethod
    def parse(cls, raw: Mapping[str, Any], place: Place, ctx: Context | None = None) -> LayerSpec:
        spec = cast(ActivationLayer, super().parse(raw, place, ctx))
        fn = ACTIVATIONS.canonical(spec.fn, place.key("fn")) if spec.fn is not None else None
        return replace(spec, fn=fn, activation=fn or (ctx or Context()).activation)

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        return Inferred(shape, activation=self.activation)

    def build(self, shape: Shape) -> nn.Module:
        return make_activation(self.activation, "model.activation")

    def flow(self, pending: frozenset[str], row: Row, seen: Follows) -> frozenset[str]:
        seen.close(pending, self.activation)
        return frozenset()


@LAYERS.register("batchnorm", "bn", "batch_norm")
@dataclass(frozen=True)
class BatchNorm(LayerSpec):
    type_name = "batchnorm"
    eps: float = spec_field(fd.number(0.0), 1e-5)
    momentum: float = spec_field(fd.number(0.0, 1.0), 0.1)
    affine: bool = spec_field(fd.boolean, True)

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        params = 2 * shape[0] if self.affine else 0
        return Inferred(shape, params, params)

    def build(self, shape: Shape) -> nn.Module:
        norm = nn.BatchNorm2d if len(shape) == 3 else nn.BatchNorm1d
        return norm(shape[0], self.eps, self.momentum, self.affine)


@LAYERS.register("lrn", "local_response_norm")
@dataclass(frozen=True)
class LocalResponseNorm(LayerSpec):
    """AlexNet's LRN, with the paper's α: b = a / (k + α·Σa²)^β over `size` neighbouring channels."""

    type_name = "lrn"
    size: int = spec_field(fd.integer(1), 5)
    alpha: float = spec_field(fd.number(0.0), 1e-4)
    beta: float = spec_field(fd.number(0.0), 0.75)
    k: float = spec_field(fd.number(0.0), 2.0)

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        need_map(shape, place)
        return Inferred(shape)

    def build(self, shape: Shape) -> nn.Module:
        # torch pads the channels by size/2 on each side, so memory grows with size: `size: 1000000000` on a
        # small map asks for gigabytes. A window of 2C − 1 already covers every channel from every channel,
        # so any larger size sums the same a² and gives the same output: build that one.
        size = min(self.size, 2 * shape[0] - 1)
        # torch divides alpha by size (a mean over the window); the paper sums, so scale it back.
        return nn.LocalResponseNorm(size, self.alpha * size, self.beta, self.k)

    def geometry(self) -> str:
        return f"n={self.size}"


@LAYERS.register("dropout")
@dataclass(frozen=True)
class Dropout(LayerSpec):
    type_name = "dropout"
    p: float = spec_field(fd.number(0.0, 1.0, open_max=True), 0.5)

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        return Inferred(shape)

    def build(self, shape: Shape) -> nn.Module:
        return nn.Dropout(self.p)

    def geometry(self) -> str:
        return f"p={self.p:g}"


@LAYERS.register("flatten")
@dataclass(frozen=True)
class Flatten(LayerSpec):
    type_name = "flatten"

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        return Inferred((math.prod(shape),))

    def build(self, shape: Shape) -> nn.Module:
        return nn.Flatten()


@LAYERS.register("linear", "fc", "dense")
@dataclass(frozen=True)
class Linear(LayerSpec):
    type_name = "linear"
    weighted = True
    out_features: int = spec_field(fd.integer(1), alias="out", required=True)
    bias: bool = spec_field(fd.boolean, True)

    @classmethod
    def example(cls) -> str:
        return "Example: `fc1: {type: linear, out: 500}`."

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        n = need_flat(shape, place)
        params = n * self.out_features + (self.out_features if self.bias else 0)
        return Inferred((self.out_features,), params, params, n * self.out_features)

    def build(self, shape: Shape) -> nn.Module:
        return nn.Linear(shape[0], self.out_features, self.bias)
