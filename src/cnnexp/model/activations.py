"""The activation functions a layer stack may name, each with the weight init that suits it.

Covers the lecture's twelve (sigmoid ... mish) plus gelu, selu, relu6 (MobileNet's), hardswish and hardsigmoid
(MobileNetV3's) and identity. Two need a stated choice
(see docs/activations.md): `step` trains through a straight-through gradient, and `sinc` is the
lecture's unnormalised sin(x)/x, not torch.sinc's sin(pi x)/(pi x).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
from torch import nn

from cnnexp.config.registry import Registry
from cnnexp.model.others import torch_operations

INIT_FAMILIES = ("kaiming", "xavier", "lecun")
# The nonlinearities torch.nn.init knows a gain for (calculate_gain, kaiming_*_'s `nonlinearity`).
GainName = Literal["linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]
LEAKY_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    """How to build one activation and how to initialise the weights feeding it."""

    make: Callable[[], nn.Module]
    init: str  # one of INIT_FAMILIES
    gain_name: GainName  # nonlinearity name for torch.nn.init.calculate_gain / kaiming_*_
    param: float | None  # the leaky slope, passed on as calculate_gain's param / kaiming's `a`
    formula: str  # one line, for docs, tables and plot titles

    def __post_init__(self) -> None:
        if self.init not in INIT_FAMILIES:
            raise ValueError(f"init family '{self.init}' is not one of {', '.join(INIT_FAMILIES)}")


class Step(nn.Module):
    """Heaviside step, 1 for x > 0 else 0, trained with a straight-through gradient.

    The true gradient is zero almost everywhere, so nothing before a step layer would learn. Backward
    instead uses the hard-sigmoid ramp clamp(x/2 + 1/2, 0, 1): slope 1/2 for |x| < 1, 0 outside.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ramp = torch.clamp(x / 2 + 0.5, 0.0, 1.0)
        # `ramp - ramp.detach()` is exactly 0 forward (so the output is exactly 0 or 1) and carries
        # the ramp's gradient backward; no autograd.Function, so it traces and compiles as plain ops.
        return (x > 0).to(x.dtype) + (ramp - ramp.detach())


class Sinc(nn.Module):
    """Unnormalised sinc, sin(x)/x with value 1 at x = 0 (the lecture's), via torch.sinc(x / pi)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # torch.sinc is sin(pi x)/(pi x); scaling the argument by 1/pi gives sin(x)/x, and torch.sinc
        # already handles x = 0 (value 1, gradient 0) without a 0/0.
        return torch.sinc(x / math.pi)


ACTIVATIONS: Registry[Activation] = Registry("activation", others=torch_operations)


def _kaiming(make: Callable[[], nn.Module], formula: str) -> Activation:
    # The ReLU family (one-sided, roughly x for large x) loses about half the variance per layer,
    # which He et al.'s gain sqrt(2) makes up for; its smooth members are close enough to share it.
    return Activation(make, "kaiming", "relu", None, formula)


def _xavier(make: Callable[[], nn.Module], gain_name: GainName, formula: str) -> Activation:
    return Activation(make, "xavier", gain_name, None, formula)


# The lecture's order, then the extras.
ACTIVATIONS.add("sigmoid", _xavier(nn.Sigmoid, "sigmoid", "1 / (1 + e^-x)"))
ACTIVATIONS.add("tanh", _xavier(nn.Tanh, "tanh", "tanh(x)"))
# step outputs 0/1 like a sigmoid and its surrogate slope (1/2) is of a sigmoid's order: sigmoid's gain 1.
ACTIVATIONS.add("step", _xavier(Step, "sigmoid", "1 if x > 0 else 0"), "heaviside")
ACTIVATIONS.add("softplus", _kaiming(nn.Softplus, "ln(1 + e^x)"))
ACTIVATIONS.add("relu", _kaiming(nn.ReLU, "max(0, x)"))
# softsign is odd, slope 1 at 0 and saturating like tanh (only more slowly): tanh's gain 5/3.
ACTIVATIONS.add("softsign", _xavier(nn.Softsign, "tanh", "x / (1 + |x|)"))
ACTIVATIONS.add("elu", _kaiming(nn.ELU, "x if x > 0 else e^x - 1"))
# logsigmoid = -softplus(-x): bounded above, not zero-centred, slope 1/2 at 0 -> sigmoid's gain 1.
ACTIVATIONS.add("logsigmoid", _xavier(nn.LogSigmoid, "sigmoid", "ln(1 / (1 + e^-x))"), "log_sigmoid")
ACTIVATIONS.add("swish", _kaiming(nn.SiLU, "x / (1 + e^-x)"), "silu")
# sinc is even with slope 0 at 0 and oscillates past |x| = pi; gain 1 (sigmoid's) keeps unit-variance
# pre-activations inside the main lobe, where a larger gain like tanh's would push them into the tail.
ACTIVATIONS.add("sinc", _xavier(Sinc, "sigmoid", "sin(x) / x, 1 at x = 0"))
ACTIVATIONS.add(
    "leaky_relu",
    Activation(partial(nn.LeakyReLU, LEAKY_SLOPE), "kaiming", "leaky_relu", LEAKY_SLOPE, "max(0.01x, x)"),
    "leakyrelu",
)
ACTIVATIONS.add("mish", _kaiming(nn.Mish, "x * tanh(ln(1 + e^x))"))
ACTIVATIONS.add("gelu", _kaiming(nn.GELU, "x * Phi(x), Phi the normal CDF"))
# Self-normalising nets want weight variance 1/fan_in (LeCun normal). PyTorch's SELU and calculate_gain
# docs say to get it with nonlinearity='linear', not 'selu' (whose 3/4 gain is for other schemes).
# relu6 is relu clipped at 6 (MobileNet's, for low-precision inference); below the clip it is relu: relu's gain.
ACTIVATIONS.add("relu6", _kaiming(nn.ReLU6, "min(max(0, x), 6)"))
ACTIVATIONS.add("selu", Activation(nn.SELU, "lecun", "linear", None, "1.0507 * (x if x > 0 else 1.6733 (e^x - 1))"))
# MobileNetV3's piecewise-linear stand-ins for swish and sigmoid: x·relu6(x + 3)/6 is swish-like (one-sided,
# about x for large x): relu's gain; relu6(x + 3)/6 is a sigmoid-shaped ramp from 0 to 1, slope 1/6: sigmoid's.
ACTIVATIONS.add("hardswish", _kaiming(nn.Hardswish, "x * min(max(0, x + 3), 6) / 6"), "hard_swish", "hswish")
ACTIVATIONS.add(
    "hardsigmoid", _xavier(nn.Hardsigmoid, "sigmoid", "min(max(0, x + 3), 6) / 6"), "hard_sigmoid", "hsigmoid"
)
ACTIVATIONS.add("identity", _xavier(nn.Identity, "linear", "x"), "linear", "none")


def make_activation(name: str, where: str) -> nn.Module:
    """A fresh module for activation `name` (or an alias); ConfigError naming `where` if unknown."""
    return ACTIVATIONS.get(name, where).make()
