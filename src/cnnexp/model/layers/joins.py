"""How parallel outputs become one (a branches layer's `join`, and what a shortcut or a gate does with the value
it carries): the output shape, before anything is built, and the tensor operation.

`concat` stacks channels, `add` sums like with like, `mul` multiplies element by element and broadcasts, as
torch does, a C×1×1 gate over a C×H×W map (squeeze-and-excitation: the gate's C weights scale the C maps).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

import torch

from cnnexp.config.fields import fmt_shape
from cnnexp.config.registry import Registry
from cnnexp.model.layers.base import Shape
from cnnexp.model.others import torch_operations

BROADCAST_RULE = ("a gate multiplies element by element, broadcasting a C×1×1 gate over a C×H×W map: both need "
                  "the same channels C, and each height×width must be the map's or 1×1")  # fmt: skip


@dataclass(frozen=True)
class Join:
    """The output shape of parallel outputs (None if they cannot join), the tensor operation, and the fix."""

    shape: Callable[[list[Shape]], Shape | None]
    combine: Callable[[list[torch.Tensor]], torch.Tensor]
    fix: str  # what to change when the shapes do not allow the join
    broadcasts: bool = False  # outputs of other heights and widths may join (1×1 ones)


def _concat_shape(shapes: list[Shape]) -> Shape | None:
    if len({s[1:] for s in shapes}) > 1:
        return None
    return (sum(s[0] for s in shapes), *shapes[0][1:])


def broadcast(shapes: list[Shape]) -> Shape | None:
    """The shape of the element-wise product: one channel count, each map's size the largest or 1×1; else None."""
    if len({len(s) for s in shapes}) > 1 or len({s[0] for s in shapes}) > 1:
        return None
    largest = max(shapes, key=lambda s: s[1] * s[2] if len(s) == 3 else 0)
    ok = all(s == largest or (len(s) == 3 and s[1:] == (1, 1)) for s in shapes)
    return largest if ok else None


def gate_hint(shapes: list[Shape]) -> str:
    """For an addition that refuses a C×1×1 output beside a C×H×W one: that is a gate, which multiplies."""
    gates = [s for s in shapes if len(s) == 3 and s[1:] == (1, 1)]
    if gates and broadcast(shapes) is not None:
        return f"; a {fmt_shape(gates[0])} output that scales a map is a gate, which multiplies: `join: mul`"
    return ""


JOINS: Registry[Join] = Registry("join", others=torch_operations)
JOINS.add("concat", Join(_concat_shape, lambda outs: torch.cat(outs, 1), ""), "cat")
JOINS.add("add", Join(lambda shapes: shapes[0] if len(set(shapes)) == 1 else None, lambda outs: reduce(operator.add, outs),
                      "give every branch the same number of filters, or `join: concat`"), "sum")  # fmt: skip
JOINS.add("mul", Join(broadcast, lambda outs: reduce(operator.mul, outs), BROADCAST_RULE, broadcasts=True),
          "multiply", "gate")  # fmt: skip
