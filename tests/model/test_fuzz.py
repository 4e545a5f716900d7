"""Property tests of the layer language over random and mutated models: stacks, blocks, shortcuts, branches.

Whatever a user writes, either the model builds and every planned figure (output shape, parameters,
trainable parameters, FLOPs) equals what the built module does, row by row at every depth of blocks,
branches and shortcuts, or a ConfigError that names a `model...` key is raised by parse, plan or build. Any other exception (a torch RuntimeError, a TypeError, an IndexError) is a
bug in the language: a check that is missing or weaker than PyTorch's own.
CNNEXP_FUZZ_EXAMPLES=5000 runs a longer search locally; CI runs the default, derandomized.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from typing import Any

import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from torch.utils.flop_counter import FlopCounterMode

from cnnexp.errors import ConfigError
from cnnexp.model.activations import ACTIVATIONS
from cnnexp.model.builder import build, plan
from cnnexp.model.init import INITS
from cnnexp.model.layers import LAYERS, Row
from cnnexp.model.spec import parse_model
from conftest import CONF, MODEL_NAMES
from helpers import check_rows, every_row

EXAMPLES = int(os.environ.get("CNNEXP_FUZZ_EXAMPLES", "500"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)  # fmt: skip
# Resource bounds of one example (not of the language): a huge but legal stack is planned, not allocated.
MAX_PARAMS, MAX_ELEMENTS = 2_000_000, 1_000_000

Cfg = dict[str, Any]


def _percent(pct: int) -> st.SearchStrategy[bool]:
    return st.integers(0, 99).map(lambda x: x < pct)


def _sizes(lo: int, hi: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(lo, hi), st.lists(st.integers(lo, hi), min_size=2, max_size=2))


def _matrix(h: int, w: int) -> st.SearchStrategy[list[list[int]]]:
    return st.lists(st.lists(st.integers(-2, 2), min_size=w, max_size=w), min_size=h, max_size=h)


def _mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], pct: int = 90) -> st.SearchStrategy[Any]:
    return _percent(pct).flatmap(lambda ok: usual if ok else rare)


@st.composite
def _kernels(draw: st.DrawFn) -> Any:
    """One matrix, or a bank of them (one per filter); rarely a bank whose sizes differ."""
    h, w, k = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if k == 1 and draw(st.booleans()):
        return draw(_matrix(h, w))
    bank = draw(st.lists(_matrix(h, w), min_size=k, max_size=k))
    return bank + [draw(_matrix(w, h))] if draw(_percent(5)) else bank


ACTIVATION_NAMES = _mostly(st.sampled_from([*ACTIVATIONS.names(), "silu", "linear"]),
                           st.sampled_from(["rleu", "ReLU", "softmax", "Tanh"]))  # fmt: skip
INIT_NAMES = _mostly(st.sampled_from(INITS.names()), st.just("he"))
POOL_PADDING = _mostly(_sizes(0, 2), st.sampled_from(["same", "valid"]), 95)

# Plausible values per field name; ("type", "field") where a type needs its own.
VALUES: dict[Any, st.SearchStrategy[Any]] = {
    "filters": st.integers(1, 16),
    "kernel_size": _sizes(1, 7),
    "stride": _sizes(1, 4),
    "padding": st.one_of(_sizes(0, 3), st.sampled_from(["same", "valid"])),
    ("maxpool", "padding"): POOL_PADDING,
    ("avgpool", "padding"): POOL_PADDING,
    "dilation": _sizes(1, 3),
    "groups": st.integers(1, 4),
    "bias": st.booleans(),
    "kernel": _kernels(),
    "kernel_scale": st.floats(-2, 2),
    "frozen": st.booleans(),
    "ceil_mode": st.booleans(),
    "count_include_pad": st.booleans(),
    "output_size": _sizes(1, 6),
    "fn": ACTIVATION_NAMES,
    "eps": st.floats(1e-6, 1e-2),
    "momentum": st.floats(0, 1),
    "affine": st.booleans(),
    ("lrn", "size"): st.integers(1, 7),
    "alpha": st.floats(0, 1e-2),
    "beta": st.floats(0, 1),
    "k": st.floats(0, 3),
    "p": _mostly(st.floats(0, 0.99), st.just(1.0), 95),
    "out_features": st.integers(1, 16),
    "source": _mostly(st.just("input"), st.sampled_from(["l0", "l1", "nowhere"]), 80),
    "project": st.builds(lambda f, s: {"type": "conv", "filters": f, "F": 1, "S": s}, st.integers(1, 8), st.integers(1, 2)),
    "join": st.sampled_from(["concat", "add", "cat", "sum"]),
}
# How often a field is written (percent): required ones always, optional ones a third of the time unless
# said here; a conv with a written kernel (WITH_KERNEL) sometimes states filters and F as well.
WRITTEN = {"filters": 100, "kernel_size": 100, "kernel": 0, "stride": 50, "groups": 20}
WITH_KERNEL = {"filters": 30, "kernel_size": 30, "kernel": 100}
FLAT_ORDER = {"flatten": 1, "linear": 2}  # a plausible stack: feature maps, then flatten, then linear
GRAPH_KINDS = ("shortcut", "branches")  # drawn by their own strategies below, with stacks inside
PLAIN_KINDS = [kind for kind in LAYERS.names() if kind not in GRAPH_KINDS]
MAP_KINDS = [kind for kind in PLAIN_KINDS if kind not in FLAT_ORDER]


def _fields(kind: str) -> list[dataclasses.Field]:
    return LAYERS.get(kind, "test").yaml_fields()


@st.composite
def layer(draw: st.DrawFn, kind: str) -> Cfg:
    fields = _fields(kind)
    written = WRITTEN if "kernel" not in {f.name for f in fields} or not draw(_percent(12)) else {**WRITTEN, **WITH_KERNEL}
    raw: Cfg = {"type": kind}
    for f in fields:
        if not draw(_percent(100 if f.metadata["required"] else written.get(f.name, 33))):
            continue
        alias = f.metadata["alias"]
        key = draw(st.sampled_from([alias, f.name])) if alias else f.name
        raw[key] = draw(VALUES[(kind, f.name)] if (kind, f.name) in VALUES else VALUES[f.name])
    return raw


@st.composite
def keeping(draw: st.DrawFn) -> Cfg:
    """A layer that keeps the height and width, mostly: what parallel branches and residual bodies are made of."""
    f = draw(st.sampled_from([1, 3, 5]))
    usual = st.sampled_from([
        {"type": "conv", "filters": draw(st.integers(1, 8)), "F": f, "P": (f - 1) // 2},
        {"type": "activation"}, {"type": "batchnorm"}, {"type": "maxpool", "F": 3, "S": 1, "P": 1},
    ])  # fmt: skip
    return draw(_mostly(usual, st.sampled_from(MAP_KINDS).flatmap(layer), 85))


def _little_stack(draw: st.DrawFn, prefix: str, most: int = 3) -> Cfg:
    return {f"{prefix}{i}": draw(keeping()) for i in range(draw(st.integers(1, most)))}


@st.composite
def branches(draw: st.DrawFn) -> Cfg:
    """Two to four branches, an identity branch now and then, joined by concat or add."""
    join = _mostly(st.sampled_from(["concat", "cat"]), VALUES["join"], 70)  # add joins only equal shapes: rarer
    raw: Cfg = {"type": "branches", "join": draw(join)} if draw(_percent(80)) else {"type": "branches"}
    for b in range(draw(st.integers(2, 4))):
        raw[f"b{b}"] = "identity" if draw(_percent(20)) else _little_stack(draw, "s")
    return raw


@st.composite
def shortcut(draw: st.DrawFn, before: list[str]) -> Cfg:
    raw: Cfg = {"type": "shortcut"}
    if before and draw(_percent(50)):  # the layer just before adds to itself: the shapes agree by construction
        raw["from"] = draw(_mostly(st.just(before[-1]), st.sampled_from(before), 80))
    if draw(_percent(50)):
        raw["project"] = draw(_mostly(VALUES["project"], st.sampled_from(MAP_KINDS).flatmap(layer), 90))
    return raw


@st.composite
def residual_block(draw: st.DrawFn) -> tuple[Cfg, Cfg]:
    """A ResNet-like block (body, shortcut with a `$project` parameter) and a use of it with `repeat` and `first`."""
    f = draw(st.sampled_from([1, 3]))
    layers: Cfg = {"c1": {"type": "conv", "filters": "$filters", "F": f, "S": "$S", "P": (f - 1) // 2}, "a1": {"type": "activation"}}
    layers.update(_little_stack(draw, "k", 2) if draw(_percent(50)) else {})
    layers["add"] = {"type": "shortcut", "project": "$project"}
    layers["a2"] = {"type": "activation", **({"fn": draw(ACTIVATION_NAMES)} if draw(_percent(20)) else {})}
    block = {"params": {"filters": None, "S": 1, "project": "identity"}, "layers": layers}
    n = draw(st.integers(1, 8))
    use: Cfg = {"filters": n}
    if draw(_percent(60)):
        use["repeat"] = draw(st.integers(1, 3))
    if draw(_percent(60)):
        stride = draw(st.integers(1, 2))
        project_stride = draw(_mostly(st.just(stride), st.integers(1, 3), 80))
        use["first"] = {"S": stride, "project": {"type": "conv", "filters": n, "F": 1, "S": project_stride}}
    return block, use


@st.composite
def template_block(draw: st.DrawFn) -> tuple[Cfg, Cfg]:
    """Random layers with some of their values turned into parameters (with defaults, or given by the use)."""
    layers = _little_stack(draw, "t", 4)
    params: Cfg = {}
    use: Cfg = {}
    for raw in layers.values():
        for key in [k for k in raw if k != "type" and draw(_percent(30))]:
            name = f"p{len(params)}"
            value, raw[key] = raw[key], f"${name}"
            given = draw(st.booleans())
            params[name] = None if given else value
            if given:
                use[name] = value
    return {"params": params, "layers": layers}, use


@st.composite
def stack(draw: st.DrawFn) -> Cfg:
    """A valid-looking model config: input, head size, model keys, blocks, and 1-10 layers (plus a head, usually).

    A layer is a plain layer most of the time, else branches, a shortcut or the use of a block declared here.
    """
    classes = draw(st.integers(1, 10))
    kinds = draw(st.lists(_mostly(st.sampled_from(PLAIN_KINDS), st.sampled_from([*GRAPH_KINDS, "block"]), 75), min_size=1, max_size=10))
    if draw(_percent(85)):
        kinds = sorted(kinds + (["flatten"] if "linear" in kinds else []), key=lambda k: FLAT_ORDER.get(k, 0))
    blocks: Cfg = {}
    layers: Cfg = {}
    for i, kind in enumerate(kinds):
        if kind == "block":
            body, use = draw(st.one_of(residual_block(), template_block()))
            blocks[f"blk{i}"] = body
            layers[f"l{i}"] = {"type": f"blk{i}", **use}
        elif kind == "shortcut":
            layers[f"l{i}"] = draw(shortcut(list(layers)))
        else:
            layers[f"l{i}"] = draw(branches() if kind == "branches" else layer(kind))
    if draw(_percent(80)):
        layers.update({"flat": {"type": "flatten"}, "head": {"type": "linear", "out": classes}})
    cfg: Cfg = {
        "name": "fuzz",
        "input": {"channels": draw(st.integers(1, 4)), "height": draw(st.integers(1, 40)), "width": draw(st.integers(1, 40))},
        "num_classes": classes,
        "layers": layers,
    }  # fmt: skip
    if blocks:
        cfg["blocks"] = blocks
    for key, values in [("activation", ACTIVATION_NAMES), ("init", INIT_NAMES), ("strict", st.booleans())]:
        if draw(_percent(30)):
            cfg[key] = draw(values)
    return cfg


def _shipped(name: str, channels: int = 3, size: int = 32, classes: int = 10) -> Cfg:
    """conf/model/NAME.yaml as a plain mapping: data interpolations as numbers, widths divided by 16."""
    raw = OmegaConf.to_container(OmegaConf.load(CONF / "model" / f"{name}.yaml"), resolve=False)
    raw.pop("defaults", None)
    numbers = {"${data.channels}": channels, "${data.height}": size, "${data.width}": size,
               "${data.num_classes}": classes, "${model.num_classes}": classes}  # fmt: skip
    raw["input"] = {k: numbers.get(v, v) for k, v in raw["input"].items()}
    raw["num_classes"] = classes
    _narrow(raw["layers"], numbers, classes)
    return raw


def _narrow(node: Any, numbers: dict[str, int], classes: int) -> None:
    """Every layer and block use, at any depth: interpolations as numbers, filters and hidden widths / 16.
    Shapes do not depend on widths: narrow layers keep examples fast (AlexNet's fc6 would be 37 M)."""
    if isinstance(node, list):
        for item in node:
            _narrow(item, numbers, classes)
    if not isinstance(node, dict):
        return
    node.update({k: numbers.get(v, v) for k, v in node.items() if isinstance(v, str)})
    if isinstance(node.get("filters"), int):
        groups = node.get("groups", 1)
        node["filters"] = max(groups, node["filters"] // 16 // groups * groups)
    if isinstance(node.get("out"), int) and node["out"] != classes:
        node["out"] = max(1, node["out"] // 16)
    for value in node.values():
        _narrow(value, numbers, classes)


SHIPPED = [_shipped(name) for name in MODEL_NAMES]


def test_every_layer_type_and_field_has_values_to_fuzz() -> None:
    for kind in LAYERS.names():
        for f in _fields(kind):
            assert (kind, f.name) in VALUES or f.name in VALUES, f"{kind}.{f.name}"
    for cfg in SHIPPED:  # the shrunk shipped models are still valid
        assert _check(cfg).startswith("built"), cfg["name"]


# ---- mutations -----------------------------------------------------------------------------------------

# Wrong values: the edges a size or a number can take first, then any YAML value of the wrong type.
EDGES = st.sampled_from(
    [0, -1, 2**31, 2**63, 10**30, 10**400, 10**9, 1.5, math.nan, math.inf, -math.inf, None, True, "", [], [1], [1, 2, 3], [[]]]
)
JUNK = _mostly(EDGES, st.one_of(
    st.text(max_size=4), st.floats(-10, 10), st.integers(-3, 9), st.sampled_from(["same", "valid", [[1, 2], [3]], [[[1]], [[1, 2]]]]),
    st.lists(st.integers(-1, 9), max_size=3), st.lists(st.text(max_size=2), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2),
), 50)  # fmt: skip


LAYER_NAMES = st.one_of(st.sampled_from(["", "a.b", "forward", "training", "pop", "_modules", 1, "1", "conv 1"]),
                        st.text(max_size=4))


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
    values = {f.name: VALUES[(kind, f.name)] if (kind, f.name) in VALUES else VALUES[f.name] for f in _fields(kind)}
    return {**values, **{f.metadata["alias"]: values[f.name] for f in _fields(kind) if f.metadata["alias"]}}


def _mutate_field(draw: st.DrawFn, cfg: Cfg) -> None:
    raw = _pick_layer(draw, cfg)
    if raw is None:
        return
    known = _known_fields(raw.get("type"))
    written = [k for k in raw if k != "type"]
    key = draw(_mostly(st.sampled_from(written), st.sampled_from(sorted(known) or ["F"]), 75) if written
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
        cfg["blocks"] = draw(st.one_of(JUNK, st.just({"lonely": {"layers": {"c": {"type": "conv", "filters": 2, "F": 1}}}})))
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
        raw[draw(st.sampled_from([k for k in raw if k != "type"] or ["filters"]))] = draw(st.sampled_from(["$nope", "$", "$1x"]))
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
    for _ in range(draw(_mostly(st.just(1), st.integers(2, 3), 60))):
        draw(st.sampled_from(MUTATIONS))(draw, cfg)
    return cfg


# ---- the property --------------------------------------------------------------------------------------


def _too_big(rows: list[Row]) -> bool:
    return sum(r.params for r in rows) > MAX_PARAMS or max(math.prod(r.out_shape) for r in every_row(rows)) > MAX_ELEMENTS


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
def test_random_stacks_build_as_planned_or_raise_a_config_error(cfg: Cfg) -> None:
    event(_check(cfg))


@FUZZ
@given(mutated())
def test_mutated_stacks_build_as_planned_or_raise_a_config_error(cfg: Cfg) -> None:
    event(_check(cfg))
