"""Every registered activation against an independent formula; step's gradient; errors; the plot."""

from __future__ import annotations

import math
import pathlib

import pytest
import torch
from PIL import Image
from torch import nn

from cnnexp.errors import ConfigError
from cnnexp.model.activations import ACTIVATIONS, INIT_FAMILIES, Activation, make_activation
from cnnexp.viz import activations as viz

SELU_SCALE = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# Plain-math references, written from the formulas, not from torch.
REFERENCE = {
    "sigmoid": _sigmoid,
    "tanh": math.tanh,
    "step": lambda x: 1.0 if x > 0 else 0.0,
    "softplus": _softplus,
    "relu": lambda x: max(0.0, x),
    "softsign": lambda x: x / (1 + abs(x)),
    "elu": lambda x: x if x > 0 else math.exp(x) - 1,
    "logsigmoid": lambda x: math.log(1 / (1 + math.exp(-x))),
    "swish": lambda x: x / (1 + math.exp(-x)),
    "sinc": lambda x: 1.0 if x == 0 else math.sin(x) / x,
    "leaky_relu": lambda x: max(0.01 * x, x),
    "mish": lambda x: x * math.tanh(_softplus(x)),
    "gelu": lambda x: x * 0.5 * (1 + math.erf(x / math.sqrt(2))),
    "relu6": lambda x: min(max(0.0, x), 6.0),
    "selu": lambda x: SELU_SCALE * (x if x > 0 else SELU_ALPHA * (math.exp(x) - 1)),
    "hardswish": lambda x: x * min(max(0.0, x + 3), 6.0) / 6,
    "hardsigmoid": lambda x: min(max(0.0, x + 3), 6.0) / 6,
    "identity": lambda x: x,
}
POINTS = [-5.0, -3.5, -2.5, -1.0, -0.3, -1e-4, 0.0, 1e-4, 0.3, 1.0, math.pi, 3.5, 5.0, 6.5]  # ±3: hard ramps' ends


def _grad(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (dx,) = torch.autograd.grad(module(x).sum(), x)
    return dx


def test_the_lecture_activations_and_extras_are_registered() -> None:
    assert set(ACTIVATIONS.names()) == set(REFERENCE)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_matches_reference_formula(name: str) -> None:
    x = torch.tensor(POINTS, dtype=torch.float64)
    got = make_activation(name, "test")(x)
    want = torch.tensor([REFERENCE[name](p) for p in POINTS], dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("silu", "swish"),
        ("heaviside", "step"),
        ("linear", "identity"),
        ("none", "identity"),
        ("log_sigmoid", "logsigmoid"),
        ("leakyrelu", "leaky_relu"),
        ("hard_swish", "hardswish"),
        ("hswish", "hardswish"),
        ("hard_sigmoid", "hardsigmoid"),
        ("hsigmoid", "hardsigmoid"),
    ],
)
def test_aliases_build_the_same_function(alias: str, name: str) -> None:
    assert ACTIVATIONS.canonical(alias, "test") == name
    x = torch.linspace(-3, 3, 13)
    torch.testing.assert_close(make_activation(alias, "test")(x), make_activation(name, "test")(x))


def test_sinc_is_the_unnormalised_lecture_sinc() -> None:
    sinc = make_activation("sinc", "test")
    assert sinc(torch.tensor(0.0)).item() == 1.0
    assert abs(sinc(torch.tensor(math.pi)).item()) < 1e-6
    # torch.sinc would give sin(pi)/pi ~ 0 at x = 1; ours gives sin(1).
    assert sinc(torch.tensor(1.0)).item() == pytest.approx(math.sin(1.0))
    assert _grad(sinc, torch.tensor([0.0])).item() == 0.0


def test_logsigmoid_is_log_of_sigmoid_of_x_not_of_minus_x() -> None:
    x = torch.tensor(POINTS, dtype=torch.float64)
    torch.testing.assert_close(make_activation("logsigmoid", "test")(x), torch.log(1 / (1 + torch.exp(-x))))


def test_step_forward_is_exactly_heaviside() -> None:
    x = torch.tensor([-3.0, -1.0, -0.2, -1e-8, 0.0, 1e-8, 0.2, 1.0, 3.0])
    y = make_activation("step", "test")(x)
    assert y.tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        z = make_activation("step", "test")(torch.randn(1000).to(dtype))
        assert z.dtype == dtype and set(z.unique().tolist()) <= {0.0, 1.0}


