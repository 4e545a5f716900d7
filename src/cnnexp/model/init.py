"""Weight initialisation of conv and linear layers, each suited to the activation its output reaches.

The schemes are a registry (`model.init`): each entry initialises one weight for an activation and
describes itself in one line. `auto` is the activation's own family (activations.py says which).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from torch import Tensor, nn

from cnnexp.config.registry import Registry
from cnnexp.model.activations import ACTIVATIONS, Activation

TORCH_DEFAULT = "torch default (kaiming_uniform, a=sqrt(5))"


@dataclass(frozen=True)
class Scheme:
    """One init scheme: how it draws a weight for an activation (None: PyTorch's default stays) and its line."""

    draw: Callable[[Tensor, Activation], None] | None
    describe: Callable[[Activation], str]


def _gain(act: Activation) -> float:
    return nn.init.calculate_gain(act.gain_name, act.param)


def _kaiming(weight: Tensor, act: Activation) -> None:
    # `a` only matters for leaky_relu; the gain follows the activation even when the user forces
    # kaiming onto, say, tanh (then std = 5/3 / sqrt(fan_in)).
    nn.init.kaiming_normal_(weight, a=act.param or 0.0, mode="fan_in", nonlinearity=act.gain_name)


def _kaiming_line(act: Activation) -> str:
    nonlinearity = act.gain_name if act.param is None else f"{act.gain_name} {act.param:g}"
    return f"kaiming_normal (fan_in, {nonlinearity})"


def _xavier(weight: Tensor, act: Activation) -> None:
    nn.init.xavier_normal_(weight, gain=_gain(act))


def _lecun(weight: Tensor, act: Activation) -> None:
    nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="linear")  # variance 1/fan_in whatever follows


def _family(act: Activation) -> Scheme:
    return INITS.get(act.init, "model.init")


INITS: Registry[Scheme] = Registry("init scheme")
INITS.add("auto", Scheme(lambda weight, act: _family(act).draw(weight, act), lambda act: _family(act).describe(act)))  # type: ignore[misc]
INITS.add("kaiming", Scheme(_kaiming, _kaiming_line))
INITS.add("xavier", Scheme(_xavier, lambda act: f"xavier_normal (fan_avg, {act.gain_name} gain {_gain(act):.4g})"))
INITS.add("lecun", Scheme(_lecun, lambda act: "lecun_normal (fan_in, linear)"))
INITS.add("torch", Scheme(None, lambda act: TORCH_DEFAULT))


def _trainable(param: Tensor | None) -> bool:
    # Lazy layers have no shape yet; frozen ones (requires_grad False) hold values set on purpose.
    return param is not None and param.requires_grad and not isinstance(param, nn.parameter.UninitializedParameter)


def init_weights(
    module: nn.Module, scheme: str, activation: str = "identity", follows: Mapping[str, str] | None = None,
    where: str = "model.init",
) -> None:  # fmt: skip
    """Re-initialise every Conv2d and Linear weight in `module` (biases to zero) by `scheme`.

    Each layer's init suits `follows[its module name]`, the activation its output reaches, else `activation`.
    'torch' keeps PyTorch's default init untouched. Frozen parameters and modules marked `fixed_kernel = True`
    (kernels written in YAML) are skipped. Draws from torch's global RNG, in `module.named_modules()` order,
    so a seed fixes the result.
    """
    draw = INITS.get(scheme, where).draw
    default = ACTIVATIONS.get(activation, "model.activation")
    if draw is None:
        return
    for name, layer in module.named_modules():
        if not isinstance(layer, (nn.Conv2d, nn.Linear)) or getattr(layer, "fixed_kernel", False):
            continue
        act = ACTIVATIONS.get(follows[name], "model.activation") if follows and name in follows else default
        if _trainable(layer.weight):
            draw(layer.weight, act)
        if layer.bias is not None and _trainable(layer.bias):
            nn.init.zeros_(layer.bias)


def describe_init(scheme: str, activation: str) -> str:
    """One line for summaries, e.g. 'kaiming_normal (fan_in, relu)'."""
    return INITS.get(scheme, "model.init").describe(ACTIVATIONS.get(activation, "model.activation"))
