"""The lecture's convolution arithmetic, and our formula against what PyTorch really produces."""

from __future__ import annotations

import pytest
import torch
from helpers import spec_of
from torch import nn

from cnnexp.errors import ConfigError
from cnnexp.model.arithmetic import Window
from cnnexp.model.builder import plan
from cnnexp.model.layers.sliding import refit


@pytest.mark.parametrize(
    ("n", "f", "s", "p", "out"),
    [(7, 3, 1, 0, 5), (7, 3, 2, 0, 3), (7, 3, 1, 1, 7), (7, 3, 2, 1, 4), (32, 5, 1, 0, 28), (227, 11, 4, 0, 55)],
)
def test_lecture_output_sizes(n: int, f: int, s: int, p: int, out: int) -> None:
    assert Window(n, f, s, p).out == out
    assert Window(n, f, s, p).dropped == 0


def test_stride_three_does_not_fit_the_lecture_example() -> None:
    win = Window(7, 3, 3, 0)
    assert (win.span, win.out, win.dropped) == (4, 2, 1)  # (7 − 3)/3 + 1 = 2.33: PyTorch floors, 1 px lost


def _stack(f: int, s: int, p: int, n: int = 7, strict: bool = False) -> list:
    layers = {"conv": {"type": "conv", "filters": 1, "F": f, "S": s, "P": p}, "flat": {"type": "flatten"},
              "fc": {"type": "linear", "out": 10}}  # fmt: skip
    return plan(spec_of(layers, (1, n, n), strict=strict))


def test_not_divisible_is_flagged_in_the_table() -> None:
    rows = _stack(3, 3, 0)
    assert rows[0].out_shape == (1, 2, 2)
    assert rows[0].note == "drops 1 px"


def test_not_divisible_is_an_error_in_strict_mode() -> None:
    with pytest.raises(ConfigError, match=r"conv \(layer 0, conv\): N − F \+ 2P = 4 is not a multiple of S=3.*"
                       r"floored to 2 and the last 1 px.*model.strict=false"):  # fmt: skip
        _stack(3, 3, 0, strict=True)


@pytest.mark.parametrize("ceil", [False, True])
@pytest.mark.parametrize(("n", "f", "s", "p"), [(7, 3, 2, 0), (8, 3, 2, 1), (13, 3, 2, 0), (6, 2, 2, 1), (10, 3, 3, 1)])
def test_pooling_rounding_matches_torch(n: int, f: int, s: int, p: int, ceil: bool) -> None:
    real = nn.MaxPool2d(f, s, p, ceil_mode=ceil)(torch.zeros(1, 1, n, n)).shape[-1]
    assert Window(n, f, s, p, ceil=ceil).out == real


@pytest.mark.parametrize(("n", "f", "s", "p", "d"), [(9, 3, 1, 0, 2), (10, 3, 2, 2, 3), (11, 5, 2, 1, 1)])
def test_dilation_matches_torch(n: int, f: int, s: int, p: int, d: int) -> None:
    real = nn.Conv2d(1, 1, f, s, p, d)(torch.zeros(1, 1, n, n)).shape[-1]
    assert Window(n, f, s, p, d).out == real


def test_one_by_one_conv_192_to_32_has_6176_parameters() -> None:
    layers = {"reduce": {"type": "conv", "filters": 32, "F": 1}, "pool": {"type": "adaptive_avgpool", "size": 1},
              "flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 10}}  # fmt: skip
    rows = plan(spec_of(layers, (192, 28, 28)))
    assert rows[0].params == 6_176 == 32 * 192 + 32
    assert rows[0].out_shape == (32, 28, 28)


@pytest.mark.parametrize(
    ("size", "want", "f", "s", "p", "fix"),
    [
        ((28, 28), (28, 28), (3, 3), (1, 1), (0, 0), "P=1"),  # 'same' padding for a 3×3 window
        ((28, 28), (28, 28), (5, 5), (1, 1), (0, 0), "P=2"),
        ((28, 28), (14, 28), (3, 3), (1, 1), (1, 1), "S=[2, 1]"),  # no padding halves 28: a stride does
        ((28, 28), (40, 40), (3, 3), (1, 1), (0, 0), ""),
    ],  # nothing makes it grow that much
)
def test_refit_finds_the_padding_else_the_stride(
    size: tuple, want: tuple, f: tuple, s: tuple, p: tuple, fix: str
) -> None:
    assert refit(size, want, f, s, p, (1, 1), False) == fix
    if fix.startswith("P="):
        pad = int(fix[2:])
        assert nn.Conv2d(1, 1, f, s, pad)(torch.zeros(1, 1, *size)).shape[-2:] == want
