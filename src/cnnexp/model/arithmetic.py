"""The lecture's convolution arithmetic: output size (N − F + 2P)/S + 1, per spatial dimension."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """One sliding window along one dimension: input N, filter F, stride S, padding P, dilation D."""

    n: int
    f: int
    s: int
    p: int
    d: int = 1
    ceil: bool = False

    @property
    def extent(self) -> int:
        """The filter's reach with dilation: D·(F − 1) + 1."""
        return self.d * (self.f - 1) + 1

    @property
    def span(self) -> int:
        """N − F + 2P: how far the window can travel."""
        return self.n - self.extent + 2 * self.p

    @property
    def out(self) -> int:
        """Output size; 0 or less means the window does not fit."""
        if self.span < 0:
            return 0
        if not self.ceil:
            return self.span // self.s + 1
        out = -(-self.span // self.s) + 1
        # PyTorch (and Caffe) drop a last window that would start inside the right padding.
        return out - 1 if (out - 1) * self.s >= self.n + self.p else out

    @property
    def dropped(self) -> int:
        """Pixels at the end that no window covers because (N − F + 2P) is not a multiple of S."""
        return 0 if self.ceil or self.span < 0 else self.span % self.s

    def formula(self) -> str:
        f = "F" if self.d == 1 else "(D(F−1)+1)"  # the dilated filter's extent
        return f"(N − {f} + 2P)/S + 1 = ({self.n} − {self.extent} + {2 * self.p})/{self.s} + 1"


def fmt_pair(values: tuple[int, int]) -> str:
    """'3' for a square window, '3×5' otherwise."""
    return str(values[0]) if values[0] == values[1] else f"{values[0]}×{values[1]}"
