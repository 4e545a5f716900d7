"""Every layer type, join and activation exports to ONNX, TorchScript and torch.export, and runs the same; so does
every shipped model (the largest ones, whose every module type those exports cover, in TorchScript)."""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import spec_of
from support import MODEL_NAMES, Compose
from torch import nn

from cnnexp.errors import ConfigError
from cnnexp.export import check
from cnnexp.export.formats import FORMATS
from cnnexp.model.activations import ACTIVATIONS
from cnnexp.model.builder import build
from cnnexp.model.layers import LAYERS
from cnnexp.model.layers.joins import JOINS
from cnnexp.run import read_run

HAS_ONNX = all(importlib.util.find_spec(p) for p in ("onnx", "onnxscript", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="the onnx extra is not installed (pip install 'cnnexp[onnx]')")
FORMAT_CASES = [pytest.param("onnx", marks=needs_onnx), "torchscript", "pt2"]
pytestmark = pytest.mark.usefixtures("onnx_table_once")  # tests/conftest.py: the ONNX table built once


# One network with every layer type and every join of the language, as a user writes them: what the networks below
# are made of, exported in every format (test_every_layer_type_join_and_activation_exports).
BLOCKS = {
    "cn_block": {"params": {"dim": None}, "layers": {  # ConvNeXt's block: depthwise conv, norm, channel MLP, scale
        "dw": {"type": "conv", "filters": "$dim", "F": 3, "P": 1, "groups": "$dim"},
        "norm": {"type": "layernorm"}, "fc1": {"type": "pointwise", "out": "2 * $dim"},
        "act": {"type": "activation", "fn": "gelu"}, "fc2": {"type": "pointwise", "out": "$dim"},
        "scale": {"type": "layer_scale"}, "drop": {"type": "drop_path", "p": 0.1}, "add": {"type": "shortcut"}}},
    "se": {"params": {"filters": None}, "layers": {  # squeeze-and-excitation: a gate
        "pool": {"type": "adaptive_avgpool", "size": 1}, "fc1": {"type": "conv", "filters": 2, "F": 1},
        "act": {"type": "activation"}, "fc2": {"type": "conv", "filters": "$filters", "F": 1},
        "sigmoid": {"type": "activation", "fn": "sigmoid"}, "scale": {"type": "gate"}}},
}  # fmt: skip
EVERY_LAYER = {
    "conv1": {"type": "conv", "filters": 8, "F": 3, "P": 1}, "bn": {"type": "batchnorm"}, "act": {"type": "activation"},
    "lrn": {"type": "lrn", "size": 3}, "pool": {"type": "maxpool", "F": 2, "S": 2},
    "block": {"type": "cn_block", "dim": 8}, "se": {"type": "se", "filters": 8},
    "split": {"type": "branches", "join": "concat", "a": {"part": {"type": "channel_split", "part": 0}},
              "b": {"part": {"type": "channel_split", "part": 1}, "conv": {"type": "conv", "filters": 4, "F": 1}}},
    "shuffle": {"type": "channel_shuffle", "groups": 2},
    "plus": {"type": "branches", "join": "add", "x": "identity", "y": {"conv": {"type": "conv", "filters": 8, "F": 1}}},
    "times": {"type": "branches", "join": "mul", "x": "identity", "y": {"conv": {"type": "conv", "filters": 8, "F": 1}}},
    "avg": {"type": "avgpool", "F": 2, "S": 2}, "gap": {"type": "adaptive_avgpool", "size": 2},
    "flatten": {"type": "flatten"}, "drop": {"type": "dropout", "p": 0.5}, "fc": {"type": "linear", "out": 10},
}  # fmt: skip
EVERY_ACTIVATION = {
    **{f"act_{a}": {"type": "activation", "fn": a} for a in ACTIVATIONS.names()},  # sinc and step included
    "conv1": {"type": "conv", "filters": 4, "F": 3}, "flatten": {"type": "flatten"}, "fc": {"type": "linear", "out": 10},
}  # fmt: skip
# Shipped models of 10-140 M parameters, or whose ONNX export takes seconds, made only of module types that the
# networks exported in every format hold (test_the_models_of_one_format_have_no_module_type_of_their_own): they
# are exported in TorchScript only, the cheapest format to write.
ONE_FORMAT = (
    "alexnet", "alexnet_torchvision", "convnext_tiny", "efficientnet_b0", "mobilenet_v2", "resnet18", "vgg11", "vgg16"
)  # fmt: skip
MODEL_FORMATS = [
    pytest.param(model, name, id=f"{model}-{name}", marks=needs_onnx if name == "onnx" else ())
    for model in MODEL_NAMES
    for name in (["torchscript"] if model in ONE_FORMAT else ["onnx", "torchscript", "pt2"])
]


def _types(net: nn.Module) -> set[str]:
    return {type(module).__name__ for module in net.modules()}


def _layer_types(compose_cfg: Compose, model: str) -> set[str]:
    with torch.device("meta"):  # the layers' types, without the memory or the initialisation of their weights
        return _types(build(read_run(compose_cfg(f"model={model}", "data.adapt=true")).model))


def _written(tree: object, key: str) -> set[str]:
    """Every value of `key` in a layers mapping as written, at any depth (blocks and branches included)."""
    if not isinstance(tree, dict):
        return set()
    found = {tree[key]} if isinstance(tree.get(key), str) else set()
    return found.union(*(_written(value, key) for value in tree.values()))


def test_the_every_layer_network_has_every_layer_type_and_join() -> None:
    # A layer type or join added to the language without a place here would go unexported by these tests.
    assert set(LAYERS.names()) <= _written({**EVERY_LAYER, **BLOCKS}, "type")
    assert set(JOINS.names()) <= _written(EVERY_LAYER, "join")


@pytest.mark.slow
def test_the_models_of_one_format_have_no_module_type_of_their_own(compose_cfg: Compose) -> None:
    nets = [spec_of(EVERY_LAYER, blocks=BLOCKS), spec_of(EVERY_ACTIVATION)]
    every_format = set().union(*(_types(build(spec)) for spec in nets))
    every_format |= set().union(*(_layer_types(compose_cfg, m) for m in MODEL_NAMES if m not in ONE_FORMAT))
    for model in ONE_FORMAT:
        assert _layer_types(compose_cfg, model) <= every_format, model


@pytest.mark.parametrize(("model", "name"), MODEL_FORMATS)
@pytest.mark.slow
def test_every_shipped_model_exports_and_runs_the_same(
    compose_cfg: Compose, tmp_path: Path, model: str, name: str
) -> None:
    spec = read_run(compose_cfg(f"model={model}", "data.adapt=true")).model
    net = build(spec).eval()
    done = check.export(net, name, spec.input_shape, tmp_path / f"{model}{FORMATS.get(name, 'format').suffix}")
    assert done.path.is_file() and done.batch == check.CHECK_BATCH != check.EXAMPLE_BATCH  # another batch size runs
    assert done.max_diff <= 1e-4


@pytest.mark.parametrize("name", FORMAT_CASES)
@pytest.mark.parametrize(
    ("layers", "blocks"),
    [pytest.param(EVERY_LAYER, BLOCKS, id="layers"), pytest.param(EVERY_ACTIVATION, {}, id="acts")],
)
def test_every_layer_type_join_and_activation_exports(
    tmp_path: Path, name: str, layers: dict[str, Any], blocks: dict[str, Any]
) -> None:
    spec = spec_of(layers, blocks=blocks)
    done = check.export(build(spec), name, spec.input_shape, tmp_path / f"net{FORMATS.get(name, 'format').suffix}")
    assert done.max_diff <= 1e-4


class Bessel(nn.Module):
    """An activation ONNX has no operator for (prims.bessel_j0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.special.bessel_j0(x)


@needs_onnx
def test_a_layer_that_cannot_be_exported_is_named(compose_cfg: Compose, tmp_path: Path) -> None:
    spec = read_run(compose_cfg()).model
    net = build(spec)
    net.act1 = Bessel()  # the second leaf: the search exports one layer (conv1) before it
    with pytest.raises(ConfigError, match=r"^format=onnx: layer act1 \(Bessel\) cannot be exported: DispatchError: No ONNX "
                       r"function found for <OpOverload\(op='prims\.bessel_j0', overload='default'\)>.*; choose another "
                       r"activation or layer for this layer, or another format\.$"):  # fmt: skip
        check.export(net, "onnx", spec.input_shape, tmp_path / "net.onnx")


@needs_onnx
@pytest.mark.slow
def test_the_layer_search_exports_each_kind_of_layer_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Four convolutions of two kinds and four identical ReLUs before the layer ONNX cannot take: the search
    # exports conv1, act1, conv2 and bessel (conv3, conv4 and act2-act4 are kinds it has tried), after the net.
    layers: dict[str, nn.Module] = {"conv1": nn.Conv2d(1, 4, 3, padding=1), "act1": nn.ReLU()}
    for i in range(2, 5):
        layers |= {f"conv{i}": nn.Conv2d(4, 4, 3, padding=1), f"act{i}": nn.ReLU()}
    net = nn.Sequential(OrderedDict({**layers, "bessel": Bessel(), "flatten": nn.Flatten()}))
    onnx, written = FORMATS.get("onnx", "format"), []

    def write(module: nn.Module, example: torch.Tensor, path: Path) -> None:
        written.append(type(module).__name__)
        onnx.write(module, example, path)

    monkeypatch.setattr(check.FORMATS, "get", lambda name, what: replace(onnx, write=write))
    with pytest.raises(ConfigError, match=r"^format=onnx: layer bessel \(Bessel\) cannot be exported: "):
        check.export(net, "onnx", (1, 8, 8), tmp_path / "net.onnx")
    assert written == ["Sequential", "Conv2d", "ReLU", "Conv2d", "Bessel"]


def test_an_export_that_computes_something_else_is_refused(compose_cfg: Compose, tmp_path: Path) -> None:
    spec = read_run(compose_cfg()).model
    net = build(spec).eval()
    fmt = FORMATS.get("torchscript", "format")
    fmt.write(net, torch.zeros(2, *spec.input_shape), tmp_path / "net.pt")
    with torch.no_grad():
        net.fc2.bias += 1  # the network moves on; the file does not
    with pytest.raises(ConfigError, match=r"^format=torchscript: the exported net\.pt differs from the network by up to "
                       r"1 on a batch of 3 \(logits up to .*\); the export is wrong, do not use it\.$"):  # fmt: skip
        check.verify(net, fmt, tmp_path / "net.pt", "torchscript", spec.input_shape)


def test_a_missing_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(ConfigError, match=r"^format=onnx needs the package\(s\) onnxruntime, which are not installed: "
                       r"pip install 'cnnexp\[onnx\]' \(or pip install onnxruntime\)\.$"):  # fmt: skip
        FORMATS.get("onnx", "format").check_packages("onnx")


def test_an_unknown_format_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"^format: unknown export format 'tflite'\. Known export formats: onnx, pt2, torchscript\.$"
    ):
        FORMATS.get("tflite", "format")
