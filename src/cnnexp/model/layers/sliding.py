"""Shape arithmetic shared by the sliding-window layers (conv and pooling)."""

from __future__ import annotations

from cnnexp.errors import ConfigError
from cnnexp.model.arithmetic import Window, fmt_pair
from cnnexp.model.layers.base import Place

Pair = tuple[int, int]


class DoesNotFit(ConfigError):
    """A window larger than its (padded) input; the builder adds the smallest input size that fits."""


def slide(
    hw: Pair, f: Pair, s: Pair, p: Pair | str, d: Pair, ceil: bool, place: Place, strict: bool, what: str
) -> tuple[Pair, str]:
    """Output (H, W) of a window F/S/P over an H×W input, and a note for the table when pixels are dropped."""
    if p == "same":
        return hw, ""
    pad = (0, 0) if p == "valid" else p
    wins = [Window(n, f_, s_, p_, d_, ceil) for n, f_, s_, p_, d_ in zip(hw, f, s, pad, d)]  # type: ignore[arg-type]
    for win in wins:
        if win.out < 1:
            padded = f" (padded by P={win.p})" if win.p else ""
            raise DoesNotFit(
                f"{place}: {what} F={fmt_pair(f)} is larger than its {hw[0]}×{hw[1]} input{padded}: "
                f"{win.formula()} < 1"
            )
    dropped = [w.dropped for w in wins]
    note = "" if not any(dropped) else f"drops {fmt_pair(tuple(dropped))} px"  # type: ignore[arg-type]
    if note and strict:
        win = wins[0] if dropped[0] else wins[1]
        raise ConfigError(
            f"{place}: N − F + 2P = {win.span} is not a multiple of S={win.s}, so {win.formula()} "
            f"= {win.span / win.s + 1:.2f} is floored to {win.out} and the last {win.dropped} px are never seen "
            f"(model.strict=true). Change P or S of this layer, or set model.strict=false to accept it."
        )
    return (wins[0].out, wins[1].out), note


def check_pool_padding(f: Pair, p: Pair, place: Place) -> None:
    """PyTorch refuses pooling padding over half the window; say so before it does."""
    for f_, p_ in zip(f, p):
        if p_ > f_ // 2:
            raise ConfigError(
                f"{place}: padding P={p_} is more than half the window F={f_}; PyTorch allows P ≤ F/2 = {f_ // 2}."
            )
