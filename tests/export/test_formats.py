"""Every shipped model and every activation exports to ONNX, TorchScript and torch.export, and runs the same (the
largest models, whose layer types the others cover in every format, in TorchScript)."""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

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
from cnnexp.run import read_run

HAS_ONNX = all(importlib.util.find_spec(p) for p in ("onnx", "onnxscript", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="the onnx extra is not installed (pip install 'cnnexp[onnx]')")
FORMAT_CASES = [pytest.param("onnx", marks=needs_onnx), "torchscript", "pt2"]
pytestmark = pytest.mark.usefixtures("onnx_table_once")  # tests/conftest.py: the ONNX table built once


# Models of 60-140 M parameters whose every layer type is exported in every format by the others (checked by
# test_the_models_of_one_format_have_no_layer_type_of_their_own): they are exported in one format only.
ONE_FORMAT = ("alexnet_torchvision", "vgg11", "vgg16")
MODEL_FORMATS = [
    pytest.param(model, name, id=f"{model}-{name}", marks=needs_onnx if name == "onnx" else ())
    for model in MODEL_NAMES
    for name in (["torchscript"] if model in ONE_FORMAT else ["onnx", "torchscript", "pt2"])
]


def _layer_types(compose_cfg: Compose, model: str) -> set[str]:
    with torch.device("meta"):  # the layers' types, without the memory or the initialisation of their weights
        net = build(read_run(compose_cfg(f"model={model}", "data.adapt=true")).model)
    return {type(module).__name__ for module in net.modules()}


@pytest.mark.slow
def test_the_models_of_one_format_have_no_layer_type_of_their_own(compose_cfg: Compose) -> None:
    every_format = set().union(*(_layer_types(compose_cfg, m) for m in MODEL_NAMES if m not in ONE_FORMAT))
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
def test_every_activation_exports(tmp_path: Path, name: str) -> None:
    # One network with each of the registered activations in turn, sinc and step included.
    acts = {f"act_{a}": {"type": "activation", "fn": a} for a in ACTIVATIONS.names()}
    spec = spec_of({"conv1": {"type": "conv", "filters": 4, "F": 3}, **acts, "flatten": {"type": "flatten"},
                    "fc": {"type": "linear", "out": 10}})  # fmt: skip
    done = check.export(build(spec), name, spec.input_shape, tmp_path / f"acts{FORMATS.get(name, 'format').suffix}")
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
