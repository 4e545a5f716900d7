"""Weight init: the std each scheme promises, the activation each layer's init follows, what it leaves alone, errors."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import spec_of
from torch import nn

from cnnexp.errors import ConfigError
from cnnexp.model.activations import ACTIVATIONS
from cnnexp.model.builder import build, plan
from cnnexp.model.init import INITS, describe_init, init_weights
from cnnexp.model.summary import summarize
from cnnexp.train.results import hparams


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
    [
        ("relu", "kaiming"),
        ("gelu", "kaiming"),
        ("mish", "kaiming"),
        ("swish", "kaiming"),
        ("elu", "kaiming"),
        ("softplus", "kaiming"),
        ("leaky_relu", "kaiming"),
        ("sigmoid", "xavier"),
        ("tanh", "xavier"),
        ("softsign", "xavier"),
        ("logsigmoid", "xavier"),
        ("step", "xavier"),
        ("sinc", "xavier"),
        ("identity", "xavier"),
        ("selu", "lecun"),
    ],
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
    with pytest.raises(
        ConfigError,
        match=r"model.init: unknown init scheme 'he'. Known init schemes: auto, kaiming, lecun, torch, xavier.",
    ):
        describe_init("he", "relu")


# ---- init follows the activation each layer feeds (model/builder.py: follows) ---------------------------

PINNED = {
    "conv1": {"type": "conv", "filters": 64, "F": 5}, "act1": {"type": "activation", "fn": "tanh"},
    "conv2": {"type": "conv", "filters": 64, "F": 5}, "pool": {"type": "maxpool", "F": 2}, "act2": {"type": "activation"},
    "flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 10},
}  # fmt: skip


def test_a_layers_own_fn_sets_the_init_of_the_conv_feeding_it_and_the_table_says_so() -> None:
    spec = spec_of(PINNED, (32, 28, 28), activation="relu")
    _seeded()
    net = build(spec)
    assert _std(net.conv1) == pytest.approx(5 / 3 * math.sqrt(2 / (32 * 25 + 64 * 25)), rel=0.03)  # xavier, tanh's gain
    assert _std(net.conv2) == pytest.approx(math.sqrt(2 / (64 * 25)), rel=0.03)  # kaiming for the relu after the pool
    assert _std(net.fc) == pytest.approx(
        math.sqrt(2 / (64 * 10 * 10 + 10)), rel=0.05
    )  # the head: no activation, gain 1
    summary = summarize(spec)
    rows = {line.split()[1]: line for line in summary.table().splitlines() if line[:1].isdigit()}
    assert "→ tanh" in rows["conv1"] and rows["act1"].split()[-1] == "tanh"
    assert "→ relu" in rows["conv2"] and "→ identity" in rows["fc"]
    layers = {row["name"]: row for row in summary.to_dict()["layers"]}
    assert (layers["conv1"]["activation"], layers["conv1"]["init"]) == (
        "tanh",
        "xavier_normal (fan_avg, tanh gain 1.667)",
    )
    assert (layers["conv2"]["activation"], layers["conv2"]["init"]) == ("relu", "kaiming_normal (fan_in, relu)")
    assert summary.activation == summary.to_dict()["activation"] == "mixed: tanh, relu"
    assert hparams(summary, {})["activation"] == "mixed: tanh, relu"  # what TensorBoard's HPARAMS tab shows


def test_one_activation_for_all_is_named_as_such() -> None:
    assert summarize(spec_of(PINNED, (32, 28, 28), activation="tanh")).activation == "tanh"
    assert (
        summarize(
            spec_of({"flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 10}}, activation="elu")
        ).activation
        == "elu"
    )


FLOWS = [
    # conv → conv: the first reaches no activation before the next weight layer
    ({"a": {"type": "conv", "filters": 2, "F": 1}, "b": {"type": "conv", "filters": 2, "F": 1}, "r": {"type": "activation"}},
     {"a": "identity", "b": "relu"}),
    # through batch norm, dropout and a shortcut's addition; the projection reaches the same activation
    ({"a": {"type": "conv", "filters": 4, "F": 3, "S": 2, "P": 1}, "bn": {"type": "batchnorm"}, "d": {"type": "dropout"},
      "add": {"type": "shortcut", "project": {"type": "conv", "filters": 4, "F": 1, "S": 2}}, "t": {"type": "activation", "fn": "tanh"}},
     {"a": "tanh", "add": "tanh"}),
    # a fork: branches that reach different activations leave the layer before them with the linear gain
    ({"a": {"type": "conv", "filters": 2, "F": 1},
      "br": {"type": "branches", "x": {"s": {"type": "activation", "fn": "sigmoid"}}, "y": {"t": {"type": "activation", "fn": "tanh"}}}},
     {"a": "identity"}),
    # branches that agree, and a branch ending in a conv that reaches the activation after the join
    ({"a": {"type": "conv", "filters": 2, "F": 1},
      "br": {"type": "branches", "x": {"t": {"type": "activation", "fn": "tanh"}}, "y": {"c": {"type": "conv", "filters": 2, "F": 1}}},
      "e": {"type": "activation", "fn": "elu"}},
     {"a": "identity", "br.y.c": "elu"}),
    ({"a": {"type": "conv", "filters": 2, "F": 1},
      "br": {"type": "branches", "x": {"t": {"type": "activation", "fn": "tanh"}}, "y": "identity"}, "t": {"type": "activation", "fn": "tanh"}},
     {"a": "tanh"}),
]  # fmt: skip


@pytest.mark.parametrize(("layers", "want"), FLOWS)
def test_the_activation_a_layer_feeds_is_found_along_the_data_flow(layers: dict, want: dict[str, str]) -> None:
    rows = plan(spec_of({**layers, "flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 10}}, (2, 8, 8)))
    found = {row.path: row.activation for top in rows for _, row in top.walk() if row.weighted}
    assert found == {**want, "fc": "identity"}


def test_every_activations_init_family_is_a_registered_scheme_and_auto_is_that_family() -> None:
    for name in ACTIVATIONS:
        act = ACTIVATIONS.get(name, "test")
        assert act.init in INITS and describe_init("auto", name) == describe_init(act.init, name)


def test_init_is_checked_once_with_one_message() -> None:
    message = r"model.init: unknown init scheme 'kaimng'. Did you mean 'kaiming'\? Known init schemes: auto, kaiming, lecun, torch, xavier."
    with pytest.raises(ConfigError, match=message):
        spec_of({"flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 10}}, init="kaimng")
    with pytest.raises(ConfigError, match=message):
        init_weights(nn.Linear(2, 2), "kaimng", "relu")
