"""Hypothesis strategies for model configs: plain layers with plausible values, stacks that use blocks,
shortcuts and branches, and the shipped conf/model files shrunk to fuzz-sized widths (tests/model/test_fuzz.py)."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st
from omegaconf import OmegaConf
from support import CONF, MODEL_NAMES

from cnnexp.model.activations import ACTIVATIONS
from cnnexp.model.init import INITS
from cnnexp.model.layers import LAYERS

Cfg = dict[str, Any]


def percent(pct: int) -> st.SearchStrategy[bool]:
    return st.integers(0, 99).map(lambda x: x < pct)


def _sizes(lo: int, hi: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(lo, hi), st.lists(st.integers(lo, hi), min_size=2, max_size=2))


def _matrix(h: int, w: int) -> st.SearchStrategy[list[list[int]]]:
    return st.lists(st.lists(st.integers(-2, 2), min_size=w, max_size=w), min_size=h, max_size=h)


def mostly(usual: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], pct: int = 90) -> st.SearchStrategy[Any]:
    return percent(pct).flatmap(lambda ok: usual if ok else rare)


@st.composite
def _kernels(draw: st.DrawFn) -> Any:
    """One matrix, or a bank of them (one per filter); rarely a bank whose sizes differ."""
    h, w, k = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if k == 1 and draw(st.booleans()):
        return draw(_matrix(h, w))
    bank = draw(st.lists(_matrix(h, w), min_size=k, max_size=k))
    return bank + [draw(_matrix(w, h))] if draw(percent(5)) else bank


ACTIVATION_NAMES = mostly(st.sampled_from([*ACTIVATIONS.names(), "silu", "linear"]),
                           st.sampled_from(["rleu", "ReLU", "softmax", "Tanh"]))  # fmt: skip
INIT_NAMES = mostly(st.sampled_from(INITS.names()), st.just("he"))
POOL_PADDING = mostly(_sizes(0, 2), st.sampled_from(["same", "valid"]), 95)

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
    "p": mostly(st.floats(0, 0.99), st.just(1.0), 95),
    "out_features": st.integers(1, 16),
    "source": mostly(st.just("input"), st.sampled_from(["l0", "l1", "nowhere"]), 80),
    "project": st.builds(
        lambda f, s: {"type": "conv", "filters": f, "F": 1, "S": s}, st.integers(1, 8), st.integers(1, 2)
    ),
    "join": st.sampled_from(["concat", "add", "cat", "sum", "mul"]),
    "init": st.floats(-1, 1),
    "schedule": st.sampled_from(["constant", "linear", "depth_fraction"]),
    "parts": st.integers(2, 4),
    "part": st.integers(0, 3),
}
# How often a field is written (percent): required ones always, optional ones a third of the time unless
# said here; a conv with a written kernel (WITH_KERNEL) sometimes states filters and F as well.
WRITTEN = {"filters": 100, "kernel_size": 100, "kernel": 0, "stride": 50, "groups": 20}
WITH_KERNEL = {"filters": 30, "kernel_size": 30, "kernel": 100}
FLAT_ORDER = {"flatten": 1, "linear": 2}  # a plausible stack: feature maps, then flatten, then linear
GRAPH_KINDS = ("shortcut", "branches")  # drawn by their own strategies below, with stacks inside
PLAIN_KINDS = [kind for kind in LAYERS.names() if kind not in GRAPH_KINDS]
MAP_KINDS = [kind for kind in PLAIN_KINDS if kind not in FLAT_ORDER]


def fields_of(kind: str) -> list[dataclasses.Field]:
    return LAYERS.get(kind, "test").yaml_fields()


@st.composite
def layer(draw: st.DrawFn, kind: str) -> Cfg:
    fields = fields_of(kind)
    written = (
        WRITTEN if "kernel" not in {f.name for f in fields} or not draw(percent(12)) else {**WRITTEN, **WITH_KERNEL}
    )
    raw: Cfg = {"type": kind}
    for f in fields:
        if not draw(percent(100 if f.metadata["required"] else written.get(f.name, 33))):
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
    return draw(mostly(usual, st.sampled_from(MAP_KINDS).flatmap(layer), 85))


def _little_stack(draw: st.DrawFn, prefix: str, most: int = 3) -> Cfg:
    return {f"{prefix}{i}": draw(keeping()) for i in range(draw(st.integers(1, most)))}


@st.composite
def branches(draw: st.DrawFn) -> Cfg:
    """Two to four branches, an identity branch now and then, joined by concat or add."""
    join = mostly(st.sampled_from(["concat", "cat"]), VALUES["join"], 70)  # add joins only equal shapes: rarer
    raw: Cfg = {"type": "branches", "join": draw(join)} if draw(percent(80)) else {"type": "branches"}
    for b in range(draw(st.integers(2, 4))):
        raw[f"b{b}"] = "identity" if draw(percent(20)) else _little_stack(draw, "s")
    return raw


@st.composite
def shortcut(draw: st.DrawFn, before: list[str]) -> Cfg:
    raw: Cfg = {"type": "shortcut"}
    if before and draw(percent(50)):  # the layer just before adds to itself: the shapes agree by construction
        raw["from"] = draw(mostly(st.just(before[-1]), st.sampled_from(before), 80))
    if draw(percent(50)):
        raw["project"] = draw(mostly(VALUES["project"], st.sampled_from(MAP_KINDS).flatmap(layer), 90))
    return raw


@st.composite
def residual_block(draw: st.DrawFn) -> tuple[Cfg, Cfg]:
    """A ResNet-like block (body, shortcut with a `$project` parameter) and a use of it with `repeat` and `first`."""
    f = draw(st.sampled_from([1, 3]))
    layers: Cfg = {
        "c1": {"type": "conv", "filters": "$filters", "F": f, "S": "$S", "P": (f - 1) // 2},
        "a1": {"type": "activation"},
    }
    layers.update(_little_stack(draw, "k", 2) if draw(percent(50)) else {})
    layers["add"] = {"type": "shortcut", "project": "$project"}
    layers["a2"] = {"type": "activation", **({"fn": draw(ACTIVATION_NAMES)} if draw(percent(20)) else {})}
    block = {"params": {"filters": None, "S": 1, "project": "identity"}, "layers": layers}
    n = draw(st.integers(1, 8))
    use: Cfg = {"filters": n}
    if draw(percent(60)):
        use["repeat"] = draw(st.integers(1, 3))
    if draw(percent(60)):
        stride = draw(st.integers(1, 2))
        project_stride = draw(mostly(st.just(stride), st.integers(1, 3), 80))
        use["first"] = {"S": stride, "project": {"type": "conv", "filters": n, "F": 1, "S": project_stride}}
    return block, use


@st.composite
def template_block(draw: st.DrawFn) -> tuple[Cfg, Cfg]:
    """Random layers with some of their values turned into parameters (with defaults, or given by the use)."""
    layers = _little_stack(draw, "t", 4)
    params: Cfg = {}
    use: Cfg = {}
    for raw in layers.values():
        for key in [k for k in raw if k != "type" and draw(percent(30))]:
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
    kinds = draw(
        st.lists(
            mostly(st.sampled_from(PLAIN_KINDS), st.sampled_from([*GRAPH_KINDS, "block"]), 75), min_size=1, max_size=10
        )
    )
    if draw(percent(85)):
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
    if draw(percent(80)):
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
        if draw(percent(30)):
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
    if isinstance(raw.get("params"), dict) and "width" in raw["params"]:  # a width multiplier (efficientnet_b0)
        raw["params"]["width"] /= 16
    _narrow([raw["layers"], raw.get("blocks")], numbers, classes)  # blocks too: mobilenet_v2's are its whole body
    return raw


def _narrow(node: Any, numbers: dict[str, int], classes: int) -> None:
    """Every layer and block use, at any depth: interpolations as numbers, filters, block `hidden` widths and
    hidden linear widths / 16.
    Shapes do not depend on widths: narrow layers keep examples fast (AlexNet's fc6 would be 37 M)."""
    if isinstance(node, list):
        for item in node:
            _narrow(item, numbers, classes)
    if not isinstance(node, dict):
        return
    given = {k for k, v in node.items() if isinstance(v, str) and v in numbers}  # e.g. squeezenet's `filters: classes`
    node.update({k: numbers.get(v, v) for k, v in node.items() if isinstance(v, str)})
    if isinstance(node.get("filters"), int) and "filters" not in given:
        groups = node.get("groups", 1)
        node["filters"] = max(groups, node["filters"] // 16 // groups * groups)
    for key in ("hidden", "dim"):  # a width that `filters: $hidden` and `groups: $hidden` take (convnext's `dim`)
        if isinstance(node.get(key), int):
            node[key] = max(1, node[key] // 16)
    if isinstance(node.get("out"), int) and node["out"] != classes:
        node["out"] = max(1, node["out"] // 16)
    for value in node.values():
        _narrow(value, numbers, classes)


SHIPPED = [_shipped(name) for name in MODEL_NAMES]
