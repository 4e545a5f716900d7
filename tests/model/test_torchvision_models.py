"""torchvision networks the layer language was not written for, written in YAML: squeezenet1_1 and mobilenet_v2
(conf/model/), densenet121 and googlenet (here), with torchvision's exact figures and, with its weights copied in,
its exact outputs. Where torchvision joins branches in code (Fire, Inception, _DenseBlock) the branches layer is a
module of its own, so the names differ there and the weights are copied in state-dict order."""

from __future__ import annotations

from typing import Any

import torch
import torchvision
import yaml
from helpers import every_row
from support import Compose
from torch import nn

from cnnexp.model.builder import build, plan
from cnnexp.model.layers.stack import Wired
from cnnexp.model.spec import parse_model
from cnnexp.model.summary import summarize
from cnnexp.run import read_run


def _reference(name: str, **kwargs: Any) -> nn.Module:
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    with torch.no_grad():  # running statistics other than 0 and 1, so that batch norm in eval mode is tested too
        for module in reference.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5), module.running_var.uniform_(0.5, 2.0)
    return reference


def _same_outputs(ours: nn.Module, reference: nn.Module) -> None:
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        out = ours.eval()(x)
        assert out.shape == (1, 1000)
        torch.testing.assert_close(out, reference(x), rtol=0, atol=0)


def _loaded_in_order(ours: nn.Module, reference: nn.Module) -> nn.Module:
    """`ours` with the reference's tensors, which are the same in number, order and shape, under our names."""
    theirs, mine = reference.state_dict(), ours.state_dict()
    assert [t.shape for t in mine.values()] == [t.shape for t in theirs.values()]
    ours.load_state_dict(dict(zip(mine, theirs.values())))
    return ours


def test_squeezenet1_1_count_shapes_and_outputs_equal_torchvision(compose_cfg: Compose) -> None:
    spec = read_run(compose_cfg("model=squeezenet1_1", "model.num_classes=1000")).model
    reference = _reference("squeezenet1_1")
    assert summarize(spec).params == 1_235_496 == sum(p.numel() for p in reference.parameters())
    rows = plan(spec)
    assert [row.out_shape[1] for row in rows if row.type in ("conv", "maxpool")] == [111, 55, 27, 13, 13]  # ceil_mode
    assert [row.out_shape[0] for row in rows if row.type == "fire"] == [128, 128, 256, 256, 384, 384, 512, 512]
    ours = _loaded_in_order(build(spec), reference)
    assert "fire2.expand.expand1x1.conv.weight" in ours.state_dict()  # torchvision's features.3.expand1x1.weight
    _same_outputs(ours, reference)


def test_mobilenet_v2_count_and_outputs_equal_torchvision_with_its_weights_by_key(compose_cfg: Compose) -> None:
    spec = read_run(compose_cfg("model=mobilenet_v2", "model.num_classes=1000")).model
    reference = _reference("mobilenet_v2")
    assert summarize(spec).params == 3_504_872 == sum(p.numel() for p in reference.parameters())
    rows = every_row(plan(spec))
    depthwise = [row for row in rows if row.type == "conv" and "g=" in row.geometry]
    assert len(depthwise) == 17 and all(
        row.params == row.out_shape[0] * 9 for row in depthwise
    )  # one 3×3 filter per map
    ours = build(spec)
    ours.load_state_dict(reference.state_dict())  # strict: every key of torchvision's is one of ours, and back
    # A shortcut only where the stride is 1 and the channels stay: `residual: null` removed the others.
    added = [i for i in range(1, 18) if isinstance(ours.features[i], Wired)]
    assert (
        added
        == [i for i in range(1, 18) if reference.features[i].use_res_connect]
        == [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]
    )
    _same_outputs(ours, reference)


DENSENET121 = """
name: densenet121
input: {channels: 3, height: 224, width: 224}
num_classes: 1000
blocks:
  dense_layer:                # torchvision's _DenseLayer: its output is its input with `growth` new maps concatenated
    params: {growth: 32, bottleneck: 128}
    layers:
      layer:
        type: branches
        x: identity
        new:
          norm1: {type: batchnorm}
          relu1: {type: activation}
          conv1: {type: conv, filters: $bottleneck, F: 1, bias: false}
          norm2: {type: batchnorm}
          relu2: {type: activation}
          conv2: {type: conv, filters: $growth, F: 3, P: 1, bias: false}
  transition:                 # torchvision's _Transition: halves the maps (no arithmetic: `filters` says to how many)
    params: {filters: null}
    layers:
      norm: {type: batchnorm}
      relu: {type: activation}
      conv: {type: conv, filters: $filters, F: 1, bias: false}
      pool: {type: avgpool, F: 2, S: 2}
layers:
  conv0: {type: conv, filters: 64, F: 7, S: 2, P: 3, bias: false}
  norm0: {type: batchnorm}
  relu0: {type: activation}
  pool0: {type: maxpool, F: 3, S: 2, P: 1}
  denseblock1: {type: dense_layer, repeat: 6}       # 64 + 6·32 = 256 maps
  transition1: {type: transition, filters: 128}
  denseblock2: {type: dense_layer, repeat: 12}      # 128 + 12·32 = 512
  transition2: {type: transition, filters: 256}
  denseblock3: {type: dense_layer, repeat: 24}      # 256 + 24·32 = 1024
  transition3: {type: transition, filters: 512}
  denseblock4: {type: dense_layer, repeat: 16}      # 512 + 16·32 = 1024
  norm5: {type: batchnorm}
  relu5: {type: activation}
  avgpool: {type: adaptive_avgpool, size: 1}
  flatten: {type: flatten}
  classifier: {type: linear, out: 1000}
"""


