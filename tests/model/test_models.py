"""Every conf/model/*.yaml: builds, every planned figure equals the built module's, it trains (forward/backward)."""

from __future__ import annotations

import pytest
import torch
from helpers import check_rows
from support import MODEL_NAMES, Compose
from torch import nn

from cnnexp.model.builder import build, plan
from cnnexp.run import read_run


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_planned_figures_equal_the_built_module(compose_cfg: Compose, name: str) -> None:
    """Every row, blocks, repetitions, branches and shortcuts included: parameters, shapes, FLOPs.

    On the meta device: these figures are shapes and counts, and a 138 M-parameter network is built and run
    without initialising or computing any value (seconds less per large model)."""
    spec = read_run(compose_cfg(f"model={name}")).model
    with torch.device("meta"):
        net = build(spec).eval()
    rows = plan(spec)
    assert [row.name for row in rows] == [n for n, _ in net.named_children()]
    check_rows(rows, net, spec.input_shape)


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.slow
def test_forward_backward_is_finite_with_a_gradient_for_every_trainable_parameter(
    compose_cfg: Compose, name: str
) -> None:
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
