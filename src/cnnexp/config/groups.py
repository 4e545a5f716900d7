"""Config groups as frozen dataclasses, each declared once.

A group's dataclass is the typed value the code uses, and its fields carry their readers (cnnexp/config/fields.py),
as the layer types do. The same class gives Hydra its schema (`schema_of`), so a misspelled key or a wrong
type fails at compose time, and `read_group` turns the composed, resolved YAML into the frozen value with
every field checked, naming the key. `to_plain` is the way back to plain data (for checkpoints and files).
The model group is the one that reads its keys otherwise (model/schema.py says why).
"""

from __future__ import annotations

import copyreg
import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import MISSING

from cnnexp.config import fields as fd
from cnnexp.errors import ConfigError

T = TypeVar("T")
UNSET = "???"  # OmegaConf's mark for a mandatory value nobody gave

# dataclasses.MISSING ("no default") is pickled by name, so it stays the one sentinel in every process. The
# schema classes are made at run time, so a launcher's workers receive them by value with the config, and on
# reading a job's result cloudpickle writes the worker's copy of a class over the class this process holds: with
# a copy of the sentinel in every field, dataclasses and OmegaConf (which compare with it) would take "no default"
# for a default, and the next config composed in this process would fail (after a joblib sweep, for one).
copyreg.pickle(type(dataclasses.MISSING), lambda _: "MISSING")


def setting(read: fd.Reader, default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING) -> Any:
    """A group field with the reader that checks its YAML value; no default means the YAML must state it."""
    return dataclasses.field(default=default, default_factory=factory, metadata={"read": read})


def read_group(cls: type[T], raw: Any, where: str) -> T:
    """The frozen `cls` from a plain mapping: unknown keys refused, each field read by its reader.

    `where` is the group's key (`data`), or "" for the top-level keys of the main config."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping of its keys, got {raw!r}.")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    fd.no_unknown(raw, [f.name for f in fields], where or "config")
    values: dict[str, Any] = {}
    for f in fields:
        key = f"{where}.{f.name}" if where else f.name  # "" for the top-level keys: `seed`, not `.seed`
        if f.name in raw:
            values[f.name] = f.metadata["read"](raw[f.name], key)
        elif _required(f):
            raise ConfigError(f"{key} is missing; add `{f.name}: ...` to the {where or 'main'} config.")
    value = cls(**values)
    check = getattr(value, "check", None)
    if check is not None:
        check(where)  # cross-field checks, once every field has its type
    return value


def nested(cls: type[T]) -> fd.Reader:
    """Reader of a field that is itself a group (e.g. data.augment)."""

    def read(value: Any, where: str) -> T:
        return read_group(cls, value, where)

    return read


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def unset_keys(raw: Mapping[str, Any]) -> list[str]:
    """Keys a YAML left as ??? (the composed config resolved without throwing on them)."""
    return [str(key) for key, value in raw.items() if isinstance(value, str) and value == UNSET]


# --- the Hydra side: a mutable twin of the frozen class, with YAML-friendly types -------------------------


@functools.cache  # one schema class per group class: a nested group's default must be of its field's type
def schema_of(cls: type) -> type:
    """A non-frozen dataclass with the same keys, types and defaults, for Hydra's ConfigStore.

    Hydra refuses to override a frozen structured config, so the schema is derived, never written twice:
    Path becomes str, nested groups their own schema, fields without a default MISSING (`???`).
    """
    hints = typing.get_type_hints(cls)
    made = []
    for f in dataclasses.fields(cls):
        kind = _yaml_type(hints[f.name])
        if f.default_factory is not dataclasses.MISSING:
            fresh = lambda make=f.default_factory: _schema_default(make())  # noqa: E731 (a new one per config)
            made.append((f.name, kind, dataclasses.field(default_factory=fresh)))
        else:
            default = MISSING if f.default is dataclasses.MISSING else _schema_default(f.default)
            made.append((f.name, kind, dataclasses.field(default=default)))
    return dataclasses.make_dataclass(f"{cls.__name__}Conf", made)


def _yaml_type(hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Path:
        return str
    if dataclasses.is_dataclass(hint):
        return schema_of(hint)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return typing.Optional[_yaml_type(inner[0])] if len(inner) == 1 else Any
    if origin is tuple and args:
        return typing.List[_yaml_type(args[0])]  # type: ignore[misc]  # noqa: UP006 (OmegaConf reads typing.List)
    if origin in (dict, Mapping):
        return typing.Dict[str, Any]  # noqa: UP006 (OmegaConf reads typing.Dict)
    return hint if hint in (int, float, bool, str) else Any


def _schema_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # an instance, not a dataclass itself
        return schema_of(type(value))(**{k: _schema_default(v) for k, v in to_plain(value).items()})
    return to_plain(value)


def to_plain(value: Any) -> Any:
    """Dataclasses, paths and tuples as plain YAML/JSON data (dicts, lists, str, numbers, bools, None)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