def test_densenet121_count_shapes_and_outputs_equal_torchvision() -> None:
    spec = parse_model(yaml.safe_load(DENSENET121))
    reference = _reference("densenet121")
    assert summarize(spec).params == 7_978_856 == sum(p.numel() for p in reference.parameters())
    rows = {row.name: row.out_shape for row in plan(spec)}
    blocks = [rows[f"denseblock{i}"] for i in range(1, 5)]
    assert blocks == [(256, 56, 56), (512, 28, 28), (1024, 14, 14), (1024, 7, 7)]
    _same_outputs(_loaded_in_order(build(spec), reference), reference)


GOOGLENET = """
name: googlenet
input: {channels: 3, height: 224, width: 224}
num_classes: 1000
blocks:
  conv_bn:                    # torchvision's BasicConv2d
    params: {filters: null, F: 1, S: 1, P: 0}
    layers:
      conv: {type: conv, filters: $filters, F: $F, S: $S, P: $P, bias: false}
      bn: {type: batchnorm, eps: 0.001}
      relu: {type: activation}
  inception:                  # torchvision's Inception (its "5×5" branch has a 3×3 convolution, as torchvision's)
    params: {n1x1: null, n3x3red: null, n3x3: null, n5x5red: null, n5x5: null, pool_proj: null}
    layers:
      branches:
        type: branches
        branch1: {"0": {type: conv_bn, filters: $n1x1}}
        branch2: {"0": {type: conv_bn, filters: $n3x3red}, "1": {type: conv_bn, filters: $n3x3, F: 3, P: 1}}
        branch3: {"0": {type: conv_bn, filters: $n5x5red}, "1": {type: conv_bn, filters: $n5x5, F: 3, P: 1}}
        branch4: {"0": {type: maxpool, F: 3, S: 1, P: 1, ceil_mode: true}, "1": {type: conv_bn, filters: $pool_proj}}
layers:
  conv1: {type: conv_bn, filters: 64, F: 7, S: 2, P: 3}
  maxpool1: {type: maxpool, F: 3, S: 2, ceil_mode: true}
  conv2: {type: conv_bn, filters: 64}
  conv3: {type: conv_bn, filters: 192, F: 3, P: 1}
  maxpool2: {type: maxpool, F: 3, S: 2, ceil_mode: true}
  inception3a: {type: inception, n1x1: 64, n3x3red: 96, n3x3: 128, n5x5red: 16, n5x5: 32, pool_proj: 32}
  inception3b: {type: inception, n1x1: 128, n3x3red: 128, n3x3: 192, n5x5red: 32, n5x5: 96, pool_proj: 64}
  maxpool3: {type: maxpool, F: 3, S: 2, ceil_mode: true}
  inception4a: {type: inception, n1x1: 192, n3x3red: 96, n3x3: 208, n5x5red: 16, n5x5: 48, pool_proj: 64}
  inception4b: {type: inception, n1x1: 160, n3x3red: 112, n3x3: 224, n5x5red: 24, n5x5: 64, pool_proj: 64}
  inception4c: {type: inception, n1x1: 128, n3x3red: 128, n3x3: 256, n5x5red: 24, n5x5: 64, pool_proj: 64}
  inception4d: {type: inception, n1x1: 112, n3x3red: 144, n3x3: 288, n5x5red: 32, n5x5: 64, pool_proj: 64}
  inception4e: {type: inception, n1x1: 256, n3x3red: 160, n3x3: 320, n5x5red: 32, n5x5: 128, pool_proj: 128}
  maxpool4: {type: maxpool, F: 2, S: 2, ceil_mode: true}
  inception5a: {type: inception, n1x1: 256, n3x3red: 160, n3x3: 320, n5x5red: 32, n5x5: 128, pool_proj: 128}
  inception5b: {type: inception, n1x1: 384, n3x3red: 192, n3x3: 384, n5x5red: 48, n5x5: 128, pool_proj: 128}
  avgpool: {type: adaptive_avgpool, size: 1}
  flatten: {type: flatten}
  dropout: {type: dropout, p: 0.2}
  fc: {type: linear, out: 1000}
"""


def test_googlenet_without_aux_logits_count_shapes_and_outputs_equal_torchvision() -> None:
    spec = parse_model(yaml.safe_load(GOOGLENET))
    reference = _reference("googlenet", aux_logits=False, init_weights=False)
    assert summarize(spec).params == 6_624_904 == sum(p.numel() for p in reference.parameters())
    rows = {row.name: row.out_shape for row in plan(spec)}
    assert [rows[f"inception{n}"] for n in ("3b", "4e", "5b")] == [(480, 28, 28), (832, 14, 14), (1024, 7, 7)]
    _same_outputs(_loaded_in_order(build(spec), reference), reference)
