"""Property tests of the layer language over random and mutated models: stacks, blocks, shortcuts, branches.

Whatever a user writes, either the model builds and every planned figure (output shape, parameters,
trainable parameters, FLOPs) equals what the built module does, row by row at every depth of blocks,
branches and shortcuts, or a ConfigError that names a `model...` key is raised by parse, plan or build.
Any other exception (a torch RuntimeError, a TypeError, an IndexError) is a bug in the language: a check
that is missing or weaker than PyTorch's own. The strategies that draw the models are in tests/strategies.py.
CNNEXP_FUZZ_EXAMPLES=5000 runs a longer search locally; CI runs the default, derandomized.
"""

from __future__ import annotations

import copy
import math
import os
from typing import Any

import pytest
from helpers import check_rows, every_row
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from strategies import (
    ACTIVATION_NAMES,
    GRAPH_KINDS,
    INIT_NAMES,
    SHIPPED,
    VALUES,
    Cfg,
    fields_of,
    mostly,
    stack,
)

from cnnexp.errors import ConfigError
from cnnexp.model.builder import build, plan
from cnnexp.model.layers import LAYERS, Row
from cnnexp.model.spec import parse_model

EXAMPLES = int(os.environ.get("CNNEXP_FUZZ_EXAMPLES", "500"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)  # fmt: skip
# Resource bounds of one example (not of the language): a huge but legal stack is planned, not allocated.
MAX_PARAMS, MAX_ELEMENTS = 2_000_000, 1_000_000


def test_every_layer_type_and_field_has_values_to_fuzz() -> None:
    for kind in LAYERS.names():
        for f in fields_of(kind):
            assert (kind, f.name) in VALUES or f.name in VALUES, f"{kind}.{f.name}"
    for cfg in SHIPPED:  # the shrunk shipped models are still valid
        assert _check(cfg).startswith("built"), cfg["name"]


# ---- mutations -----------------------------------------------------------------------------------------

# Wrong values: the edges a size or a number can take first, then any YAML value of the wrong type.
EDGES = st.sampled_from(
    [
        0,
        -1,
        2**31,
        2**63,
        10**30,
        10**400,
        10**9,
        1.5,
        math.nan,
        math.inf,
        -math.inf,
        None,
        True,
        "",
        [],
        [1],
        [1, 2, 3],
        [[]],
    ]
)
JUNK = mostly(EDGES, st.one_of(
    st.text(max_size=4), st.floats(-10, 10), st.integers(-3, 9), st.sampled_from(["same", "valid", [[1, 2], [3]], [[[1]], [[1, 2]]]]),
    st.lists(st.integers(-1, 9), max_size=3), st.lists(st.text(max_size=2), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2),
), 50)  # fmt: skip


LAYER_NAMES = st.one_of(
    st.sampled_from(["", "a.b", "forward", "training", "pop", "_modules", 1, "1", "conv 1"]), st.text(max_size=4)
)


def _typo(draw: st.DrawFn, word: str) -> str:
    i = draw(st.integers(0, len(word)))
    how = draw(st.sampled_from(["insert", "delete", "swap", "case"]))
    if how == "insert" or not word:
        return word[:i] + draw(st.sampled_from("aesx_1")) + word[i:]
    i = min(i, len(word) - 1)
    if how == "delete":
        return word[:i] + word[i + 1 :]
    if how == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i].swapcase() + word[i + 1 :]


def _layer_dicts(node: Any) -> list[Cfg]:
    """Every layer mapping (one with a 'type') at any depth: in stacks, branches, blocks, projections."""
    found = [node] if isinstance(node, dict) and "type" in node else []
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        found += _layer_dicts(child)
    return found


def _pick_layer(draw: st.DrawFn, cfg: Cfg) -> Cfg | None:
    layers = _layer_dicts([cfg.get("layers"), cfg.get("blocks")])
    return draw(st.sampled_from(layers)) if layers else None


def _reorder(draw: st.DrawFn, cfg: Cfg) -> None:
    layers = cfg.get("layers")
    if not isinstance(layers, dict) or not layers:
        return
    items = list(layers.items())
    i, j = draw(st.integers(0, len(items) - 1)), draw(st.integers(0, len(items) - 1))
    how = draw(st.sampled_from(["drop", "duplicate", "swap", "null", "rename"]))
    if how == "drop":
        del items[i]
    elif how == "duplicate":
        items.insert(i, (f"{items[i][0]}_copy{j}", copy.deepcopy(items[i][1])))
    elif how == "swap":
        items[i], items[j] = items[j], items[i]
    elif how == "null":  # `model.layers.NAME=null` removes a layer
        items[i] = (items[i][0], None)
    else:  # names are free, but the built nn.Sequential has attributes of its own and its keys use "."
        items[i] = (draw(LAYER_NAMES), items[i][1])
    cfg["layers"] = dict(items)


def _known_fields(kind: Any) -> dict[str, Any]:
    """Every key a layer type takes (names and aliases), with plausible values for it."""
    if not isinstance(kind, str) or kind not in LAYERS:
        return {}
    kind = LAYERS.canonical(kind, "test")
    values = {f.name: VALUES[(kind, f.name)] if (kind, f.name) in VALUES else VALUES[f.name] for f in fields_of(kind)}
    return {**values, **{f.metadata["alias"]: values[f.name] for f in fields_of(kind) if f.metadata["alias"]}}


