"""What every layer type of the stack language shares: its place, its parsing, its figures, its summary row."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import nn

from cnnexp.config.fields import fmt_shape
from cnnexp.config.registry import Registry
from cnnexp.errors import ConfigError, closest
from cnnexp.model.others import torch_operations
from cnnexp.model.schema import ModelConf

Shape = tuple[int, ...]  # (C, H, W) for feature maps, (D,) for flat features; never the batch


@dataclass(frozen=True)
class Place:
    """Where a layer sits: its index in its stack, its YAML name and type, and, when nested, the stack's place.

    `parent` is the config path of the stack holding the layer (model.layers, or model.layers.layer2.0 inside
    a block used as layer2), `scope` says which stack that is ("block basic", "branch b1"), `module` is the
    layer's name in the built network and `origins` maps a field's path to the block parameter that set it.
    """

    index: int | None
    name: str
    type: str = "?"
    parent: str = field(default="model.layers", kw_only=True)
    scope: str = field(default="", kw_only=True)
    module: str = field(default="", kw_only=True)
    origins: Mapping[str, str] = field(default_factory=dict, kw_only=True, compare=False, repr=False)

    @property
    def path(self) -> str:
        return f"{self.parent}.{self.name}"

    @property
    def module_path(self) -> str:
        return self.module or self.name

    def _where(self) -> str:
        if self.index is None:
            return self.scope
        return f"layer {self.index} of {self.scope}" if self.scope else f"layer {self.index}"

    @property
    def origin(self) -> str:
        """The block parameter that gave this whole layer (`add: $residual`), or ''."""
        return self.origins.get(self.path, "")

    def __str__(self) -> str:
        return f"{self.path} ({self._where()}, {self.type}{_by(self.origin)})"

    def key(self, field: str) -> str:
        key = f"{self.path}.{field}"
        return f"{key} ({self._where()}, {self.type}{_by(self.origins.get(key, ''))})"

    def computed(self, field: str) -> bool:
        """Whether the value of `field` is an expression's (errors about it then show the arithmetic)."""
        return self.origins.get(f"{self.path}.{field}", "").startswith(COMPUTED)


COMPUTED = "computed as "  # how an origin that is an expression begins (blocks.py writes it)


def _by(origin: str) -> str:
    return "" if not origin else f"; {origin}" if origin.startswith(COMPUTED) else f"; set by {origin}"


@dataclass(frozen=True)
class Where:
    """A stack's position: the config path its layers are named under, their module prefix, which stack it is."""

    parent: str = "model.layers"
    module: str = ""
    scope: str = ""
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def place(self, index: int, name: str, type: str = "?") -> Place:
        module = f"{self.module}.{name}" if self.module else name
        return Place(index, name, type, parent=self.parent, scope=self.scope, module=module, origins=self.origins)

    @staticmethod
    def inside(place: Place, name: str | None, scope: str) -> Where:
        """The stack held by the layer at `place` (under its sub-key `name`, if any)."""
        suffix = f".{name}" if name is not None else ""
        return Where(place.path + suffix, place.module_path + suffix, scope, place.origins)


@dataclass
class Depth:
    """The scheduled drop_path layers of a model: counted while it is parsed, their total fixed once it is."""

    count: int = 0
    final: int | None = None

    @property
    def total(self) -> int:
        return self.count if self.final is None else self.final


@dataclass(frozen=True)
class Context:
    """What parsing a layer needs beyond its own mapping: the model's activation and its blocks."""

    activation: str = ModelConf.activation
    blocks: Mapping[str, Any] = field(default_factory=dict)  # name -> model.blocks.BlockDef
    expanding: tuple[str, ...] = ()  # the blocks being expanded, outermost first: a block may not use itself
    used: set[str] = field(default_factory=set)  # blocks some layer uses: an unused one is a key nobody reads
    origins: dict[str, str] = field(default_factory=dict)  # field path -> the block parameter that set it
    size: list[int] = field(default_factory=lambda: [0])  # layers parsed so far, blocks expanded
    depth: Depth = field(default_factory=Depth)  # drop_path layers whose rate follows a schedule over depth
    params: Mapping[str, Any] = field(default_factory=dict)  # model.params: every block's parameters too


