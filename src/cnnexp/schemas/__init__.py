"""Every config group's schema, registered in Hydra's ConfigStore so that a misspelled key or a wrong type in a
YAML file or an override fails at compose time.

Each schema is derived from the class that reads the group (cnnexp/config/groups.py `schema_of`) or from the class
the group configures (its constructor's arguments), never written a second time. The model's is the exception
that is written by hand, once: model/schema.py's ModelConf, from which parse_model takes its keys and defaults. They live in a group of their
own, `schema`, so they never show up as choices of the groups they check. conf/config.yaml puts the schema of
each cnnexp group (model, data, loss, trainer, kernels) under its group, so any YAML file of these groups,
a user's too, is checked without a line of its own; a preset of a `_target_` group names the schema of its
class: `defaults: [/schema/optimizer_adam@_here_, _self_]`, `/schema/logger_csv@csv`.

Composing a config (--help, shell completion, task=summary) must not import Lightning or torch, whose
classes the `_target_` groups configure. Their schemas therefore come from schemas/library.py, written by
`python -m cnnexp.schemas.generate` from the installed libraries, with their versions; when other versions
are installed, they are derived from the libraries themselves instead (a slower start, the same checks).
tests/test_schemas.py checks the file against the libraries.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from importlib import metadata
from typing import Any, Optional

from hydra.core.config_store import ConfigStore

from cnnexp.config.groups import schema_of
from cnnexp.data.spec import DataSpec
from cnnexp.model.schema import ModelConf
from cnnexp.viz.schema import KernelsSpec

Field = tuple[str, str, Any]  # (name, type as written in library.py, default; "???" = required)
# The field types a library schema may have, by the name library.py writes them with.
TYPES: dict[str, Any] = {
    "Any": Any, "str": str, "int": int, "float": float, "bool": bool,
    "Optional[int]": Optional[int], "Optional[str]": Optional[str], "Optional[float]": Optional[float],
    "Optional[bool]": Optional[bool],
}  # fmt: skip
LIBRARIES = ("torch", "pytorch-lightning")  # distributions whose classes library.py describes


def register_schemas() -> None:
    """Store every schema; safe to call more than once."""
    nodes: dict[str, type] = {
        "model": ModelConf,  # written by hand: model/schema.py says why
        "data": schema_of(DataSpec),
        "kernels": schema_of(KernelsSpec),
        **library_schemas(),
    }
    store = ConfigStore.instance()
    for name, node in nodes.items():
        store.store(group="schema", name=name, node=node)


def library_schemas() -> dict[str, type]:
    """The schemas of library classes: from library.py when it was made from the installed versions."""
    from cnnexp.schemas import library

    if library.VERSIONS == installed_versions():
        # library.py is generated data: a literal whose value types mypy cannot narrow.
        return {
            key: from_fields(name, typing.cast(list[Field], fields)) for key, (name, fields) in library.SCHEMAS.items()
        }
    from cnnexp.schemas.generate import live_schemas  # imports torch and Lightning

    return live_schemas()


def installed_versions() -> dict[str, str]:
    """Versions of the libraries whose classes the schemas describe, read from their metadata (no import)."""
    return {name: metadata.version(name) for name in LIBRARIES}


def from_fields(name: str, fields: list[Field]) -> type:
    """A dataclass schema from its fields as library.py writes them."""
    made = []
    for field_name, kind, default in fields:
        if isinstance(default, list):
            made.append((field_name, TYPES[kind], dataclasses.field(default_factory=_copier(default))))
        else:
            made.append((field_name, TYPES[kind], dataclasses.field(default=default)))
    return dataclasses.make_dataclass(name, made)


def _copier(default: list[Any]) -> Callable[[], list[Any]]:
    """A fresh copy of a list default for each config (dataclasses refuse a shared mutable default)."""
    return lambda: list(default)


def to_fields(schema: type) -> list[Field]:
    """The fields of a dataclass schema as plain data (what library.py stores)."""
    names = {value: key for key, value in TYPES.items()}
    hints = typing.get_type_hints(schema)
    fields = []
    for f in dataclasses.fields(schema):
        if hints[f.name] not in names:
            raise TypeError(f"{schema.__name__}.{f.name}: type {hints[f.name]} has no name in cnnexp.schemas.TYPES")
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        fields.append((f.name, names[hints[f.name]], default))
    return fields
