"""Every conf/model/*.yaml builds, and every planned figure equals the built module's. That each trains, with a
finite, non-zero gradient for every trainable parameter, is checked in its fast_dev_run (tests/train/test_runner.py)."""

from __future__ import annotations

import pytest
import torch
from helpers import check_rows
from support import MODEL_NAMES, Compose

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
