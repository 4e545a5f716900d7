"""From a ModelSpec to figures (plan) and to a network (build): one walk over the layer graph each.

Planning walks the stacks (blocks, branches and shortcuts included) on shapes alone, so every figure and
every error comes before any weight is allocated. Then the data flow says which activation each conv or
linear layer feeds, and its weight init suits that one.
"""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from cnnexp.config.fields import fmt_shape
from cnnexp.errors import ConfigError
from cnnexp.model.init import init_weights
from cnnexp.model.layers.base import Follows, Row, Where
from cnnexp.model.layers.sliding import DoesNotFit
from cnnexp.model.layers.stack import build_stack, flow_stack, plan_stack
from cnnexp.model.spec import ModelSpec

LARGEST_INPUT = 4096  # how far the "resize to at least" hint searches
PATIENCE = 32  # sizes tried past the smallest on which every window fits, when branches or shortcuts disagree


def plan(spec: ModelSpec) -> list[Row]:
    """The row of every top-level layer (blocks, branches and shortcuts with their rows below), before any weight."""
    try:
        rows = _walk(spec)
    except DoesNotFit as err:
        raise DoesNotFit(f"{err}; {_fit_hint(spec)}") from None
    shape = rows[-1].out_shape
    if shape != (spec.num_classes,):
        raise ConfigError(
            f"model.layers: the stack ends in {fmt_shape(shape)} outputs but model.num_classes={spec.num_classes}; "
            f"end it with a linear layer of `out: ${{model.num_classes}}` (after a flatten)."
        )
    found = follows(spec, rows)
    return [_with_activation(row, found) for row in rows]


def _walk(spec: ModelSpec) -> list[Row]:
    return list(plan_stack(spec.layers, spec.input_shape, Where(), spec.strict))


def follows(spec: ModelSpec, rows: list[Row]) -> dict[str, str]:
    """The activation each conv/linear layer's output reaches first, by module name.

    Followed through pooling, normalisation, dropout, flatten, shortcut additions and branch joins. Another
    conv/linear layer first, or the model's end (the classifier head), means none: 'identity', the linear gain.
    """
    seen = Follows()
    seen.close(flow_stack(spec.layers, tuple(rows), frozenset(), seen), "identity")
    return seen.result()


def _with_activation(row: Row, found: dict[str, str]) -> Row:
    children = tuple(_with_activation(child, found) for child in row.children)
    return replace(
        row, activation=found.get(row.path, "identity") if row.weighted else row.activation, children=children
    )


def build(spec: ModelSpec) -> nn.Sequential:
    """The network: an nn.Sequential with one child per YAML layer, named as in the YAML (conv1, layer2, ...)."""
    rows = plan(spec)
    net = build_stack(spec.layers, tuple(rows))
    weighted = {row.path: row.activation for top in rows for _, row in top.walk() if row.weighted}
    init_weights(net, spec.init, follows=weighted)
    return net


def min_input(spec: ModelSpec) -> int | None:
    """The smallest square input on which every layer fits, or None if none up to LARGEST_INPUT does."""
    low, high = max(spec.input_shape[1:]) + 1, LARGEST_INPUT
    if _fits(spec, high) is False:
        return None
    # Map sizes never shrink as the input grows, so "every window fits" holds from some n on: bisect for it.
    while low < high:
        middle = (low + high) // 2
        low, high = (middle + 1, high) if _fits(spec, middle) is False else (low, middle)
    # Branches or a shortcut may still part at this n (odd sizes, say): the next sizes may do.
    return next((n for n in range(low, min(low + PATIENCE, LARGEST_INPUT) + 1) if _fits(spec, n)), None)


def _fits(spec: ModelSpec, n: int) -> bool | None:
    """True if the model plans on an n×n input, False if a window is too large, None for any other error."""
    try:
        _walk(replace(spec, input_shape=(spec.input_shape[0], n, n), strict=False))
    except DoesNotFit:
        return False
    except ConfigError:
        return None
    return True


def _fit_hint(spec: ModelSpec) -> str:
    n = min_input(spec)
    if n is None:
        return "reduce F, S or the number of pooling layers, or use a model made for small inputs such as model=alexnet_small"
    return (
        f"resize the input to at least {n}×{n} (model.input.height={n} model.input.width={n} data.adapt=true), "
        f"or use a model made for small inputs such as model=alexnet_small"
    )
