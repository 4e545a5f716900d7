"""Property tests of the layer-stack language over random and mutated stacks.

Whatever a user writes, either the model builds and every planned figure (output shape, parameters,
trainable parameters) equals what the built module does, or a ConfigError that names a `model...` key is
raised by parse, plan or build. Any other exception (a torch RuntimeError, a TypeError, an IndexError) is a
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
from cnnexp.model.builder import Row, build, plan
from cnnexp.model.init import INITS
from cnnexp.model.layers import LAYERS
from cnnexp.model.spec import parse_model
from conftest import CONF, MODEL_NAMES

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
}
# How often a field is written (percent): required ones always, optional ones a third of the time unless
# said here; a conv with a written kernel (WITH_KERNEL) sometimes states filters and F as well.
WRITTEN = {"filters": 100, "kernel_size": 100, "kernel": 0, "stride": 50, "groups": 20}
WITH_KERNEL = {"filters": 30, "kernel_size": 30, "kernel": 100}
FLAT_ORDER = {"flatten": 1, "linear": 2}  # a plausible stack: feature maps, then flatten, then linear


def _fields(kind: str) -> list[dataclasses.Field]:
    return list(dataclasses.fields(LAYERS.get(kind, "test")))


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
def stack(draw: st.DrawFn) -> Cfg:
    """A valid-looking model config: input, head size, model keys and 1-10 layers (plus a head, usually)."""
    classes = draw(st.integers(1, 10))
    kinds = draw(st.lists(st.sampled_from(LAYERS.names()), min_size=1, max_size=10))
    if draw(_percent(85)):
        kinds = sorted(kinds + (["flatten"] if "linear" in kinds else []), key=lambda k: FLAT_ORDER.get(k, 0))
    layers = [draw(layer(kind)) for kind in kinds]
    if draw(_percent(80)):
        layers += [{"type": "flatten"}, {"type": "linear", "out": classes}]
    cfg: Cfg = {
        "name": "fuzz",
        "input": {"channels": draw(st.integers(1, 4)), "height": draw(st.integers(1, 40)), "width": draw(st.integers(1, 40))},
        "num_classes": classes,
        "layers": {f"l{i}": raw for i, raw in enumerate(layers)},
    }  # fmt: skip
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
    for spec in raw["layers"].values():
        spec.update({k: numbers.get(v, v) for k, v in spec.items() if isinstance(v, str)})
        # Shapes do not depend on widths: narrow layers keep examples fast (AlexNet's fc6 would be 37 M).
        if "filters" in spec:
            groups = spec.get("groups", 1)
            spec["filters"] = max(groups, spec["filters"] // 16 // groups * groups)
        if spec.get("out") not in (None, classes):
            spec["out"] = max(1, spec["out"] // 16)
    return raw


SHIPPED = [_shipped(name) for name in MODEL_NAMES]


def test_every_layer_type_and_field_has_values_to_fuzz() -> None:
    for kind in LAYERS.names():
        for f in _fields(kind):
            assert (kind, f.name) in VALUES or f.name in VALUES, f"{kind}.{f.name}"
    for cfg in SHIPPED:  # the shrunk shipped models are still valid
        assert _check(cfg) == "built", cfg["name"]


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


def _pick_layer(draw: st.DrawFn, cfg: Cfg) -> tuple[str, Any] | None:
    layers = cfg.get("layers")
    if not isinstance(layers, dict) or not layers:
        return None
    name = draw(st.sampled_from(list(layers)))
    return name, layers[name]


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
    picked = _pick_layer(draw, cfg)
    if picked is None or not isinstance(picked[1], dict):
        return
    _, raw = picked
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


MUTATIONS = [_reorder, _mutate_field, _mutate_field, _mutate_model]


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
    return sum(r.params for r in rows) > MAX_PARAMS or max(math.prod(r.out_shape) for r in rows) > MAX_ELEMENTS


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
    x = torch.randn(2, *spec.input_shape)
    with torch.no_grad():
        for row, child in zip(rows, net):
            with FlopCounterMode(display=False) as flops:
                x = child(x)
            assert tuple(x.shape[1:]) == row.out_shape, row
            assert flops.get_total_flops() == 2 * len(x) * row.macs, row  # FLOPs = 2 × mult-adds, per image
            assert sum(p.numel() for p in child.parameters()) == row.params, row
            assert sum(p.numel() for p in child.parameters() if p.requires_grad) == row.trainable, row
    return "built"


@FUZZ
@given(stack())
def test_random_stacks_build_as_planned_or_raise_a_config_error(cfg: Cfg) -> None:
    event(_check(cfg))


@FUZZ
@given(mutated())
def test_mutated_stacks_build_as_planned_or_raise_a_config_error(cfg: Cfg) -> None:
    event(_check(cfg))
