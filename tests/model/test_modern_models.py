"""torchvision's networks after 2018 in YAML: efficientnet_b0 and convnext_tiny (conf/model/) with torchvision's exact
parameter counts and, with its weights copied in by name, its exact outputs in eval mode; their stochastic depth
rates are torchvision's, block by block. Small inputs keep them fast: both pool adaptively to 1×1."""

from __future__ import annotations

import pytest
import torch
import torchvision
from support import Compose
from torch import nn

from cnnexp.model.builder import build
from cnnexp.model.summary import summarize
from cnnexp.run import read_run

SIZE = 64  # both networks take any input of at least 32×32


def _reference(name: str) -> nn.Module:
    torch.manual_seed(0)
    reference = getattr(torchvision.models, name)(weights=None).eval()
    with torch.no_grad():  # not torchvision's init: running statistics other than 0 and 1, layer scales other than 1e-6
        for module in reference.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5), module.running_var.uniform_(0.5, 2.0)
        for param_name, param in reference.named_parameters():
            if param_name.endswith("layer_scale"):
                param.uniform_(0.5, 1.5)
    return reference


def _ours(compose_cfg: Compose, name: str, size: int = SIZE) -> nn.Module:
    spec = read_run(
        compose_cfg(
            f"model={name}", "model.num_classes=1000", f"model.input.height={size}", f"model.input.width={size}"
        )
    ).model
    return build(spec).eval()


def _same_outputs(ours: nn.Module, reference: nn.Module) -> None:
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        out = ours(x)
        assert out.shape == (1, 1000)
        torch.testing.assert_close(out, reference(x), rtol=0, atol=0)


def _rates(net: nn.Module, kind: str) -> list[float]:
    return [m.p for m in net.modules() if type(m).__name__ == kind]


@pytest.mark.parametrize(("name", "params"), [("efficientnet_b0", 5_288_548), ("convnext_tiny", 28_589_128)])
def test_parameter_counts_equal_torchvisions(compose_cfg: Compose, name: str, params: int) -> None:
    spec = read_run(compose_cfg(f"model={name}", "model.num_classes=1000")).model
    assert summarize(spec).params == params == sum(p.numel() for p in getattr(torchvision.models, name)().parameters())


def test_efficientnet_b0_outputs_equal_torchvisions_with_its_weights_by_key(compose_cfg: Compose) -> None:
    ours, reference = _ours(compose_cfg, "efficientnet_b0"), _reference("efficientnet_b0")
    ours.load_state_dict(reference.state_dict())  # strict: every key of torchvision's is one of ours, and back
    _same_outputs(ours, reference)
    blocks = [m for m in reference.modules() if type(m).__name__ == "MBConv"]
    assert [m.stochastic_depth.p for m in blocks] == pytest.approx([0.2 * i / 16 for i in range(16)])  # counts all 16
    # Applied where a block adds its input (torchvision's use_res_connect); ours drop nothing where nothing is added.
    assert _rates(ours, "DropPath") == pytest.approx(
        [m.stochastic_depth.p if m.use_res_connect else 0.0 for m in blocks]
    )
    assert (
        sum(m.use_res_connect for m in blocks) == len([n for n, _ in ours.named_modules() if n.endswith(".add")]) == 9
    )


def test_convnext_tiny_outputs_equal_torchvisions_with_its_weights_by_key(compose_cfg: Compose) -> None:
    ours, reference = _ours(compose_cfg, "convnext_tiny"), _reference("convnext_tiny")
    theirs = {f"{k}.weight" if k.endswith("layer_scale") else k: t for k, t in reference.state_dict().items()}
    ours.load_state_dict(theirs)  # strict: the names are torchvision's, the layer scale's factor is its `weight`
    _same_outputs(ours, reference)
    assert _rates(ours, "DropPath") == pytest.approx(_rates(reference, "StochasticDepth"))
    assert _rates(ours, "DropPath") == pytest.approx([0.1 * i / 17 for i in range(18)])


@pytest.mark.parametrize("name", ["efficientnet_b0", "convnext_tiny"])
def test_a_training_step_reaches_every_parameter(compose_cfg: Compose, name: str) -> None:
    torch.manual_seed(0)
    net = _ours(compose_cfg, name, 32).train()
    out = net(torch.randn(2, 3, 32, 32))
    nn.functional.cross_entropy(out, torch.tensor([0, 1])).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
