"""Weight init: the std each scheme promises, what it must leave alone, and its errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnexp.errors import ConfigError
from cnnexp.model.init import INITS, describe_init, init_weights


def _seeded(seed: int = 0) -> None:
    torch.manual_seed(seed)


def _std(layer: nn.Module) -> float:
    return layer.weight.detach().std().item()


@pytest.mark.parametrize(
    ("scheme", "activation", "layer", "want"),
    [
        ("auto", "relu", nn.Linear(1000, 1000), math.sqrt(2 / 1000)),
        ("kaiming", "relu", nn.Conv2d(64, 128, 3), math.sqrt(2 / (64 * 9))),
        ("auto", "leaky_relu", nn.Linear(1000, 1000), math.sqrt(2 / (1 + 0.01**2) / 1000)),
        ("auto", "tanh", nn.Linear(800, 400), 5 / 3 * math.sqrt(2 / 1200)),
        ("xavier", "tanh", nn.Conv2d(32, 64, 5), 5 / 3 * math.sqrt(2 / (32 * 25 + 64 * 25))),
        ("auto", "sigmoid", nn.Linear(800, 400), math.sqrt(2 / 1200)),
        ("auto", "selu", nn.Linear(1000, 500), math.sqrt(1 / 1000)),
        ("lecun", "relu", nn.Linear(1000, 500), math.sqrt(1 / 1000)),
        ("auto", "identity", nn.Linear(800, 400), math.sqrt(2 / 1200)),
    ],
)
def test_weight_std_matches_the_scheme(scheme: str, activation: str, layer: nn.Module, want: float) -> None:
    _seeded()
    init_weights(layer, scheme, activation)
    assert _std(layer) == pytest.approx(want, rel=0.03)
    assert abs(layer.weight.mean().item()) < 0.05 * want
    assert torch.count_nonzero(layer.bias) == 0


@pytest.mark.parametrize(
    ("activation", "family"),
    [("relu", "kaiming"), ("gelu", "kaiming"), ("mish", "kaiming"), ("swish", "kaiming"),
     ("elu", "kaiming"), ("softplus", "kaiming"), ("leaky_relu", "kaiming"),
     ("sigmoid", "xavier"), ("tanh", "xavier"), ("softsign", "xavier"), ("logsigmoid", "xavier"),
     ("step", "xavier"), ("sinc", "xavier"), ("identity", "xavier"), ("selu", "lecun")],
)
def test_auto_is_the_activation_family(activation: str, family: str) -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8, 4))
    twin = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8, 4))
    _seeded(1)
    init_weights(model, "auto", activation)
    _seeded(1)
    init_weights(twin, family, activation)
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.equal(a, b)


def test_torch_scheme_leaves_everything_untouched() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 4))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    init_weights(model, "torch", "relu")
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_frozen_and_fixed_kernels_are_skipped() -> None:
    frozen = nn.Conv2d(1, 4, 3)
    frozen.weight.requires_grad_(False)
    fixed = nn.Conv2d(4, 4, 3)
    fixed.fixed_kernel = True
    free = nn.Conv2d(4, 4, 3)
    model = nn.Sequential(frozen, fixed, free)
    frozen_weight = frozen.weight.clone()
    fixed_state = {k: v.clone() for k, v in fixed.state_dict().items()}
    free_weight = free.weight.clone()
    init_weights(model, "kaiming", "relu")
    assert torch.equal(frozen.weight, frozen_weight)
    assert torch.count_nonzero(frozen.bias) == 0  # the bias is trainable, so it is still reset
    for key, value in fixed.state_dict().items():
        assert torch.equal(value, fixed_state[key]), key
    assert not torch.equal(free.weight, free_weight)


def test_lazy_layers_not_yet_shaped_are_skipped() -> None:
    model = nn.Sequential(nn.LazyLinear(4), nn.Linear(4, 2))
    init_weights(model, "xavier", "tanh")
    assert torch.count_nonzero(model[1].bias) == 0


def test_deterministic_given_the_seed() -> None:
    def draw(seed: int) -> torch.Tensor:
        model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8, 4))
        _seeded(seed)
        init_weights(model, "auto", "gelu")
        return torch.cat([p.flatten() for p in model.parameters()])

    assert torch.equal(draw(7), draw(7))
    assert not torch.equal(draw(7), draw(8))


def test_bad_scheme_lists_the_choices() -> None:
    with pytest.raises(ConfigError) as err:
        init_weights(nn.Linear(2, 2), "kaimin", "relu", where="model.init")
    message = str(err.value)
    assert message.startswith("model.init:") and "'kaimin'" in message
    assert "Did you mean 'kaiming'?" in message
    assert all(scheme in message for scheme in INITS.names())


def test_unknown_activation_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown activation 'rleu'.*Did you mean 'relu'"):
        init_weights(nn.Linear(2, 2), "auto", "rleu")


@pytest.mark.parametrize(
    ("scheme", "activation", "text"),
    [
        ("auto", "relu", "kaiming_normal (fan_in, relu)"),
        ("kaiming", "leaky_relu", "kaiming_normal (fan_in, leaky_relu 0.01)"),
        ("auto", "tanh", "xavier_normal (fan_avg, tanh gain 1.667)"),
        ("xavier", "sigmoid", "xavier_normal (fan_avg, sigmoid gain 1)"),
        ("auto", "selu", "lecun_normal (fan_in, linear)"),
        ("torch", "relu", "torch default (kaiming_uniform, a=sqrt(5))"),
    ],
)
def test_describe_init(scheme: str, activation: str, text: str) -> None:
    assert describe_init(scheme, activation) == text


def test_describe_init_validates_the_scheme() -> None:
    with pytest.raises(ConfigError, match=r"model.init: unknown init scheme 'he'. Known init schemes: auto, kaiming, lecun, torch, xavier."):
        describe_init("he", "relu")
