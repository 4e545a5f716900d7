"""The layer types of post-2018 networks against torchvision's own modules: layer norm over channels, layer scale,
drop path and its schedules over depth, the pointwise linear layer, channel split and shuffle; every error."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torchvision
from helpers import check_rows, every_row, spec_of
from torch import nn
from torchvision.models.convnext import LayerNorm2d
from torchvision.ops import StochasticDepth

from cnnexp.errors import ConfigError
from cnnexp.model.builder import build, plan
from cnnexp.model.spec import parse_model

HEAD = {"flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 10}}


def _built(layers: dict[str, Any], shape: tuple[int, int, int] = (8, 6, 6), **extra: Any) -> nn.Module:
    spec = spec_of({**layers, **HEAD}, shape, **extra)
    net = build(spec).eval()
    check_rows(plan(spec), net, shape)  # params, trainable params, shapes and FLOPs per row against the module
    assert parse_model(spec.to_dict()) == spec
    return net


def test_layernorm_on_a_map_is_convnexts_layernorm2d_and_on_features_nn_layernorm() -> None:
    net = _built({"ln": {"type": "layernorm", "eps": 1e-6}, "pool": {"type": "adaptive_avgpool", "size": 1},
                  "f": {"type": "flatten"}, "ln2": {"type": "layernorm", "affine": False}})  # fmt: skip
    reference = LayerNorm2d(8, eps=1e-6)
    nn.init.normal_(reference.weight), nn.init.normal_(reference.bias)
    net.ln.load_state_dict(reference.state_dict())
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(net.ln(x), reference(x), rtol=0, atol=0)
    assert isinstance(net.ln2, nn.LayerNorm) and net.ln2.weight is None and net.ln2.eps == 1e-5


def test_layer_scale_is_a_trained_factor_per_channel_that_init_leaves_at_its_value() -> None:
    net = _built({"c": {"type": "conv", "filters": 4, "F": 1}, "ls": {"type": "layer_scale", "init": 0.5}})
    assert net.ls.weight.shape == (4, 1, 1) and torch.equal(net.ls.weight, torch.full((4, 1, 1), 0.5))
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(net.ls(x), 0.5 * x)
    assert plan(spec_of({"ls": {"type": "layer_scale"}, **HEAD}, (8, 6, 6)))[0].geometry == "γ₀=1e-06"


RESIDUAL = {"params": {"p": 0.0}, "layers": {"c": {"type": "conv", "filters": 8, "F": 3, "P": 1},
                                             "drop": {"type": "drop_path", "p": "$p"}, "add": {"type": "shortcut"}}}  # fmt: skip


def test_drop_path_drops_whole_images_of_the_branch_in_training_and_nothing_in_eval() -> None:
    net = _built({"b": {"type": "res", "p": 0.5}}, blocks={"res": RESIDUAL})
    x = torch.ones(64, 8, 6, 6)
    torch.manual_seed(0)
    reference = StochasticDepth(0.5, "row").train()
    torch.manual_seed(0)
    dropped = net.b.drop.train()(x)
    torch.manual_seed(0)
    torch.testing.assert_close(dropped, reference(x), rtol=0, atol=0)
    assert {v for v in dropped[:, 0, 0, 0].tolist()} == {0.0, 2.0}  # zeroed, or kept and scaled by 1/(1 − p)
    assert torch.equal(net.b.drop.eval()(x), x)


def test_schedules_over_depth_give_efficientnets_and_convnexts_rates() -> None:
    def rates(schedule: str, n: int) -> list[float]:
        layers = {"s": {"type": "res", "repeat": n, "p": {"type": "drop_path", "p": 0.2, "schedule": schedule}}}
        block = {"params": {"p": None}, "layers": {**RESIDUAL["layers"], "drop": "$p"}}
        net = build(spec_of({**layers, **HEAD}, (8, 6, 6), blocks={"res": block}))
        return [m.p for m in net.modules() if type(m).__name__ == "DropPath"]

    assert rates("linear", 5) == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])  # ConvNeXt: p·i/(n − 1)
    assert rates("depth_fraction", 4) == pytest.approx([0.0, 0.05, 0.1, 0.15])  # EfficientNet: p·i/n
    assert rates("constant", 3) == [0.2, 0.2, 0.2]


def test_a_drop_path_without_a_shortcut_after_it_drops_nothing_but_keeps_its_place_in_the_schedule() -> None:
    """EfficientNet's blocks that change the shape add nothing, yet count in the schedule (torchvision's do too)."""
    block = {"params": {"residual": {"type": "shortcut"}}, "layers": {
        "c": {"type": "conv", "filters": 8, "F": 1}, "drop": {"type": "drop_path", "p": 0.3, "schedule": "linear"}, "add": "$residual"}}  # fmt: skip
    spec = spec_of(
        {"a": {"type": "mb", "residual": None}, "b": {"type": "mb"}, **HEAD}, (8, 6, 6), blocks={"mb": block}
    )
    rows = {row.path: row for row in every_row(plan(spec))}
    assert rows["a.drop"].note == "no shortcut after it: drops nothing" and rows["b.drop"].note == ""
    assert [rows["a.drop"].geometry, rows["b.drop"].geometry] == ["p=0", "p=0.3"]
    net = build(spec)
    assert (net.a.drop.p, net.b.drop.p) == (0.0, 0.3)


def test_pointwise_is_a_linear_layer_over_the_channels_at_every_position() -> None:
    net = _built({"pw": {"type": "pointwise", "out": 5}}, (3, 4, 4))
    assert net.pw.weight.shape == (5, 3)
    x = torch.randn(2, 3, 4, 4)
    conv = nn.Conv2d(3, 5, 1)
    conv.load_state_dict({"weight": net.pw.weight[:, :, None, None], "bias": net.pw.bias})
    with torch.no_grad():
        torch.testing.assert_close(net.pw(x), conv(x))


def test_a_shufflenet_v2_unit_equals_torchvisions_with_its_weights() -> None:
    conv_bn = lambda f, **kw: {"conv": {"type": "conv", "filters": 4, "F": f, "P": f // 2, "bias": False, **kw},  # noqa: E731
                               "bn": {"type": "batchnorm"}}  # fmt: skip
    branch = {"split": {"type": "channel_split", "part": 1}, **{f"a{k}": v for k, v in conv_bn(1).items()}, "r1": {"type": "activation"},
              **{f"b{k}": v for k, v in conv_bn(3, groups=4).items()}, **{f"c{k}": v for k, v in conv_bn(1).items()}, "r2": {"type": "activation"}}  # fmt: skip
    layers = {"unit": {"type": "branches", "x1": {"split": {"type": "channel_split", "part": 0}}, "branch2": branch},
              "shuffle": {"type": "channel_shuffle", "groups": 2}}  # fmt: skip
    net = _built(layers)
    reference = torchvision.models.shufflenetv2.InvertedResidual(8, 8, 1).eval()
    for module in reference.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5), module.running_var.uniform_(0.5, 2.0)
    ours = nn.Sequential(net.unit, net.shuffle)
    ours.load_state_dict(dict(zip(ours.state_dict(), reference.state_dict().values())))
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=0)


def test_every_new_type_plans_before_a_weight_exists() -> None:
    layers = {"ln": {"type": "layernorm"}, "ls": {"type": "layer_scale"}, "pw": {"type": "pointwise", "out": 16},
              "split": {"type": "channel_split", "parts": 4, "part": 3}, "shuffle": {"type": "channel_shuffle", "groups": 2}}  # fmt: skip
    rows = every_row(plan(spec_of({**layers, **HEAD}, (8, 6, 6))))
    assert [(r.name, r.out_shape, r.params, r.macs) for r in rows[:5]] == [
        ("ln", (8, 6, 6), 16, 0), ("ls", (8, 6, 6), 8, 0), ("pw", (16, 6, 6), 8 * 16 + 16, 8 * 16 * 36),
        ("split", (4, 6, 6), 0, 0), ("shuffle", (4, 6, 6), 0, 0),
    ]  # fmt: skip


ERRORS = [
    ({"s": {"type": "channel_split", "parts": 3, "part": 0}},
     r"model.layers.s \(layer 0, channel_split\): its input has 8 channels \(8×6×6\), not a multiple of parts=3; give the layer before it a multiple of 3."),
    ({"s": {"type": "channel_split", "part": 2}}, r"model.layers.s \(layer 0, channel_split\): part=2 but there are 2 parts, 0 to 1."),
    ({"s": {"type": "channel_split"}}, r"model.layers.s \(layer 0, channel_split\): 'part' is required. Example: `half: "),
    ({"s": {"type": "channel_shuffle", "groups": 3}},
     r"model.layers.s \(layer 0, channel_shuffle\): groups=3 does not divide its 8 input channels; use groups that divide 8."),
    ({"d": {"type": "drop_path", "schedule": "cosine"}},
     r"model.layers.d.schedule \(layer 0, drop_path\) must be one of constant, linear, depth_fraction, got 'cosine'."),
    ({"d": {"type": "drop_path", "p": 1.0}}, r"model.layers.d.p \(layer 0, drop_path\) must be at least 0.0 and below 1.0, got 1.0."),
    ({"f": {"type": "flatten"}, "pw": {"type": "pointwise", "out": 3}},
     r"model.layers.pw \(layer 1, pointwise\): needs a feature map C×H×W but its input is 1-D \(288 features\)"),
    ({"d": {"type": "dropath"}}, r"unknown layer type 'dropath'. Did you mean 'droppath'\?"),
    ({"d": {"type": "group_norm"}}, r"unknown layer type 'group_norm'. 'group_norm' is torch.nn.GroupNorm, another operation"),
]  # fmt: skip


@pytest.mark.parametrize(("layers", "message"), ERRORS)
def test_mistakes(layers: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan(spec_of({**layers, **HEAD}, (8, 6, 6)))
