"""Gates: squeeze-and-excitation's product of a C×1×1 branch and the C×H×W map, as a `gate` layer and as
`join: mul`; equal to torchvision's SqueezeExcitation with its weights, and every shape mistake in words."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from helpers import check_rows, spec_of
from torch import nn
from torchvision.ops import SqueezeExcitation

from cnnexp.errors import ConfigError
from cnnexp.model.builder import build, plan
from cnnexp.model.layers.stack import Wired

HEAD = {"flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 10}}
SQUEEZE = {  # torchvision's SqueezeExcitation(8, 2), its names: avgpool, fc1, activation, fc2, scale_activation
    "avgpool": {"type": "adaptive_avgpool", "size": 1},
    "fc1": {"type": "conv", "filters": 2, "F": 1},
    "activation": {"type": "activation", "fn": "relu"},
    "fc2": {"type": "conv", "filters": 8, "F": 1},
    "scale_activation": {"type": "activation", "fn": "sigmoid"},
}
SE_BLOCK = {"se": {"layers": {**SQUEEZE, "scale": {"type": "gate"}}}}


def _same_as_torchvision(net: nn.Module) -> None:
    reference = SqueezeExcitation(8, 2).eval()
    net.load_state_dict(reference.state_dict())  # by key: the gate adds no module with weights
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(net(x), reference(x), rtol=0, atol=0)


def test_a_gate_layer_is_torchvisions_squeeze_excitation_with_its_names_and_weights() -> None:
    spec = spec_of({"se": {"type": "se"}, **HEAD}, (8, 6, 6), blocks=SE_BLOCK)
    rows = plan(spec)
    net = build(spec).eval()
    check_rows(rows, net, (8, 6, 6))
    assert isinstance(net.se, Wired) and rows[0].out_shape == (8, 6, 6)
    assert [r.geometry for r in rows[0].children if r.type == "gate"] == ["× input"]
    assert rows[0].params == 8 * 2 + 2 + 2 * 8 + 8
    _same_as_torchvision(net.se)


def test_join_mul_multiplies_an_identity_branch_by_a_gate_branch() -> None:
    layers = {"se": {"type": "branches", "join": "mul", "x": "identity", "gate": SQUEEZE}, **HEAD}
    spec = spec_of(layers, (8, 6, 6))
    net = build(spec).eval()
    check_rows(plan(spec), net, (8, 6, 6))
    reference = SqueezeExcitation(8, 2).eval()
    net.se.gate.load_state_dict(reference.state_dict())
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(net.se(x), reference(x), rtol=0, atol=0)


def test_a_gate_from_an_earlier_layer_scales_that_layers_output() -> None:
    layers = {"c": {"type": "conv", "filters": 4, "F": 3, "P": 1}, "pool": {"type": "adaptive_avgpool", "size": 1},
              "sig": {"type": "activation", "fn": "sigmoid"}, "g": {"type": "gate", "from": "c"}, **HEAD}  # fmt: skip
    spec = spec_of(layers, (1, 5, 5))
    net = build(spec).eval()
    x = torch.randn(2, 1, 5, 5)
    with torch.no_grad():
        y = net.c(x)
        torch.testing.assert_close(net(x), net.fc(net.flat(y * torch.sigmoid(y.mean((2, 3), keepdim=True)))))


SE_WITH = {"p": {"type": "adaptive_avgpool", "size": 1}, "c": {"type": "conv", "filters": 4, "F": 1}}
ERRORS = [
    ({"se": {"type": "branches", "join": "mul", "x": "identity", "g": SE_WITH}},
     r"model.layers.se \(layer 0, branches\): `join: mul` cannot join x 8×6×6, g 4×1×1; a gate multiplies element by element, "
     r"broadcasting a C×1×1 gate over a C×H×W map: both need the same channels C, and each height×width must be the map's or 1×1."),
    ({"se": {"type": "branches", "join": "add", "x": "identity", "g": {**SE_WITH, "c": {"type": "conv", "filters": 8, "F": 1}}}},
     r"model.layers.se \(layer 0, branches\): `join: add` cannot join x 8×6×6, g 8×1×1; a 8×1×1 output that scales a map is a gate, "
     r"which multiplies: `join: mul`.$"),
    ({"se": {"type": "branches", "join": "mul", "x": "identity", "g": {"c": {"type": "conv", "filters": 8, "F": 3}}}},
     r"`join: mul` cannot join x 8×6×6, g 8×4×4; a gate multiplies element by element"),
    ({**SE_WITH, "g": {"type": "gate"}},
     r"model.layers.g \(layer 2, gate\): it multiplies the model's input, 8×6×6, by the output of the layers before it, 4×1×1; a gate "
     r"multiplies element by element, broadcasting .* or 1×1. Make the layer before it give 8 channels \(squeeze-and-excitation's"),
    ({"c": {"type": "conv", "filters": 8, "F": 3}, "g": {"type": "gate"}},
     r"it multiplies the model's input, 8×6×6, by the output of the layers before it, 8×4×4; .* Pool the gate to 1×1 first"),
    ({**SE_WITH, "c": {"type": "conv", "filters": 8, "F": 1}, "add": {"type": "shortcut"}},
     r"model.layers.add \(layer 2, shortcut\): the layers before it give 8×1×1 but it adds the model's input, 8×6×6, with no "
     r"projection declared; a 8×1×1 output that scales a map is a gate, which multiplies: `\{type: gate\}` in place of the shortcut."),
    ({"g": {"type": "gate", "from": "later"}}, r"model.layers.g.from \(layer 0, gate\): 'later' is not a layer before this one"),
]  # fmt: skip


@pytest.mark.parametrize(("layers", "message"), ERRORS)
def test_gate_mistakes_name_the_broadcast_rule(layers: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan(spec_of({**layers, **HEAD}, (8, 6, 6)))