def _mutate_field(draw: st.DrawFn, cfg: Cfg) -> None:
    raw = _pick_layer(draw, cfg)
    if raw is None:
        return
    known = _known_fields(raw.get("type"))
    written = [k for k in raw if k != "type"]
    key = draw(mostly(st.sampled_from(written), st.sampled_from(sorted(known) or ["F"]), 75) if written
               else st.sampled_from(sorted(known) or ["F"]))  # fmt: skip
    how = draw(st.sampled_from(["junk", "junk", "junk", "other", "typo", "unknown", "delete", "type"]))
    if how == "junk":
        raw[key] = draw(JUNK)
    elif how == "other" and key in known:  # another plausible value: a new stack, often a valid one
        raw[key] = draw(known[key])
    elif how == "typo" and isinstance(key, str) and key in raw:
        raw[_typo(draw, key)] = raw.pop(key)
    elif how == "unknown":
        raw[draw(st.sampled_from(["colour", 1, "F ", "", "kernel_size"]))] = draw(JUNK)
    elif how == "delete":
        raw.pop(key, None)
    elif how == "type":
        kind = str(raw.get("type", "conv"))
        raw["type"] = draw(st.one_of(st.sampled_from(LAYERS.names()), st.builds(lambda: _typo(draw, kind)), JUNK))


def _mutate_model(draw: st.DrawFn, cfg: Cfg) -> None:
    key = draw(st.sampled_from(["num_classes", "activation", "init", "strict", "input", "name", "layers", "unknown"]))
    if key == "input" and isinstance(cfg.get("input"), dict):
        cfg["input"][draw(st.sampled_from(["channels", "height", "width", "depth"]))] = draw(JUNK)
        return
    value = {"num_classes": st.one_of(st.integers(1, 12), JUNK), "activation": st.one_of(ACTIVATION_NAMES, JUNK),
             "init": st.one_of(INIT_NAMES, JUNK), "strict": st.one_of(st.booleans(), JUNK)}  # fmt: skip
    cfg["classes" if key == "unknown" else key] = draw(value.get(key, JUNK))


def _mutate_block(draw: st.DrawFn, cfg: Cfg) -> None:
    """A mistake in a block's declaration: a parameter dropped or unused, a `$` nobody declares, a block that
    uses itself, a name taken by a layer type, junk where a mapping belongs."""
    blocks = cfg.get("blocks")
    if not isinstance(blocks, dict) or not blocks:
        cfg["blocks"] = draw(
            st.one_of(JUNK, st.just({"lonely": {"layers": {"c": {"type": "conv", "filters": 2, "F": 1}}}}))
        )
        return
    name = draw(st.sampled_from(list(blocks)))
    body = blocks[name]
    how = draw(st.sampled_from(["drop_param", "unused_param", "undeclared", "itself", "layer_type", "junk"]))
    params = body.get("params") if isinstance(body, dict) else None
    layers = _layer_dicts(body.get("layers")) if isinstance(body, dict) else []
    if how == "drop_param" and isinstance(params, dict) and params:
        del params[draw(st.sampled_from(list(params)))]
    elif how == "unused_param" and isinstance(params, dict):
        params["unused"] = draw(st.one_of(st.none(), JUNK))
    elif how == "undeclared" and layers:
        raw = draw(st.sampled_from(layers))
        raw[draw(st.sampled_from([k for k in raw if k != "type"] or ["filters"]))] = draw(
            st.sampled_from(["$nope", "$", "$1x"])
        )
    elif how == "itself" and layers:
        draw(st.sampled_from(layers)).update(type=name)
    elif how == "layer_type":
        blocks[draw(st.sampled_from(["conv", "relu", "act", "block"]))] = blocks.pop(name)
    else:
        blocks[name] = draw(st.one_of(JUNK, st.just({"params": {}, "layers": {}}), st.just({"layers": draw(JUNK)})))


MUTATIONS = [_reorder, _mutate_field, _mutate_field, _mutate_model, _mutate_block]


def _plans(cfg: Cfg) -> bool:
    try:
        plan(parse_model(cfg))
    except ConfigError:
        return False
    return True


VALID = st.one_of(st.sampled_from(SHIPPED), stack().filter(_plans))


@st.composite
def mutated(draw: st.DrawFn) -> Cfg:
    """A shipped model (shrunk) or a random stack that plans, with one to three mistakes made in it."""
    cfg = copy.deepcopy(draw(VALID))
    for _ in range(draw(mostly(st.just(1), st.integers(2, 3), 60))):
        draw(st.sampled_from(MUTATIONS))(draw, cfg)
    return cfg


# ---- the property --------------------------------------------------------------------------------------


def _too_big(rows: list[Row]) -> bool:
    return (
        sum(r.params for r in rows) > MAX_PARAMS or max(math.prod(r.out_shape) for r in every_row(rows)) > MAX_ELEMENTS
    )


def _check(cfg: Cfg) -> str:
    """Builds with every figure as planned, or a ConfigError naming a model key; nothing else. The outcome."""
    try:
        spec = parse_model(cfg)
        rows = plan(spec)
        if _too_big(rows):
            return "planned, too big to allocate"
        net = build(spec).eval()
    except ConfigError as err:
        assert str(err).startswith("model"), f"a ConfigError that names no model key: {err}"
        return type(err).__name__
    assert [row.name for row in rows] == [name for name, _ in net.named_children()]
    check_rows(rows, net, spec.input_shape)
    assert parse_model(spec.to_dict()) == spec  # the plain-data round trip a checkpoint will rely on
    graph = sorted({row.type for row in every_row(rows)} & set(GRAPH_KINDS)) + (["blocks"] if spec.blocks else [])
    return f"built{' with ' + ', '.join(graph) if graph else ''}"


@FUZZ
@given(stack())
@pytest.mark.slow
def test_random_stacks_build_as_planned_or_raise_a_config_error(cfg: Cfg) -> None:
    event(_check(cfg))


@FUZZ
@given(mutated())
@pytest.mark.slow
def test_mutated_stacks_build_as_planned_or_raise_a_config_error(cfg: Cfg) -> None:
    event(_check(cfg))
