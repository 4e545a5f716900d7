"""What every layer type of the stack language shares: its place, its parsing, its inferred figures."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import nn

from cnnexp.errors import ConfigError, closest
from cnnexp.fields import fmt_shape
from cnnexp.registry import Registry

Shape = tuple[int, ...]  # (C, H, W) for feature maps, (D,) for flat features; never the batch


@dataclass(frozen=True)
class Place:
    """Where a layer sits: its index in the built nn.Sequential, its YAML name and type."""

    index: int
    name: str
    type: str = "?"

    def __str__(self) -> str:
        return f"model.layers.{self.name} (layer {self.index}, {self.type})"

    def key(self, field: str) -> str:
        return f"model.layers.{self.name}.{field} (layer {self.index}, {self.type})"


@dataclass(frozen=True)
class Inferred:
    """A layer's figures, known before any weight exists."""

    out: Shape
    params: int = 0
    trainable: int = 0
    macs: int = 0
    note: str = ""


def spec_field(read: Any, default: Any = None, alias: str | None = None, required: bool = False) -> Any:
    """A layer field with its reader; `alias` is the lecture's letter (F, S, P) or another accepted name."""
    return dataclasses.field(default=default, metadata={"read": read, "alias": alias, "required": required})


class LayerSpec:
    """Base of the layer types: parse a YAML mapping, infer shapes and counts, build the nn.Module."""

    type_name: ClassVar[str] = "?"

    @classmethod
    def parse(cls, raw: Mapping[str, Any], place: Place) -> LayerSpec:
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        aliases = {f.metadata["alias"]: f.name for f in fields.values() if f.metadata.get("alias")}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "type":
                continue
            name = aliases.get(key, key)
            if name not in fields:
                # str(): YAML keys may be numbers (`{type: conv, 3: 5}`), and difflib only compares strings.
                raise ConfigError(
                    f"{place}: unknown field '{key}'.{closest(str(key), [*fields, *aliases])} "
                    f"A {cls.type_name} layer takes: {cls.field_list()}."
                )
            if name in values:
                raise ConfigError(f"{place}: '{key}' and its other name are both given; keep one.")
            values[name] = fields[name].metadata["read"](value, place.key(key))
        for name, f in fields.items():
            if f.metadata.get("required") and name not in values:
                raise ConfigError(f"{place}: '{f.metadata.get('alias') or name}' is required. {cls.example()}")
        spec = cls(**values)
        spec.check(place)
        return spec

    @classmethod
    def field_list(cls) -> str:
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        return ", ".join(f"{f.name} (or {f.metadata['alias']})" if f.metadata.get("alias") else f.name for f in fields)

    @classmethod
    def example(cls) -> str:
        return ""

    def check(self, place: Place) -> None:
        """Cross-field checks that need no input shape."""

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        raise NotImplementedError

    def build(self, shape: Shape, activation: str) -> nn.Module:
        raise NotImplementedError

    def geometry(self) -> str:
        """The F/S/P column of the summary table."""
        return ""


LAYERS: Registry[type[LayerSpec]] = Registry("layer type")


def need_map(shape: Shape, place: Place) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ConfigError(
            f"{place}: needs a feature map C×H×W but its input is {len(shape)}-D ({fmt_shape(shape)} features); "
            f"move it before the flatten layer."
        )
    return shape  # type: ignore[return-value]


def need_flat(shape: Shape, place: Place) -> int:
    if len(shape) != 1:
        raise ConfigError(
            f"{place}: needs flat features but its input is a {fmt_shape(shape)} feature map; "
            f"add a flatten layer before it (e.g. `flatten: {{type: flatten}}`), or an adaptive_avgpool first."
        )
    return shape[0]
