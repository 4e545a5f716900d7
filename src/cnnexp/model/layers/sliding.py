"""Shape arithmetic shared by the sliding-window layers (conv and pooling)."""

from __future__ import annotations

from cnnexp.errors import ConfigError
from cnnexp.model.arithmetic import Window, fmt_pair
from cnnexp.model.layers.base import Place

Pair = tuple[int, int]


LARGEST_HINT = 64  # the largest stride a hint suggests: past it, no stride is the fix


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
                f"{place}: {what} F={fmt_pair(f)} is larger than its {hw[0]}×{hw[1]} input{padded}: {win.formula()} < 1"
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


def refit(
    size: Pair, want: Pair, f: Pair, s: Pair, p: Pair | str, d: Pair, ceil: bool, max_p: Pair | None = None
) -> str:
    """The padding, else the stride, that makes this window turn an H×W input `size` into `want`: 'P=1',
    'S=[2, 1]' (as the YAML writes it), or '' when neither does. `max_p` bounds P (pooling allows F/2)."""
    pad: Pair = (0, 0) if isinstance(p, str) else p
    top = max_p or (f[0] * d[0], f[1] * d[1])
    by_p = [next((x for x in range(top[i] + 1) if Window(size[i], f[i], s[i], x, d[i], ceil).out == want[i]), None)
            for i in (0, 1)]  # fmt: skip
    if None not in by_p:
        return f"P={_yaml_pair(by_p)}"
    by_s = [next((x for x in range(1, min(size[i], LARGEST_HINT) + 1) if Window(size[i], f[i], x, pad[i], d[i], ceil).out == want[i]), None)
            for i in (0, 1)]  # fmt: skip
    return f"S={_yaml_pair(by_s)}" if None not in by_s else ""


def _yaml_pair(values: list[int | None]) -> str:
    return str(values[0]) if values[0] == values[1] else f"[{values[0]}, {values[1]}]"
