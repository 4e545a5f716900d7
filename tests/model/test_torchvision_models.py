"""torchvision networks the layer language was not written for, written in YAML: squeezenet1_1 and mobilenet_v2
(conf/model/), with torchvision's exact figures and, with its weights copied in, its exact outputs."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from cnnexp.model.builder import build, plan
from cnnexp.model.layers.stack import Wired
from cnnexp.model.summary import summarize
from cnnexp.run import read_run
from conftest import Compose
from helpers import every_row


def _reference(name: str) -> nn.Module:
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None).eval()
    with torch.no_grad():  # running statistics other than 0 and 1, so that batch norm in eval mode is tested too
        for module in reference.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5), module.running_var.uniform_(0.5, 2.0)
    return reference


def _same_outputs(ours: nn.Module, reference: nn.Module) -> None:
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        out = ours.eval()(x)
        assert out.shape == (2, 1000)
        torch.testing.assert_close(out, reference(x), rtol=0, atol=0)


def test_squeezenet1_1_count_shapes_and_outputs_equal_torchvision(compose_cfg: Compose) -> None:
    spec = read_run(compose_cfg("model=squeezenet1_1", "model.num_classes=1000")).model
    reference = _reference("squeezenet1_1")
    assert summarize(spec).params == 1_235_496 == sum(p.numel() for p in reference.parameters())
    rows = plan(spec)
    assert [row.out_shape[1] for row in rows if row.type in ("conv", "maxpool")] == [111, 55, 27, 13, 13]  # ceil_mode
    assert [row.out_shape[0] for row in rows if row.type == "fire"] == [128, 128, 256, 256, 384, 384, 512, 512]
    ours = build(spec)
    theirs, mine = reference.state_dict(), ours.state_dict()
    # The same tensors in the same order; only the names inside a fire module differ (expand.expand1x1.conv).
    assert [t.shape for t in mine.values()] == [t.shape for t in theirs.values()]
    assert "fire2.expand.expand1x1.conv.weight" in mine and "features.3.expand1x1.weight" in theirs
    ours.load_state_dict(dict(zip(mine, theirs.values())))
    _same_outputs(ours, reference)


def test_mobilenet_v2_count_and_outputs_equal_torchvision_with_its_weights_by_key(compose_cfg: Compose) -> None:
    spec = read_run(compose_cfg("model=mobilenet_v2", "model.num_classes=1000")).model
    reference = _reference("mobilenet_v2")
    assert summarize(spec).params == 3_504_872 == sum(p.numel() for p in reference.parameters())
    rows = every_row(plan(spec))
    depthwise = [row for row in rows if row.type == "conv" and "g=" in row.geometry]
    assert len(depthwise) == 17 and all(row.params == row.out_shape[0] * 9 for row in depthwise)  # one 3×3 filter per map
    ours = build(spec)
    ours.load_state_dict(reference.state_dict())  # strict: every key of torchvision's is one of ours, and back
    # A shortcut only where the stride is 1 and the channels stay: `residual: null` removed the others.
    added = [i for i in range(1, 18) if isinstance(ours.features[i], Wired)]
    assert added == [i for i in range(1, 18) if reference.features[i].use_res_connect] == [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]
    _same_outputs(ours, reference)
