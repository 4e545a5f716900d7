"""The lecture's reference figures, exactly, and torchvision's AlexNet reproduced weight for weight."""

from __future__ import annotations

import torch
import torchvision

from cnnexp.model.builder import build, plan
from cnnexp.model.summary import summarize
from cnnexp.run import read_run
from conftest import Compose


def _params_by_layer(compose_cfg: Compose, *overrides: str) -> dict[str, int]:
    return {row.name: row.params for row in plan(read_run(compose_cfg(*overrides)).model) if row.params}


def test_lenet5_slide(compose_cfg: Compose) -> None:
    assert _params_by_layer(compose_cfg, "model=lenet5") == {"conv1": 520, "conv2": 10_020, "fc1": 160_500, "fc2": 5_010}
    assert summarize(read_run(compose_cfg("model=lenet5")).model).params == 176_050


def test_lenet5_1998(compose_cfg: Compose) -> None:
    params = _params_by_layer(compose_cfg, "model=lenet5_1998")
    assert (params["c1"], params["c3"], params["c5"], params["f6"]) == (156, 2_416, 48_120, 10_164)
    padded_32 = _params_by_layer(compose_cfg, "model=lenet5_1998", "data.height=32", "data.width=32", "model.layers.c1.P=0")
    assert padded_32 == params


def test_alexnet_2012(compose_cfg: Compose) -> None:
    spec = read_run(compose_cfg("model=alexnet", "model.num_classes=1000")).model
    rows = plan(spec)
    assert summarize(spec).params == 60_965_224
    spatial = [row.out_shape[1] for row in rows if row.type in ("conv", "maxpool")]
    assert spatial == [55, 27, 27, 13, 13, 13, 13, 6]
    assert [row.out_shape for row in rows if row.type == "linear"] == [(4096,), (4096,), (1000,)]


def test_alexnet_2012_without_groups(compose_cfg: Compose) -> None:
    ungrouped = [f"model.layers.{name}.groups=1" for name in ("conv2", "conv4", "conv5")]
    spec = read_run(compose_cfg("model=alexnet", "model.num_classes=1000", *ungrouped)).model
    assert summarize(spec).params == 62_378_344


def test_alexnet_torchvision_count(compose_cfg: Compose) -> None:
    assert summarize(read_run(compose_cfg("model=alexnet_torchvision", "model.num_classes=1000")).model).params == 61_100_840


def test_alexnet_torchvision_equals_torchvision_with_its_weights(compose_cfg: Compose) -> None:
    torch.manual_seed(0)
    reference = torchvision.models.alexnet(num_classes=1000).eval()
    ours = build(read_run(compose_cfg("model=alexnet_torchvision", "model.num_classes=1000")).model).eval()
    theirs = list(reference.state_dict().values())
    mine = ours.state_dict()
    assert [tuple(t.shape) for t in theirs] == [tuple(t.shape) for t in mine.values()]
    ours.load_state_dict(dict(zip(mine, theirs)))
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=0)
