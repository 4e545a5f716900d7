"""Weight initialisation of conv and linear layers, chosen to suit the activation that follows them."""

from __future__ import annotations

from torch import nn

from cnnexp.errors import ConfigError, closest
from cnnexp.model.activations import ACTIVATIONS, Activation

INIT_SCHEMES = ("auto", "kaiming", "xavier", "lecun", "torch")
TORCH_DEFAULT = "torch default (kaiming_uniform, a=sqrt(5))"


def _check_scheme(scheme: str, where: str) -> None:
    if scheme not in INIT_SCHEMES:
        raise ConfigError(
            f"{where}: unknown init scheme '{scheme}'.{closest(scheme, INIT_SCHEMES)} "
            f"Choices: {', '.join(INIT_SCHEMES)}."
        )


def _resolve(scheme: str, activation: str, where: str) -> tuple[str, Activation]:
    """The concrete scheme ('auto' replaced by the activation's family) and the activation entry."""
    _check_scheme(scheme, where)
    act = ACTIVATIONS.get(activation, where)
    return (act.init if scheme == "auto" else scheme), act


def _gain(act: Activation) -> float:
    return nn.init.calculate_gain(act.gain_name, act.param)


def _init_weight(weight: nn.Parameter, scheme: str, act: Activation) -> None:
    if scheme == "kaiming":
        # `a` only matters for leaky_relu; the gain follows the activation even when the user forces
        # kaiming onto, say, tanh (then std = 5/3 / sqrt(fan_in)).
        nn.init.kaiming_normal_(weight, a=act.param or 0.0, mode="fan_in", nonlinearity=act.gain_name)
    elif scheme == "xavier":
        nn.init.xavier_normal_(weight, gain=_gain(act))
    else:  # lecun: variance 1/fan_in whatever the activation, by definition
        nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="linear")


def _trainable(param: nn.Parameter | None) -> bool:
    # Lazy layers have no shape yet; frozen ones (requires_grad False) hold values set on purpose.
    return (
        param is not None
        and param.requires_grad
        and not isinstance(param, nn.parameter.UninitializedParameter)
    )


def init_weights(module: nn.Module, scheme: str, activation: str, where: str = "model.init") -> None:
    """Re-initialise every Conv2d and Linear weight in `module` (biases to zero) by `scheme`.

    'auto' uses the activation's family, 'torch' keeps PyTorch's default init untouched. Frozen
    parameters and modules marked `fixed_kernel = True` (kernels written in YAML) are skipped.
    Draws from torch's global RNG, in `module.modules()` order, so a seed fixes the result.
    """
    concrete, act = _resolve(scheme, activation, where)
    if concrete == "torch":
        return
    for layer in module.modules():
        if not isinstance(layer, (nn.Conv2d, nn.Linear)) or getattr(layer, "fixed_kernel", False):
            continue
        if _trainable(layer.weight):
            _init_weight(layer.weight, concrete, act)
        if _trainable(layer.bias):
            nn.init.zeros_(layer.bias)


def describe_init(scheme: str, activation: str) -> str:
    """One line for summaries, e.g. 'kaiming_normal (fan_in, relu)'."""
    concrete, act = _resolve(scheme, activation, "model.init")
    if concrete == "torch":
        return TORCH_DEFAULT
    if concrete == "lecun":
        return "lecun_normal (fan_in, linear)"
    if concrete == "xavier":
        return f"xavier_normal (fan_avg, {act.gain_name} gain {_gain(act):.4g})"
    nonlinearity = act.gain_name if act.param is None else f"{act.gain_name} {act.param:g}"
    return f"kaiming_normal (fan_in, {nonlinearity})"
