"""Schemas of the config groups, registered in Hydra's ConfigStore so that a misspelled key in a YAML file
fails at compose time. Each group's YAML files start with `defaults: [schema, _self_]`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class InputConf:
    channels: int = MISSING
    height: int = MISSING
    width: int = MISSING


@dataclass
class ModelConf:
    name: str = MISSING
    input: InputConf = field(default_factory=InputConf)
    num_classes: int = MISSING
    activation: str = "relu"
    init: str = "auto"
    strict: bool = False
    # Layers differ in their fields; model/spec.py checks each one against its type.
    layers: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConf:
    name: str = MISSING
    channels: int = MISSING
    height: int = MISSING
    width: int = MISSING
    num_classes: int = MISSING


SCHEMAS: dict[str, type] = {"model": ModelConf, "data": DataConf}


def register_schemas() -> None:
    """Store each group's schema as `<group>/schema`; safe to call more than once."""
    store = ConfigStore.instance()
    for group, node in SCHEMAS.items():
        store.store(group=group, name="schema", node=node)
