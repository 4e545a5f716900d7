"""The lecture's reference figures, exactly; torchvision's AlexNet, VGG and ResNet-18 reproduced; the classic
CNNs' figures (ResNet-20 of He et al., GoogLeNet's inception 3a)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from helpers import every_row
from support import Compose

from cnnexp.model.builder import build, plan
from cnnexp.model.summary import summarize
from cnnexp.run import read_run


def _params_by_layer(compose_cfg: Compose, *overrides: str) -> dict[str, int]:
    return {row.name: row.params for row in plan(read_run(compose_cfg(*overrides)).model) if row.params}


def test_lenet5_slide(compose_cfg: Compose) -> None:
    assert _params_by_layer(compose_cfg, "model=lenet5") == {
        "conv1": 520,
        "conv2": 10_020,
        "fc1": 160_500,
        "fc2": 5_010,
    }
    assert summarize(read_run(compose_cfg("model=lenet5")).model).params == 176_050


def test_lenet5_1998(compose_cfg: Compose) -> None:
    params = _params_by_layer(compose_cfg, "model=lenet5_1998")
    assert (params["c1"], params["c3"], params["c5"], params["f6"]) == (156, 2_416, 48_120, 10_164)
    padded_32 = _params_by_layer(
        compose_cfg, "model=lenet5_1998", "data.height=32", "data.width=32", "model.layers.c1.P=0"
    )
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
    assert (
        summarize(read_run(compose_cfg("model=alexnet_torchvision", "model.num_classes=1000")).model).params
        == 61_100_840
    )


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


def _weight_layers(module: torch.nn.Module) -> list[int]:
    """Parameters per conv/linear layer (weight and bias), in order."""
    return [
        sum(p.numel() for p in m.parameters())
        for m in module.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    ]


@pytest.mark.parametrize(("name", "params"), [("vgg11", 132_863_336), ("vgg16", 138_357_544)])
def test_vgg_counts_equal_torchvision(compose_cfg: Compose, name: str, params: int) -> None:
    rows = plan(read_run(compose_cfg(f"model={name}", "model.num_classes=1000")).model)
    with torch.device("meta"):  # shapes without 138 M random numbers
        reference = getattr(torchvision.models, name)(weights=None)
    assert sum(row.params for row in rows) == params == sum(p.numel() for p in reference.parameters())
    assert [row.params for row in every_row(rows) if row.weighted] == _weight_layers(reference)
    assert rows[4].out_shape == (512, 7, 7)  # five stages, each halving 224


def test_resnet18_count_and_outputs_equal_torchvision_with_its_weights_by_key(compose_cfg: Compose) -> None:
    spec = read_run(compose_cfg("model=resnet18", "model.num_classes=1000")).model
    assert summarize(spec).params == 11_689_512
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():  # running statistics other than 0 and 1, so that batch norm in eval mode is tested too
        for module in reference.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5), module.running_var.uniform_(0.5, 2.0)
    ours = build(spec).eval()
    ours.load_state_dict(reference.state_dict())  # strict: every key of torchvision's is one of ours, and back
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=0)


def test_resnet20_of_he_et_al_on_cifar_sizes(compose_cfg: Compose) -> None:
    rows = plan(read_run(compose_cfg("model=resnet20", "data=cifar10")).model)
    assert sum(row.params for row in rows) == 272_474  # projection shortcuts (option B); option A: 269,722
    projections = [row for row in every_row(rows) if row.type == "shortcut" and row.params]
    assert [row.params for row in projections] == [16 * 32 + 2 * 32, 32 * 64 + 2 * 64]
    assert 272_474 - sum(row.params for row in projections) == 269_722
    assert [row.out_shape for row in rows if row.name.startswith("stage")] == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    assert sum(1 for row in every_row(rows) if row.weighted) == 20 + 2  # 19 convs and the fc: 20 layers; 2 projections


def test_inception3a_module_of_the_googlenet_paper(compose_cfg: Compose) -> None:
    rows = plan(read_run(compose_cfg("model=inception3a")).model)
    module = next(row for row in rows if row.name == "inception3a")
    assert (module.in_shape, module.out_shape, module.params) == ((192, 28, 28), (256, 28, 28), 163_696)
    branches = module.children[0].children
    assert [(b.name, b.out_shape[0], b.params) for b in branches] == [
        ("b1", 64, 12_352), ("b2", 128, 129_248), ("b3", 32, 15_920), ("b4", 32, 6_176)]  # fmt: skip
    reduce = {row.path: row for row in every_row(rows)}
    assert reduce["inception3a.branches.b2.reduce"].out_shape == (96, 28, 28)  # the 1×1 bottlenecks
    assert reduce["inception3a.branches.b3.reduce"].out_shape == (16, 28, 28)
    assert reduce["inception3a.branches.b4.proj"].params == 6_176  # the lecture's 1×1 convolution, 192 → 32
