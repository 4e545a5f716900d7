"""Blocks, shortcuts and branches: what they build (checked against hand-written PyTorch), and every error."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torchvision
from helpers import check_rows, every_row, spec_of
from support import Compose
from torch import nn

from cnnexp.errors import ConfigError
from cnnexp.model.builder import build, plan
from cnnexp.model.layers.stack import Wired
from cnnexp.model.summary import summarize
from cnnexp.run import read_run

HEAD = {"flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 10}}
CONV3 = {"params": {"filters": None}, "layers": {"conv": {"type": "conv", "filters": "$filters", "F": 3, "P": 1},
                                                  "relu": {"type": "activation"}}}  # fmt: skip
VGG = {  # a VGG stage: `convs` 3×3 convolutions, then a 2×2 max-pool; the repeat count is a parameter too
    "conv3": CONV3,
    "stage": {"params": {"filters": None, "convs": 2},
              "layers": {"convs": {"type": "conv3", "filters": "$filters", "repeat": "$convs"}, "pool": {"type": "maxpool", "F": 2}}},
}  # fmt: skip
BASIC = {  # torchvision's BasicBlock, with the projection as a parameter (identity unless a use gives one)
    "params": {"filters": None, "S": 1, "project": "identity"},
    "layers": {
        "conv1": {"type": "conv", "filters": "$filters", "F": 3, "S": "$S", "P": 1, "bias": False}, "bn1": {"type": "batchnorm"},
        "relu": {"type": "activation"}, "conv2": {"type": "conv", "filters": "$filters", "F": 3, "P": 1, "bias": False},
        "bn2": {"type": "batchnorm"}, "downsample": {"type": "shortcut", "project": "$project"}, "relu2": {"type": "activation"},
    },
}  # fmt: skip
PROJECT = {"type": "conv", "filters": 8, "F": 1, "S": 2, "bias": False}


def _built(layers: dict[str, Any], shape: tuple[int, int, int] = (1, 28, 28), **extra: Any) -> tuple[Any, nn.Module]:
    spec = spec_of(layers, shape, **extra)
    net = build(spec).eval()
    check_rows(plan(spec), net, shape)  # every row at every depth: params, shapes, FLOPs against the module
    return spec, net


# ---- blocks ---------------------------------------------------------------------------------------------


def test_repeat_makes_numbered_instances_and_first_gives_the_first_its_values() -> None:
    layers = {"stage1": {"type": "basic", "filters": 8, "repeat": 3, "first": {"S": 2, "project": PROJECT}}, **HEAD}
    _, net = _built(layers, blocks={"basic": BASIC})
    assert [name for name, _ in net.stage1.named_children()] == ["0", "1", "2"]
    assert net.stage1[0].conv1.stride == (2, 2) and net.stage1[1].conv1.stride == (1, 1)
    assert isinstance(net.stage1[0].downsample, nn.Conv2d) and isinstance(net.stage1[1].downsample, nn.Identity)
    assert "stage1.0.downsample.weight" in net.state_dict() and "stage1.1.downsample.weight" not in net.state_dict()


def test_without_repeat_the_blocks_layers_sit_under_the_uses_name() -> None:
    _, net = _built({"b": {"type": "conv3", "filters": 4}, **HEAD}, blocks={"conv3": CONV3})
    assert list(net.state_dict())[:2] == ["b.conv.weight", "b.conv.bias"]


def test_a_parameter_can_set_a_repeat_count_and_blocks_use_blocks() -> None:
    layers = {"s1": {"type": "stage", "filters": 4, "convs": 1}, "s2": {"type": "stage", "filters": 8}, **HEAD}
    spec, net = _built(layers, blocks=VGG)
    assert [n for n in net.state_dict() if n.endswith("weight")] == [
        "s1.convs.0.conv.weight", "s2.convs.0.conv.weight", "s2.convs.1.conv.weight", "fc.weight"]  # fmt: skip
    rows = plan(spec)
    assert (rows[0].out_shape, rows[1].out_shape) == ((4, 14, 14), (8, 7, 7))
    assert rows[1].params == (4 * 9 * 8 + 8) + (8 * 9 * 8 + 8)  # the block's total: both of its convs


def test_the_models_activation_switches_activations_inside_blocks(compose_cfg: Compose) -> None:
    spec = read_run(compose_cfg("model=resnet20", "model.activation=tanh")).model
    net = build(spec)
    acts = [m for m in net.modules() if isinstance(m, (nn.ReLU, nn.Tanh))]
    assert len(acts) == 1 + 2 * 9 and all(isinstance(m, nn.Tanh) for m in acts)
    assert summarize(spec).activation == "tanh"


def test_one_field_of_one_layer_inside_a_block_from_the_command_line(compose_cfg: Compose) -> None:
    base = {row.path: row for row in every_row(plan(read_run(compose_cfg("model=resnet20")).model))}
    wider = read_run(
        compose_cfg("model=resnet20", "model.blocks.basic.layers.conv2.F=5", "model.blocks.basic.layers.conv2.P=2")
    ).model
    rows = {row.path: row for row in every_row(plan(wider))}
    assert rows["stage1.0.conv2"].geometry == "F=5 S=1 P=2" and rows["stage3.2.conv2"].params == 64 * 64 * 25
    assert rows["stage1.0.conv1"] == base["stage1.0.conv1"]
    one_use = read_run(
        compose_cfg("model=resnet20", "model.layers.stage2.filters=48", "model.layers.stage2.first.project.filters=48")
    ).model
    assert {row.path: row for row in every_row(plan(one_use))}["stage2.1.conv2"].out_shape == (48, 14, 14)


def test_fixed_kernels_strict_mode_and_the_1x1_convolution_inside_a_block() -> None:
    edges = [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]
    blocks = {"fixed": {"params": {"P": 1}, "layers": {"reduce": {"type": "conv", "filters": 32, "F": 1},
                                                         "k": {"type": "conv", "kernel": edges, "P": "$P"}}}}  # fmt: skip
    spec, net = _built({"pre": {"type": "conv", "filters": 192, "F": 1}, "b": {"type": "fixed"}, **HEAD}, blocks=blocks)
    assert (
        torch.equal(net.b.k.weight[0, 5], torch.tensor(edges, dtype=torch.float32)) and not net.b.k.weight.requires_grad
    )
    reduce = next(row for row in every_row(plan(spec)) if row.path == "b.reduce")
    assert (reduce.in_shape, reduce.out_shape, reduce.params) == (
        (192, 28, 28),
        (32, 28, 28),
        6_176,
    )  # the lecture's 1×1 conv
    assert summarize(spec).params - summarize(spec).trainable == 32 * 9  # the written kernel, frozen, on 32 channels
    with pytest.raises(
        ConfigError,
        match=r"model.layers.b.k \(layer 1 of block fixed, conv\): N − F \+ 2P = 25 is not a multiple of S=3",
    ):
        plan(spec_of({"b": {"type": "fixed", "P": 0}, **HEAD}, strict=True, blocks={"fixed": {
            "params": {"P": 1}, "layers": {"r": blocks["fixed"]["layers"]["reduce"], "k": {"type": "conv", "kernel": edges, "S": 3, "P": "$P"}}}}))  # fmt: skip


# ---- shortcuts ------------------------------------------------------------------------------------------


def test_a_residual_block_equals_torchvisions_basic_block_with_its_weights() -> None:
    layers = {"b": {"type": "basic", "filters": 8, "S": 2, "project": {"type": "proj", "filters": 8}}, **HEAD}
    blocks = {"basic": BASIC, "proj": {"params": {"filters": None}, "layers": {
        "0": {"type": "conv", "filters": "$filters", "F": 1, "S": 2, "bias": False}, "1": {"type": "batchnorm"}}}}  # fmt: skip
    _, net = _built(layers, (4, 12, 12), blocks=blocks)
    downsample = nn.Sequential(nn.Conv2d(4, 8, 1, 2, bias=False), nn.BatchNorm2d(8))
    reference = torchvision.models.resnet.BasicBlock(4, 8, 2, downsample).eval()
    net.b.load_state_dict(reference.state_dict())  # the same keys: conv1, bn1, conv2, bn2, downsample.0, downsample.1
    x = torch.randn(2, 4, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(net.b(x), reference(x), rtol=0, atol=0)


def test_a_shortcut_from_an_earlier_layer_in_the_models_own_stack() -> None:
    layers = {"c1": {"type": "conv", "filters": 4, "F": 3, "P": 1}, "c2": {"type": "conv", "filters": 4, "F": 3, "P": 1},
              "add": {"type": "shortcut", "from": "c1"}, **HEAD}  # fmt: skip
    _, net = _built(layers)
    assert isinstance(net, Wired)
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        y = net.c1(x)
        torch.testing.assert_close(net(x), net.fc(net.flat(net.c2(y) + y)))


def test_a_parameter_given_null_removes_the_layer_it_fills() -> None:
    layers = {"same": {"type": "inv", "filters": 1}, "wider": {"type": "inv", "filters": 8, "residual": None}, **HEAD}
    _, net = _built(layers, blocks=INV)
    assert isinstance(net.same, Wired) and list(net.same.named_children())[1][0] == "add"
    assert type(net.wider) is nn.Sequential and [name for name, _ in net.wider.named_children()] == ["c"]


# ---- branches -------------------------------------------------------------------------------------------


def test_a_fire_module_equals_torchvisions_squeezenet_fire() -> None:
    fire = {"type": "branches", "join": "concat",
            "e1": {"conv": {"type": "conv", "filters": 64, "F": 1}, "act": {"type": "activation"}},
            "e3": {"conv": {"type": "conv", "filters": 64, "F": 3, "P": 1}, "act": {"type": "activation"}}}  # fmt: skip
    layers = {"squeeze": {"type": "conv", "filters": 16, "F": 1}, "act": {"type": "activation"}, "expand": fire, **HEAD}
    spec, net = _built(layers, (96, 13, 13))
    reference = torchvision.models.squeezenet.Fire(96, 16, 64, 64).eval()
    assert sum(row.params for row in plan(spec)[:3]) == sum(p.numel() for p in reference.parameters()) == 11_920
    ours = list(net.state_dict())[:6]  # squeeze, expand1x1, expand3x3: the same order
    net.load_state_dict({**net.state_dict(), **dict(zip(ours, reference.state_dict().values()))})
    x = torch.randn(2, 96, 13, 13)
    with torch.no_grad():
        torch.testing.assert_close(net.expand(net.act(net.squeeze(x))), reference(x), rtol=0, atol=0)


def test_densenet_concat_with_the_identity_and_an_add_join() -> None:
    dense = {"type": "branches", "x": "identity",
             "new": {"bn": {"type": "batchnorm"}, "act": {"type": "activation"}, "conv": {"type": "conv", "filters": 12, "F": 3, "P": 1}}}  # fmt: skip
    added = {"type": "branches", "join": "add", "a": {"c": {"type": "conv", "filters": 13, "F": 1}}, "b": "identity"}
    spec, net = _built({"dense": dense, "sum": added, **HEAD}, (1, 8, 8))
    assert [row.out_shape for row in plan(spec)[:2]] == [(13, 8, 8), (13, 8, 8)]
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        y = torch.cat([x, net.dense.new(x)], 1)
        torch.testing.assert_close(net.dense(x), y)
        torch.testing.assert_close(net.sum(y), net.sum.a(y) + y)


# ---- errors ---------------------------------------------------------------------------------------------

STAGE = {"params": {"filters": None}, "layers": {"c": {"type": "conv", "filters": "$filters", "F": 3}}}
B1 = {"c": {"type": "conv", "filters": 8, "F": 1}}
INV = {"inv": {"params": {"filters": None, "residual": {"type": "shortcut"}},  # MobileNetV2's: the addition is a parameter
               "layers": {"c": {"type": "conv", "filters": "$filters", "F": 1}, "add": "$residual"}}}  # fmt: skip

ERRORS = [
    # blocks: the use
    ({"s": {"type": "stage"}}, {"stage": STAGE},
     r"model.layers.s \(layer 0, block stage\): block stage needs `filters`, which has no default; e.g. `s: \{type: stage, filters: ...\}`."),
    ({"s": {"type": "stage", "filtres": 3}}, {"stage": STAGE},
     r"model.layers.s \(layer 0, block stage\): unknown key 'filtres'. Did you mean 'filters'\? Known keys: type, repeat, first, filters."),
    ({"s": {"type": "stage", "filters": "x"}}, {"stage": STAGE},
     r"model.layers.s.c.filters \(layer 0 of block stage, conv; set by model.layers.s.filters\) must be an integer, got 'x'"),
    ({"s": {"type": "stage", "filters": 2, "repeat": 0}}, {"stage": STAGE}, r"model.layers.s.repeat \(layer 0, block stage\) must be at least 1, got 0."),
    ({"s": {"type": "stage", "filters": 2, "repeat": 5000}}, {"stage": STAGE}, r"model.layers.s.repeat \(layer 0, block stage\) must be at most 1000, got 5000."),
    ({"s": {"type": "stage", "filters": 2, "first": {"T": 1}}}, {"stage": STAGE},
     r"model.layers.s.first \(layer 0, block stage\): unknown key 'T'. Known keys: filters."),
    ({"s": {"type": "stage", "filters": 2, "first": 3}}, {"stage": STAGE},
     r"model.layers.s.first \(layer 0, block stage\) must map parameters to the first repetition's values, e.g. \{S: 2\}; got 3."),
    ({"s": {"type": "stage", "repeat": 2, "first": {"filters": 2}}}, {"stage": STAGE},
     r"model.layers.s \(layer 0, block stage\): block stage needs `filters`, which has no default; `first` gives it to the first repetition only"),
    ({"s": {"type": "b"}}, {"b": {"params": {"S": 0}, "layers": {"c": {"type": "conv", "filters": 2, "F": 3, "S": "$S"}}}},
     r"model.layers.s.c.S \(layer 0 of block b, conv; set by model.blocks.b.params.S\) must be at least 1, got 0."),
    ({"s1": {"type": "stage", "filters": "x"}}, VGG,
     r"model.layers.s1.convs.0.conv.filters \(layer 0 of block conv3, conv; set by model.layers.s1.filters\) must be an integer"),
    ({"s": {"type": "stag", "filters": 2}}, {"stage": STAGE},
     r"model.layers.s \(layer 0, \?\): unknown layer type 'stag'. Did you mean 'stage'\? Known layer types: activation, .*, shortcut; blocks of this model: stage."),
    ({"s": {"type": "a"}}, {"a": {"layers": {"c": {"type": "conv", "filters": 2, "F": 3}, "again": {"type": "a"}}}},
     r"model.layers.s.again \(layer 1 of block a, block a\): block a uses itself \(a → a\); a block may use other blocks, not itself."),
    ({"s": {"type": "a"}}, {"a": {"layers": {"c": {"type": "b"}}}, "b": {"layers": {"c": {"type": "a"}}}},
     r"model.layers.s.c.c \(layer 0 of block b, block a\): block a uses itself \(a → b → a\)"),
    # blocks: the declaration
    ({"s": {"type": "stage", "filters": 2}}, {"stage": {"params": {"filters": None}, "layers": {"c": {"type": "conv", "filters": "$filters", "F": "$x"}}}},
     r"model.blocks.stage.layers.c.F: '\$x' is not a parameter of block stage \(its parameters are filters\); declare it, e.g. "
     r"`model.blocks.stage.params: \{x: null\}` \(null: each use gives it\)."),
    ({"s": {"type": "stage", "filters": 2}}, {"stage": {"params": {"filters": None, "S": 1}, "layers": STAGE["layers"]}},
     r"model.blocks.stage.params.S: no layer of block stage uses `\$S`; use it or remove the parameter \(on the command line: ~model.blocks.stage.params.S\)."),
    ({"s": {"type": "conv", "filters": 2, "F": 3}}, {"conv": {"layers": B1}}, r"model.blocks.conv: 'conv' is a layer type; give the block another name, e.g. 'conv_block'."),
    ({"s": {"type": "conv", "filters": 2, "F": 3}}, {"extra": {"layers": B1}},
     r"model.blocks.extra: no layer uses this block; use it as a layer \(`\{type: extra, ...\}`\) or remove it."),
    ({"s": {"type": "stage", "filters": 2}}, {"stage": {"params": {"filters": None}, "layer": STAGE["layers"]}},
     r"model.blocks.stage: unknown key 'layer'. Did you mean 'layers'\? Known keys: params, layers."),
    ({"s": {"type": "stage"}}, {"stage": {"params": {"repeat": 1}, "layers": B1}},
     r"model.blocks.stage.params: 'repeat' cannot be a parameter; use a name of letters, digits and _ other than type, repeat, first."),
    ({"s": {"type": "stage"}}, {"stage": {"params": [1], "layers": B1}}, r"model.blocks.stage.params must map parameter names to defaults"),
    ({"s": {"type": "stage"}}, {"stage": {"layers": {}}}, r"model.blocks.stage.layers must be a non-empty mapping of named layers"),
    ({"s": {"type": "stage"}}, {"stage": "conv"}, r"model.blocks.stage must be a mapping with `layers` and, if it takes any, `params`; got 'conv'."),
    ({"s": {"type": "stage"}}, "stages", r"model.blocks must map block names to blocks, e.g. .*; got 'stages'."),
    # shortcuts
    ({"c": {"type": "conv", "filters": 8, "F": 3, "S": 2, "P": 1}, "add": {"type": "shortcut"}}, None,
     r"model.layers.add \(layer 1, shortcut\): the layers before it give 8×14×14 but it adds the model's input, 1×28×28, with no "
     r"projection declared; declare one that fits: `project: \{type: conv, filters: 8, F: 1, S: 2\}` \(a 1×1 convolution"),
    ({"c": {"type": "conv", "filters": 8, "F": 3, "S": 2, "P": 1}, "add": {"type": "shortcut", "project": {"type": "conv", "filters": 8, "F": 1}}}, None,
     r"model.layers.add \(layer 1, shortcut\): the layers before it give 8×14×14 but its projection turns the model's input, 1×28×28, into 8×28×28; "
     r"declare one that fits: `project: \{type: conv, filters: 8, F: 1, S: 2\}`"),
    ({"c": {"type": "conv", "filters": 8, "F": 3, "P": 2}, "add": {"type": "shortcut"}}, None,
     r"the layers before it give 8×30×30 but it adds the model's input, 1×28×28, with no projection declared; no 1×1 convolution turns 28×28 into 30×30"),
    ({"c": {"type": "conv", "filters": 8, "F": 3, "P": 1}, "add": {"type": "shortcut", "from": "fc"}}, None,
     r"model.layers.add.from \(layer 1, shortcut\): 'fc' is not a layer before this one in its stack; write `from: input` \(the stack's input\) or "
     r"the name of an earlier layer \(c\)."),
    ({"c": {"type": "conv", "filters": 8, "F": 3, "P": 1}, "add": {"type": "shortcut", "project": "conv"}}, None,
     r"model.layers.add.project \(layer 1, shortcut\) must be `identity` or one layer, e.g. \{type: conv, filters: 128, F: 1, S: 2\}; got 'conv'."),
    ({"flat0": {"type": "flatten"}, "fc1": {"type": "linear", "out": 5}, "add": {"type": "shortcut", "from": "flat0"}}, None,
     r"model.layers.add \(layer 2, shortcut\): the layers before it give 5 but it adds the output of flat0, 784, with no projection declared; "
     r"declare one that fits: `project: \{type: linear, out: 5\}`."),
    ({"fc1": {"type": "linear", "out": 5}, "add": {"type": "shortcut"}}, None, r"needs flat features but its input is a 1×28×28 feature map"),
    ({"flat0": {"type": "flatten"}, "add": {"type": "shortcut"}}, None,
     r"the layers before it give 784 but it adds the model's input, 1×28×28, with no projection declared; a shortcut adds like to like"),
    ({"s": {"type": "inv", "filters": 8}}, INV,
     r"model.layers.s.add \(layer 1 of block inv, shortcut\): the layers before it give 8×28×28 but it adds the input of block inv, 1×28×28, .* "
     r"Or, if this use of the block adds nothing, give it `residual: null` \(this shortcut is set by model.blocks.inv.params.residual; "
     r"a null layer is removed\).$"),
    ({"s": {"type": "inv", "filters": 8, "residual": {"type": "conv"}}}, INV,
     r"model.layers.s.add \(layer 1 of block inv, conv; set by model.layers.s.residual\): 'filters' is required"),
    ({"input": {"type": "conv", "filters": 8, "F": 3}}, None,
     r"model.layers: the name 'input' of layer 0 is reserved: a shortcut's `from: input` means its stack's input; rename it, e.g. 'input0'."),
    ({"s": {"type": "basic", "filters": 8, "S": 2}}, {"basic": BASIC},
     r"model.layers.s.downsample \(layer 5 of block basic, shortcut\): the layers before it give 8×14×14 but it adds the input of block basic, "
     r"1×28×28, with no projection declared; declare one that fits: `project: \{type: conv, filters: 8, F: 1, S: 2\}`"),
    # branches
    ({"inc": {"type": "branches", "b1": B1, "b2": {"c": {"type": "conv", "filters": 8, "F": 3}}}}, None,
     r"model.layers.inc \(layer 0, branches\): its branches must give maps of one height and width to join, but give b1 8×28×28, b2 8×26×26; "
     r"to give 28×28 as the others do: b2 gives 26×26; with P=1, its layer model.layers.inc.b2.c gives 28×28."),
    ({"inc": {"type": "branches", "b1": B1, "b2": {"p": {"type": "maxpool", "F": 3, "S": 2, "P": 1}}}}, None,
     r"but give b1 8×28×28, b2 1×14×14; to give 28×28 as the others do: b2 gives 14×14; with S=1, its layer model.layers.inc.b2.p gives 28×28."),
    ({"inc": {"type": "branches", "b1": B1, "b2": {"p": {"type": "maxpool", "F": 2}, "c": {"type": "conv", "filters": 2, "F": 3}}}}, None,
     r"b2 gives 12×12; make its layers keep the size \(S=1 and P=\(F−1\)/2 on each window\) or shrink it alike."),
    ({"inc": {"type": "branches", "join": "add", "b1": B1, "b2": {"c": {"type": "conv", "filters": 4, "F": 1}}}}, None,
     r"model.layers.inc \(layer 0, branches\): `join: add` cannot join b1 8×28×28, b2 4×28×28; give every branch the same number of filters, or `join: concat`."),
    ({"inc": {"type": "branches", "b1": B1, "b2": {"f": {"type": "flatten"}}}}, None,
     r"its branches give b1 8×28×28, b2 784: feature maps and flat features do not join; flatten after the branches layer, not inside a branch."),
    ({"inc": {"type": "branches", "b1": B1, "b2": None}}, None, r"model.layers.inc \(layer 0, branches\): joins two or more branches but has 1. Example: "),
    ({"inc": {"type": "branches", "b1": B1, "jion": "add"}}, None,
     r"model.layers.inc.jion \(a branch of inc\): a branch is `identity` or a stack of named layers such as .*; got 'add'. Did you mean 'join'\?"),
    ({"inc": {"type": "branches", "b1": B1, "b2": {"type": "conv", "filters": 8, "F": 1}}}, None,
     r"model.layers.inc.b2 \(a branch of inc\): a branch is `identity` or a stack of named layers"),
    ({"inc": {"type": "branches", "join": "max", "b1": B1, "b2": "identity"}}, None,
     r"model.layers.inc.join \(layer 0, branches\): unknown join 'max'. Known joins: add, concat, mul."),
    ({"inc": {"type": "branches", "b1": B1, "forward": "identity"}}, None,
     r"model.layers.inc: the name 'forward' of branch 1 is taken by PyTorch's nn.Module, which holds the layers; rename it"),
    ({"inc": {"type": "branches", "b1": {"c": {"type": "conv", "filters": 8, "F": 30}}, "b2": "identity"}}, None,
     r"model.layers.inc.b1.c \(layer 0 of branch b1, conv\): filter F=30 is larger than its 28×28 input: \(N − F \+ 2P\)/S \+ 1 = \(28 − 30 \+ 0\)/1 \+ 1 < 1"),
]  # fmt: skip


@pytest.mark.parametrize(("layers", "blocks", "message"), ERRORS)
def test_graph_mistakes(layers: dict[str, Any], blocks: Any, message: str) -> None:
    extra = {} if blocks is None else {"blocks": blocks}
    with pytest.raises(ConfigError, match=message):
        plan(spec_of({**layers, **HEAD}, **extra))
