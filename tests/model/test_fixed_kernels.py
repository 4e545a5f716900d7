"""Kernels written in YAML: the lecture's edge detector and Gaussian blur, against hand-computed maps."""

from __future__ import annotations

import torch
from helpers import spec_of

from cnnexp.model.builder import build, plan

EDGE = [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]
BLUR = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
HEAD = {"flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 2}}

# A 5×5 image: a bright 2×2 square on a dark background.
IMAGE = torch.tensor(
    [[0, 0, 0, 0, 0],
     [0, 0, 0, 0, 0],
     [0, 0, 9, 9, 0],
     [0, 0, 9, 9, 0],
     [0, 0, 0, 0, 0]], dtype=torch.float32)  # fmt: skip

# Worked by hand: each output pixel = 8·centre − sum of the 8 neighbours, over the 3×3 valid windows.
EDGE_MAP = torch.tensor(
    [[-9, -18, -18],
     [-18, 45, 45],
     [-18, 45, 45]], dtype=torch.float32)  # fmt: skip

# Blur /16 of the same windows: (1·9 at a corner) = 9/16; (2·9 + 1·9)/16; (4·9 + 2·9 + 2·9 + 1·9)/16.
BLUR_MAP = torch.tensor(
    [[9, 27, 27],
     [27, 81, 81],
     [27, 81, 81]], dtype=torch.float32) / 16  # fmt: skip


def _first_layer(kernel: list, **extra: object) -> torch.nn.Module:
    return build(spec_of({"k": {"type": "conv", "kernel": kernel, **extra}, **HEAD}, (1, 5, 5), classes=2))[0]


def test_edge_detector_gives_the_hand_computed_map() -> None:
    conv = _first_layer(EDGE)
    with torch.no_grad():
        assert torch.equal(conv(IMAGE[None, None])[0, 0], EDGE_MAP)


def test_gaussian_blur_with_scale_gives_the_hand_computed_map() -> None:
    conv = _first_layer(BLUR, kernel_scale=1 / 16)
    with torch.no_grad():
        torch.testing.assert_close(conv(IMAGE[None, None])[0, 0], BLUR_MAP)


def test_fixed_kernel_is_frozen_by_default_and_trainable_on_request() -> None:
    frozen, initial = _first_layer(EDGE), _first_layer(EDGE, frozen=False)
    assert not frozen.weight.requires_grad and frozen.bias is None
    assert initial.weight.requires_grad
    assert torch.equal(initial.weight[0, 0], torch.tensor(EDGE, dtype=torch.float32))


def test_a_bank_of_kernels_makes_one_filter_each_and_counts_frozen_parameters() -> None:
    spec = spec_of({"k": {"type": "conv", "kernel": [EDGE, BLUR], "P": 1}, **HEAD}, (3, 5, 5), classes=2)
    row = plan(spec)[0]
    assert (row.out_shape, row.params, row.trainable) == ((2, 5, 5), 2 * 3 * 9, 0)
    weight = build(spec)[0].weight
    assert torch.equal(weight[1, 2], torch.tensor(BLUR, dtype=torch.float32))
