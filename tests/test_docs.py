"""Conventions the docs must keep: every layer type, field, model and activation is documented."""

from __future__ import annotations

import dataclasses
import re

import pytest
from support import MODEL_NAMES, ROOT

from cnnexp.model.activations import ACTIVATIONS
from cnnexp.model.layers import LAYERS

LAYERS_DOC = (ROOT / "docs" / "layers.md").read_text()


def _section(name: str) -> str:
    match = re.search(rf"^### {name}\n(.*?)(?=^##|\Z)", LAYERS_DOC, re.S | re.M)
    assert match, f"docs/layers.md has no '### {name}' section"
    return match.group(1)


@pytest.mark.parametrize("name", LAYERS.names())
def test_every_layer_type_and_field_is_documented(name: str) -> None:
    text = _section(name)
    for field in dataclasses.fields(LAYERS.get(name, "test")):
        alias = field.metadata.get("alias")
        assert f"`{field.name}`" in text or (alias and f"`{alias}`" in text), f"{name}.{field.name} undocumented"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_is_in_the_table(name: str) -> None:
    assert f"| `{name}` |" in LAYERS_DOC


def test_every_activation_is_documented() -> None:
    text = (ROOT / "docs" / "activations.md").read_text()
    assert [n for n in ACTIVATIONS.names() if f"`{n}`" not in text] == []
