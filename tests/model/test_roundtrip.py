"""ModelSpec.to_dict(): plain data that parse_model turns back into the same model, for every shipped model."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from helpers import spec_of
from omegaconf import OmegaConf
from support import MODEL_NAMES, Compose

from cnnexp.model.builder import build
from cnnexp.model.spec import parse_model
from cnnexp.model.summary import summarize
from cnnexp.run import read_run

PLAIN = (str, int, float, bool, type(None))


def _is_plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return isinstance(value, PLAIN)


def _state_keys(spec: Any) -> list[str]:
    with torch.device("meta"):  # module names without allocating VGG's 138 M parameters
        return list(build(spec).state_dict())


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.slow
def test_every_shipped_model_round_trips_through_plain_data(compose_cfg: Compose, name: str) -> None:
    spec = read_run(compose_cfg(f"model={name}")).model
    data = spec.to_dict()
    assert _is_plain(data)
    again = parse_model(json.loads(json.dumps(data)))  # what a checkpoint stores, without Hydra
    assert again == spec
    assert summarize(again).to_dict() == summarize(spec).to_dict()  # every figure of every row
    assert _state_keys(again) == _state_keys(spec)
    assert parse_model(OmegaConf.to_container(OmegaConf.create(data))) == spec  # and through OmegaConf


def test_to_dict_keeps_what_was_written_not_what_was_derived() -> None:
    spec = spec_of({"c": {"type": "conv", "filters": 4, "F": 3, "S": [2, 1]}, "a": {"type": "act"}, "t": {"type": "activation", "fn": "silu"},
                    "flat": {"type": "flatten"}, "fc": {"type": "linear", "out": 10}}, activation="tanh")  # fmt: skip
    layers = spec.to_dict()["layers"]
    assert layers["c"] == {"type": "conv", "filters": 4, "kernel_size": [3, 3], "stride": [2, 1]}
    assert layers["a"] == {"type": "activation"}  # follows model.activation, as written: not pinned to tanh
    assert layers["t"] == {"type": "activation", "fn": "swish"}  # an alias as its canonical name
    assert spec.to_dict()["activation"] == "tanh"