@dataclass(frozen=True)
class Inferred:
    """A layer's figures, known before any weight exists."""

    out: Shape
    params: int = 0
    trainable: int = 0
    macs: int = 0
    note: str = ""
    activation: str = ""  # an activation layer: the function it applies


@dataclass(frozen=True)
class Row:
    """One line of the summary: a layer, or a group (a block, a branch, a shortcut) with its subtree's totals."""

    index: int | None
    name: str
    type: str
    geometry: str
    in_shape: Shape
    out_shape: Shape
    params: int
    trainable: int
    macs: int
    note: str = ""
    path: str = ""  # the module's name in the built network: layer2.0.conv1
    activation: str = ""  # activation layer: its function; conv/linear: the activation its output reaches
    weighted: bool = False  # a conv or linear layer, whose weight init suits `activation`
    children: tuple[Row, ...] = ()

    @classmethod
    def group(
        cls, place: Place, type: str, geometry: str, shapes: tuple[Shape, Shape], children: tuple[Row, ...]
    ) -> Row:
        return cls(
            place.index, place.name, type, geometry, shapes[0], shapes[1], sum(r.params for r in children),
            sum(r.trainable for r in children), sum(r.macs for r in children), path=place.module_path, children=children,
        )  # fmt: skip

    def walk(self, depth: int = 0) -> Iterator[tuple[int, Row]]:
        """This row and every row below it, depth first, with its depth."""
        yield depth, self
        for child in self.children:
            yield from child.walk(depth + 1)


class Follows:
    """Which activation each conv/linear layer's output reaches first, by module path, collected along the flow."""

    def __init__(self) -> None:
        self._reached: dict[str, set[str]] = {}

    def close(self, pending: frozenset[str], activation: str) -> None:
        for path in pending:
            self._reached.setdefault(path, set()).add(activation)

    def result(self) -> dict[str, str]:
        # Paths that reach different activations (parallel branches) get none: the linear gain.
        return {path: next(iter(acts)) if len(acts) == 1 else "identity" for path, acts in self._reached.items()}


def _read(f: dataclasses.Field, value: Any, place: Place, key: str) -> Any:
    try:
        return f.metadata["read"](value, place.key(key))
    except ConfigError:
        if place.computed(key) and isinstance(value, float) and not value.is_integer():
            raise ConfigError(
                f"{place.key(key)} must be a whole number, but its expression gives {value!r}; round it there: "
                f"round(...), floor(...), or make_divisible(..., 8) as torchvision rounds channel counts."
            ) from None
        raise


def spec_field(read: Any, default: Any = None, alias: str | None = None, required: bool = False) -> Any:
    """A layer field with its reader; `alias` is the lecture's letter (F, S, P) or another accepted name."""
    return dataclasses.field(default=default, metadata={"read": read, "alias": alias, "required": required})


def derived(default: Any) -> Any:
    """A field the parser fills from more than the layer's own YAML (the model's activation, nested stacks)."""
    return dataclasses.field(default=default, metadata={"derived": True})


def yaml_value(value: Any) -> Any:
    """A spec value as YAML data: tuples become lists, all the way down."""
    if isinstance(value, (tuple, list)):
        return [yaml_value(v) for v in value]
    return value


