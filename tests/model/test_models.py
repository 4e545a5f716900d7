"""Every conf/model/*.yaml: builds, its planned figures equal the built module's, it trains (forward/backward)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnexp.model.builder import build, plan
from cnnexp.run import read_run
from conftest import MODEL_NAMES, Compose


def _observed_shapes(net: nn.Sequential, x: torch.Tensor) -> list[tuple[int, ...]]:
    shapes = []
    for child in net:
        x = child(x)
        shapes.append(tuple(x.shape[1:]))
    return shapes


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_planned_figures_equal_the_built_module(compose_cfg: Compose, name: str) -> None:
    spec = read_run(compose_cfg(f"model={name}")).model
    rows, net = plan(spec), build(spec).eval()
    assert [row.name for row in rows] == [n for n, _ in net.named_children()]
    assert [row.params for row in rows] == [sum(p.numel() for p in c.parameters()) for c in net]
    assert [row.trainable for row in rows] == [sum(p.numel() for p in c.parameters() if p.requires_grad) for c in net]
    with torch.no_grad():
        shapes = _observed_shapes(net, torch.randn(2, *spec.input_shape))
    assert [row.out_shape for row in rows] == shapes


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_multiply_adds_equal_torch_flop_counter(compose_cfg: Compose, name: str) -> None:
    spec = read_run(compose_cfg(f"model={name}")).model
    net = build(spec).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.randn(1, *spec.input_shape))
    assert 2 * sum(row.macs for row in plan(spec)) == counter.get_total_flops()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_backward_is_finite_with_a_gradient_for_every_trainable_parameter(compose_cfg: Compose, name: str) -> None:
    spec = read_run(compose_cfg(f"model={name}")).model
    torch.manual_seed(0)
    net = build(spec).train()
    out = net(torch.randn(2, *spec.input_shape))
    assert out.shape == (2, spec.num_classes)
    nn.functional.cross_entropy(out, torch.tensor([0, 1])).backward()
    assert torch.isfinite(out).all()
    for pname, param in net.named_parameters():
        if param.requires_grad:
            assert param.grad is not None and torch.isfinite(param.grad).all(), pname
            assert param.grad.abs().sum() > 0, f"{pname} got an all-zero gradient"
        else:
            assert param.grad is None, pname
