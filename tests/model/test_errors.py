"""Every user mistake in a layer stack is a ConfigError naming the key, the layer, the numbers and the fix."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import spec_of
from support import Compose

from cnnexp.errors import ConfigError
from cnnexp.model.builder import plan
from cnnexp.model.spec import parse_model
from cnnexp.run import read_run

CONV = {"type": "conv", "filters": 4, "F": 3}
HEAD = {"flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 10}}


def _with(layer: dict[str, Any]) -> dict[str, Any]:
    return {"c": layer, **HEAD}


CASES = [
    (_with({"type": "convv", "filters": 4, "F": 3}),
     r"model.layers.c \(layer 0, \?\): unknown layer type 'convv'. Did you mean 'conv'\? Known layer types: activation, adaptive_avgpool, avgpool, batchnorm, branches, channel_shuffle, channel_split, conv, "),
    (_with({"type": "groupnorm"}),
     r"model.layers.c \(layer 0, \?\): unknown layer type 'groupnorm'. 'groupnorm' is torch.nn.GroupNorm, another operation; "
     r"none of the known layer types computes it. Known layer types: "),
    (_with({"type": "ReLU"}),
     r"unknown layer type 'ReLU'. An activation is a layer of type activation: `\{type: activation, fn: relu\}`. Known"),
    (_with({"type": "PReLU"}),
     r"unknown layer type 'PReLU'. 'PReLU' is torch.nn.PReLU, another operation; none of the known layer types computes it"),
    (_with({"type": "relu"}),
     r"unknown layer type 'relu'. An activation is a layer of type activation: `\{type: activation, fn: relu\}`. Known"),
    (_with({"type": "BatchNorm2d"}), r"unknown layer type 'BatchNorm2d'. Did you mean 'batchnorm'\?"),
    (_with({**CONV, "strid": 2}),
     r"model.layers.c \(layer 0, conv\): unknown field 'strid'. Did you mean 'stride'\? A conv layer takes: "
     r"filters \(or out_channels\), kernel_size \(or F\), stride \(or S\)"),
    (_with({**CONV, "F": "five"}), r"model.layers.c.F \(layer 0, conv\) must be an integer, got 'five'"),
    (_with({**CONV, "F": 0}), r"model.layers.c.F \(layer 0, conv\) must be at least 1, got 0"),
    (_with({**CONV, "filters": -3}), r"model.layers.c.filters \(layer 0, conv\) must be at least 1, got -3"),
    (_with({**CONV, "S": True}), r"model.layers.c.S \(layer 0, conv\) must be an integer, got True"),
    (_with({**CONV, "P": "full"}), r"model.layers.c.P \(layer 0, conv\) must be an integer, \[h, w\], 'same' or 'valid'"),
    (_with({"type": "conv", "F": 3}), r"model.layers.c \(layer 0, conv\): 'filters' is required \(the number of output"),
    (_with({"type": "conv", "filters": 4}), r"model.layers.c \(layer 0, conv\): 'F' is required \(the filter size\)"),
    (_with({**CONV, "filters": 6, "groups": 4}),
     r"model.layers.c \(layer 0, conv\): groups=4 does not divide filters=6; use a number of filters that is a multiple of 4"),
    (_with({**CONV, "groups": 2}),
     r"model.layers.c \(layer 0, conv\): groups=2 does not divide its 1 input channels"),
    (_with({**CONV, "S": 2, "P": "same"}), r"P='same' needs S=1 .* write P as a number instead, e.g. P=1"),
    (_with({**CONV, "F": 3, "kernel": [[1, 0], [0, 1]]}), r"F=3 but the kernel matrix is 2; drop F"),
    (_with({"type": "conv", "kernel": [[1, 2], [3]]}), r"model.layers.c.kernel \(layer 0, conv\): every row must have"),
    (_with({"type": "maxpool", "F": 2, "P": 2}), r"padding P=2 is more than half the window F=2; PyTorch allows P ≤ F/2 = 1"),
    (_with({"type": "maxpool"}), r"model.layers.c \(layer 0, maxpool\): 'F' is required. Example: `pool1: \{type: maxpool"),
    (_with({"type": "dropout", "p": 1.0}), r"model.layers.c.p \(layer 0, dropout\) must be at least 0.0 and below 1.0, got 1.0"),
    (_with({"type": "activation", "fn": "rleu"}),
     r"model.layers.c.fn \(layer 0, activation\): unknown activation 'rleu'. Did you mean 'relu'\? Known activations: elu, gelu, hardsigmoid, hardswish, identity, leaky_relu"),
    ({"c": CONV, "fc": {"type": "linear", "out": 10}},
     r"model.layers.fc \(layer 1, linear\): needs flat features but its input is a 4×26×26 feature map; add a flatten layer"),
    ({"flat": {"type": "flatten"}, "c": CONV, "fc": {"type": "linear", "out": 10}},
     r"model.layers.c \(layer 1, conv\): needs a feature map C×H×W but its input is 1-D \(784 features\); move it before"),
    ({"c": CONV, "flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 7}},
     r"model.layers: the stack ends in 7 outputs but model.num_classes=10; end it with a linear layer of `out: \$\{model.num_classes\}`"),
    ({"c": {**CONV, "F": 29}, **HEAD},
     r"model.layers.c \(layer 0, conv\): filter F=29 is larger than its 28×28 input: \(N − F \+ 2P\)/S \+ 1 = "
     r"\(28 − 29 \+ 0\)/1 \+ 1 < 1; resize the input to at least 29×29"),
    ({"c": "conv", **HEAD}, r"model.layers.c \(layer 0, \?\): a layer is a mapping such as"),
    ({"c": {"filters": 4}, **HEAD}, r"model.layers.c \(layer 0, \?\): no 'type'. Known layer types: activation, adaptive_avgpool, avgpool, batchnorm, branches, channel_shuffle, channel_split, conv, "),
    ({}, r"model.layers must be a non-empty mapping of named layers"),
]  # fmt: skip


@pytest.mark.parametrize(("layers", "message"), CASES)
def test_layer_mistakes(layers: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        plan(spec_of(layers))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"activation": "swishh"}, r"model.activation: unknown activation 'swishh'. Did you mean 'swish'\?"),
        (
            {"init": "he"},
            r"model.init: unknown init scheme 'he'. Known init schemes: auto, kaiming, lecun, torch, xavier.",
        ),
        ({"strcit": True}, r"model: unknown key 'strcit'. Did you mean 'strict'\?"),
        ({"num_classes": 0}, r"model.num_classes must be at least 1, got 0"),
        ({"input": {"channels": 1, "height": 28}}, r"model.input.width must be an integer, got None"),
    ],
)
def test_model_level_mistakes(extra: dict[str, Any], message: str) -> None:
    cfg = {"name": "t", "input": {"channels": 1, "height": 28, "width": 28}, "num_classes": 10,
           "layers": {"flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 10}}}  # fmt: skip
    with pytest.raises(ConfigError, match=message):
        parse_model({**cfg, **extra})


@pytest.mark.slow
def test_too_small_input_names_the_layer_the_formula_and_the_size_that_fits(compose_cfg: Compose) -> None:
    spec = read_run(compose_cfg("model=alexnet", "model.input.height=28", "model.input.width=28")).model
    message = (
        r"model.layers.pool2 \(layer 7, maxpool\): window F=3 is larger than its 2×2 input: "
        r"\(N − F \+ 2P\)/S \+ 1 = \(2 − 3 \+ 0\)/2 \+ 1 < 1; resize the input to at least 67×67 "
        r"\(model.input.height=67 model.input.width=67 data.adapt=true\), or use a model made for small inputs such as "
        r"model=alexnet_small"
    )
    with pytest.raises(ConfigError, match=message):
        plan(spec)


def test_a_layer_set_to_null_is_removed(compose_cfg: Compose) -> None:
    spec = read_run(compose_cfg("model=alexnet_small", "model.layers.drop6=null")).model
    assert "drop6" not in [name for name, _ in spec.layers]