class LayerSpec:
    """Base of the layer types: parse a YAML mapping, infer shapes and counts, build the nn.Module."""

    type_name: ClassVar[str] = "?"
    weighted: ClassVar[bool] = False  # conv and linear: their weight init suits the activation they feed
    joins: ClassVar[str] = "add"  # a layer that takes an earlier value (adds_from): add it, or multiply by it ("mul")

    @classmethod
    def parse(cls, raw: Mapping[str, Any], place: Place, ctx: Context | None = None) -> LayerSpec:
        fields = {f.name: f for f in cls.yaml_fields()}
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
            values[name] = _read(fields[name], value, place, str(key))
        for name, f in fields.items():
            if f.metadata.get("required") and name not in values:
                raise ConfigError(f"{place}: '{f.metadata.get('alias') or name}' is required. {cls.example()}")
        spec = cls(**values)
        spec.check(place)
        return spec

    @classmethod
    def yaml_fields(cls) -> list[dataclasses.Field]:
        """The fields a YAML mapping sets (not those the parser derives)."""
        return [f for f in dataclasses.fields(cls) if "read" in f.metadata]  # type: ignore[arg-type]

    @classmethod
    def field_list(cls) -> str:
        return ", ".join(
            f"{f.name} (or {f.metadata['alias']})" if f.metadata.get("alias") else f.name for f in cls.yaml_fields()
        )

    @classmethod
    def example(cls) -> str:
        return ""

    def check(self, place: Place) -> None:
        """Cross-field checks that need no input shape."""

    def in_stack(self, later: Sequence[LayerSpec]) -> LayerSpec:
        """This layer, knowing the layers after it in its stack (drop_path: whether a shortcut follows)."""
        return self

    def infer(self, shape: Shape, place: Place, strict: bool) -> Inferred:
        raise NotImplementedError

    def build(self, shape: Shape) -> nn.Module:
        raise NotImplementedError

    def geometry(self) -> str:
        """The F/S/P column of the summary table."""
        return ""

    def refit(self, size: tuple[int, int], want: tuple[int, int]) -> str:
        """For a sliding window: the P or S that would turn an H×W input `size` into `want`, e.g. 'P=1'; else ''."""
        return ""

    def label(self) -> str:
        """What error messages call this layer after its index: its type, or the block it uses."""
        return self.type_name

    # The graph-level steps. A plain layer is one row and one module; blocks, branches and shortcuts override.

    def plan(self, shape: Shape, place: Place, strict: bool, earlier: Mapping[str, Shape]) -> Row:
        """This layer's row on input `shape`; `earlier` holds the shapes before it in its stack, by name."""
        info = self.infer(shape, place, strict)
        return Row(place.index, place.name, self.type_name, self.geometry(), shape, info.out, info.params,
                   info.trainable, info.macs, info.note, place.module_path, info.activation, self.weighted)  # fmt: skip

    def module(self, row: Row) -> nn.Module:
        return self.build(row.in_shape)

    def flow(self, pending: frozenset[str], row: Row, seen: Follows) -> frozenset[str]:
        """Pass on the conv/linear layers whose output has not yet reached an activation (by module path)."""
        if self.weighted:
            seen.close(pending, "identity")  # another weight layer first: no activation between them
            return frozenset({row.path})
        return pending

    def adds_from(self) -> str | None:
        """For a shortcut or a gate: the point of its stack whose output it takes ('input' or an earlier layer)."""
        return None

    def to_dict(self) -> dict[str, Any]:
        """This layer as YAML data that parses back to an equal spec: its type and every field not at default."""
        out: dict[str, Any] = {"type": self.type_name}
        for f in self.yaml_fields():
            value = getattr(self, f.name)
            if value != f.default:
                out[f.name] = yaml_value(value)
        return out


LAYERS: Registry[type[LayerSpec]] = Registry("layer type", others=torch_operations)


def need_map(shape: Shape, place: Place) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ConfigError(
            f"{place}: needs a feature map C×H×W but its input is {len(shape)}-D ({fmt_shape(shape)} features); "
            f"move it before the flatten layer."
        )
    return shape


def need_flat(shape: Shape, place: Place) -> int:
    if len(shape) != 1:
        raise ConfigError(
            f"{place}: needs flat features but its input is a {fmt_shape(shape)} feature map; "
            f"add a flatten layer before it (e.g. `flatten: {{type: flatten}}`), or an adaptive_avgpool first."
        )
    return shape[0]