def test_step_backward_is_the_straight_through_ramp_slope() -> None:
    x = torch.tensor([-3.0, -1.5, -0.99, -0.5, 0.0, 0.5, 0.99, 1.5, 3.0])
    assert _grad(make_activation("step", "test"), x).tolist() == [0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0]


def test_step_traces_without_a_custom_autograd_function() -> None:
    traced = torch.fx.symbolic_trace(make_activation("step", "test"))
    x = torch.linspace(-2, 2, 9)
    torch.testing.assert_close(traced(x), make_activation("step", "test")(x))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_outputs_and_gradients_are_finite(name: str) -> None:
    x = torch.cat([torch.randn(256, generator=torch.Generator().manual_seed(0)) * 10, torch.tensor([0.0, -50.0, 50.0])])
    module = make_activation(name, "test")
    assert torch.isfinite(module(x)).all()
    assert torch.isfinite(_grad(module, x)).all()


def test_each_build_is_a_fresh_module() -> None:
    assert make_activation("relu", "test") is not make_activation("relu", "test")


def test_init_metadata_is_consistent() -> None:
    for name in ACTIVATIONS:
        act = ACTIVATIONS.get(name, "test")
        assert act.init in INIT_FAMILIES
        nn.init.calculate_gain(act.gain_name, act.param)  # a name torch knows
        assert act.formula and "\n" not in act.formula
    assert ACTIVATIONS.get("leaky_relu", "test").param == 0.01
    assert ACTIVATIONS.get("selu", "test").init == "lecun"


def test_bad_init_family_is_refused() -> None:
    with pytest.raises(ValueError, match="init family"):
        Activation(nn.ReLU, "he", "relu", None, "max(0, x)")


@pytest.mark.parametrize(
    ("typo", "guess"),
    [
        ("rleu", "relu"),
        ("relu_6", "relu6"),
        ("sigmiod", "sigmoid"),
        ("Hardswish", "hardswish"),
        ("hard-sigmoid", "hardsigmoid"),
        ("GELU", "gelu"),
        ("swsh", "swish"),
    ],
)
def test_unknown_name_names_place_known_names_and_closest(typo: str, guess: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_activation(typo, "model.layers[3].activation")
    message = str(err.value)
    assert message.startswith("model.layers[3].activation:")
    assert f"'{typo}'" in message and f"Did you mean '{guess}'?" in message
    assert all(name in message for name in ACTIVATIONS.names())


@pytest.mark.parametrize("key", ["relu", "silu"])
def test_duplicate_registration_is_refused(key: str) -> None:
    before = ACTIVATIONS.names()
    with pytest.raises(KeyError, match="registered twice"):
        ACTIVATIONS.add(key, ACTIVATIONS.get("relu", "test"))
    assert ACTIVATIONS.names() == before


def test_plot_command_writes_a_png_of_the_expected_size(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "sub" / "act.png"
    assert viz.main([str(path)]) == 0
    width, height = viz.figure_size(len(ACTIVATIONS.names()))
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (round(width * viz.DPI), round(height * viz.DPI))
        image.verify()


def test_plotted_derivative_of_step_is_its_straight_through_gradient() -> None:
    x, y, dy = viz.curve("step", points=11)  # x = -5, -4, ..., 5
    assert y.tolist() == [0.0] * 6 + [1.0] * 5
    assert dy.tolist() == [0.0] * 5 + [0.5] + [0.0] * 5


@pytest.mark.parametrize(
    ("name", "other"),
    [
        ("prelu", "torch.nn.PReLU"),
        ("celu", "torch.nn.CELU"),
        ("softmax", "torch.nn.Softmax"),
        ("glu", "torch.nn.GLU"),
        ("Hardtanh", "torch.nn.Hardtanh"),
    ],
)
def test_a_near_spelling_of_another_operation_is_said_to_be_it_not_corrected(name: str, other: str) -> None:
    """prelu is one letter from relu, celu from elu and gelu: a different function with a name of its own."""
    with pytest.raises(ConfigError) as err:
        make_activation(name, "model.activation")
    message = str(err.value)
    assert (
        f"unknown activation '{name}'. '{name}' is {other}, another operation; none of the known activations" in message
    )
    assert "Did you mean" not in message
