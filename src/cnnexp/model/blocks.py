"""Blocks: small stacks with parameters, declared once under `model.blocks` and used as layers.

A block is data. Its layers are written as any stack, with `$name` where a parameter goes, or an expression of
parameters (`$filters * 4`, expressions.py: parsed, never eval'd); a use substitutes the values it gives, computes
the expressions and parses the result as a stack. The model's own `params` (a width multiplier) are parameters
of every block and of the model's layers. With
`repeat: N` a use is N instances in an nn.Sequential named 0 ... N−1 (torchvision's layer1.0, layer1.1), and
`first` gives the first instance other values (a ResNet stage whose first block has S=2 and a projection).
"""

from __future__ import annotations

import copy
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from torch import nn

from cnnexp.config import fields as fd
from cnnexp.errors import ConfigError
from cnnexp.model.expressions import evaluate, explained, is_expression, names, parse
from cnnexp.model.layers import LAYERS
from cnnexp.model.layers.base import Context, Follows, LayerSpec, Place, Row, Shape, Where
from cnnexp.model.layers.stack import Stack, build_stack, flow_stack, parse_stack, plan_stack

PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
USE_KEYS = ("type", "repeat", "first")
BLOCK_KEYS = ("params", "layers")
LARGEST_REPEAT = 1000


@dataclass(frozen=True)
class BlockDef:
    """A block as declared: its parameters with their defaults (None: each use gives it) and its layers."""

    name: str
    params: Mapping[str, Any]
    layers: Mapping[str, Any]  # as written, with `$name` where a parameter goes

    def use(self, raw: Mapping[str, Any], place: Place, ctx: Context) -> BlockUse:
        """The block used as the layer at `place`: its values substituted, each instance parsed."""
        if self.name in ctx.expanding:
            chain = " → ".join([*ctx.expanding, self.name])
            raise ConfigError(
                f"{place}: block {self.name} uses itself ({chain}); a block may use other blocks, not itself."
            )
        fd.no_unknown(raw, [*USE_KEYS, *self.params], str(place))
        repeat = None if "repeat" not in raw else fd.integer(1)(raw["repeat"], place.key("repeat"))
        if repeat is not None and repeat > LARGEST_REPEAT:
            raise ConfigError(f"{place.key('repeat')} must be at most {LARGEST_REPEAT}, got {repeat}.")
        first = {} if raw.get("first") is None else raw["first"]  # `first: []` is a mistake, not "nothing"
        if not isinstance(first, Mapping):
            raise ConfigError(
                f"{place.key('first')} must map parameters to the first repetition's values, e.g. {{S: 2}}; got {first!r}."
            )
        fd.no_unknown(first, self.params, place.key("first"))
        given = {str(k): v for k, v in raw.items() if k not in USE_KEYS}
        inner = replace(ctx, expanding=(*ctx.expanding, self.name))
        instances = tuple(self._instance(i, repeat, place, given, first, inner) for i in range(repeat or 1))
        ctx.used.add(self.name)
        return BlockUse(
            self.name, tuple(given.items()), repeat, tuple((str(k), v) for k, v in first.items()), instances
        )

    def _instance(self, i: int, repeat: int | None, place: Place, given: Mapping[str, Any], first: Mapping[str, Any],
                  ctx: Context) -> Stack:  # fmt: skip
        values, origins = {}, {}
        for param, default in self.params.items():
            if i == 0 and param in first:
                values[param], origins[param] = first[param], _origin(ctx, place, f"first.{param}")
            elif param in given:
                values[param], origins[param] = given[param], _origin(ctx, place, param)
            elif default is not None:
                values[param], origins[param] = default, f"model.blocks.{self.name}.params.{param}"
            else:
                only_first = "; `first` gives it to the first repetition only" if param in first else ""
                raise ConfigError(
                    f"{place}: block {self.name} needs `{param}`, which has no default{only_first}; "
                    f"e.g. `{place.name}: {{type: {self.name}, {param}: ...}}`."
                )
        where = Where.inside(place, None if repeat is None else str(i), f"block {self.name}")
        scope = {**ctx.params, **values}
        origins.update({name: f"model.params.{name}" for name in ctx.params if name not in values})
        layers = _substitute(self.layers, where.parent, lambda path, name: _found(ctx, path, origins[name], scope[name]),
                             lambda path, text: _computed(ctx, path, text, scope))  # fmt: skip
        return parse_stack(layers, where, ctx)

    def to_dict(self) -> dict[str, Any]:
        return {"params": copy.deepcopy(dict(self.params)), "layers": copy.deepcopy(dict(self.layers))}


def _origin(ctx: Context, place: Place, key: str) -> str:
    # A value the use itself got from an outer block's parameter names that outer use.
    path = f"{place.path}.{key}"
    return ctx.origins.get(path, path)


def _found(ctx: Context, path: str, origin: str, value: Any) -> Any:
    ctx.origins[path] = origin  # errors about this field name the use (or the default) that set it
    return copy.deepcopy(value)


def _computed(ctx: Context, path: str, text: str, scope: Mapping[str, Any]) -> int | float:
    result = evaluate(text, scope, path)
    ctx.origins[path] = f"computed as {explained(text, scope, result)}"  # errors about the field show the arithmetic
    return result


Visit = Callable[[str, str], Any]


def _substitute(value: Any, path: str, on_param: Visit, on_expression: Visit) -> Any:
    """`value` with each string `$name` replaced by on_param(its path, name), and each expression by
    on_expression(its path, text), all the way down."""
    if isinstance(value, str) and (match := PARAM.fullmatch(value)):
        return on_param(path, match.group(1))
    if is_expression(value):
        return on_expression(path, value)
    if isinstance(value, Mapping):
        return {k: _substitute(v, f"{path}.{k}", on_param, on_expression) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_substitute(v, f"{path}[{i}]", on_param, on_expression) for i, v in enumerate(value)]
    return value


def substitute_model_params(layers: Any, ctx: Context) -> Any:
    """The model's layers with its own parameters (`model.params`) and their expressions in place."""

    def unknown(path: str, name: str) -> Any:
        raise ConfigError(f"{path}: '${name}' is not a parameter of the model ({_declared(ctx.params, 'model.params')}); "
                          f"declare it, e.g. `model.params: {{{name}: 1.0}}`, or use it inside a block that declares it.")  # fmt: skip

    def whole(path: str, name: str) -> Any:
        return (
            _found(ctx, path, f"model.params.{name}", ctx.params[name]) if name in ctx.params else unknown(path, name)
        )

    def computed(path: str, text: str) -> Any:
        for name in names(parse(text, path)):
            if name not in ctx.params:
                unknown(path, name)
        return _computed(ctx, path, text, ctx.params)

    return _substitute(layers, "model.layers", whole, computed)


def _declared(params: Mapping[str, Any], where: str) -> str:
    return f"{where} declares {', '.join(params)}" if params else f"{where} declares none"


@dataclass(frozen=True)
class BlockUse(LayerSpec):
    """A layer that is a block: the values its use gives and the instances they make, parsed."""

    type_name = "block"
    block: str = ""
    given: tuple[tuple[str, Any], ...] = ()
    repeat: int | None = None  # None: one instance, its layers straight under the use's name
    first: tuple[tuple[str, Any], ...] = ()
    instances: tuple[Stack, ...] = ()

    def label(self) -> str:
        return f"block {self.block}"

    def _where(self, place: Place, i: int) -> Where:
        return Where.inside(place, None if self.repeat is None else str(i), f"block {self.block}")

    def plan(self, shape: Shape, place: Place, strict: bool, earlier: Mapping[str, Shape]) -> Row:
        rows: list[Row] = []
        start = shape
        for i, stack in enumerate(self.instances):
            inner = plan_stack(stack, shape, self._where(place, i), strict)
            if self.repeat is None:
                rows.extend(inner)
            else:
                copy_place = replace(place, index=i, name=str(i), module=f"{place.module_path}.{i}")
                rows.append(Row.group(copy_place, self.block, "", (shape, inner[-1].out_shape), inner))
            shape = inner[-1].out_shape
        geometry = "" if self.repeat is None else f"×{self.repeat}"
        return Row.group(place, self.block, geometry, (start, shape), tuple(rows))

    def _instance_rows(self, row: Row) -> list[tuple[Row, ...]]:
        return [row.children] if self.repeat is None else [r.children for r in row.children]

    def module(self, row: Row) -> nn.Module:
        built = [build_stack(stack, rows) for stack, rows in zip(self.instances, self._instance_rows(row))]
        return built[0] if self.repeat is None else nn.Sequential(OrderedDict((str(i), m) for i, m in enumerate(built)))

    def flow(self, pending: frozenset[str], row: Row, seen: Follows) -> frozenset[str]:
        for stack, rows in zip(self.instances, self._instance_rows(row)):
            pending = flow_stack(stack, rows, pending, seen)
        return pending

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.block, **copy.deepcopy(dict(self.given))}
        if self.repeat is not None:
            out["repeat"] = self.repeat
        if self.first:
            out["first"] = copy.deepcopy(dict(self.first))
        return out


def parse_blocks(raw: Any, model_params: Mapping[str, Any] = {}) -> dict[str, BlockDef]:  # noqa: B006  (read only)
    """`model.blocks`: each block checked as declared (its keys, parameters and `$` references); null removes one."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"model.blocks must map block names to blocks, e.g. {{stage: {{params: {{filters: null}}, layers: {{...}}}}}}; got {raw!r}."
        )
    return {str(name): _block(str(name), body, model_params) for name, body in raw.items() if body is not None}


def _block(name: str, body: Any, model_params: Mapping[str, Any]) -> BlockDef:
    where = f"model.blocks.{name}"
    if name in LAYERS:
        raise ConfigError(f"{where}: '{name}' is a layer type; give the block another name, e.g. '{name}_block'.")
    if not isinstance(body, Mapping):
        raise ConfigError(f"{where} must be a mapping with `layers` and, if it takes any, `params`; got {body!r}.")
    fd.no_unknown(body, BLOCK_KEYS, where)
    params, layers = {} if body.get("params") is None else body["params"], body.get("layers")
    if not isinstance(params, Mapping):
        raise ConfigError(
            f"{where}.params must map parameter names to defaults (null: each use gives it), e.g. {{filters: null, S: 1}}."
        )
    for param in params:
        if not isinstance(param, str) or not PARAM.fullmatch(f"${param}") or param in USE_KEYS:
            raise ConfigError(
                f"{where}.params: {param!r} cannot be a parameter; use a name of letters, digits and _ other than {', '.join(USE_KEYS)}."
            )
        if param in model_params:
            raise ConfigError(f"{where}.params: '{param}' is a parameter of the model (model.params.{param}), which every "
                              f"block sees as ${param}; give the block's parameter another name.")  # fmt: skip
    if not isinstance(layers, Mapping) or not layers:
        raise ConfigError(
            f"{where}.layers must be a non-empty mapping of named layers, e.g. {{conv: {{type: conv, filters: $filters, F: 3}}}}."
        )
    _check_references(name, params, layers, model_params)
    return BlockDef(name, dict(params), copy.deepcopy(dict(layers)))


def _check_references(
    name: str, params: Mapping[str, Any], layers: Mapping[str, Any], model_params: Mapping[str, Any]
) -> None:
    """Every `$name` is a parameter (the block's or the model's), every expression parses, and every parameter of the
    block is used: nothing a use gives is silently ignored."""
    used: set[str] = set()

    def visit(path: str, param: str) -> str:
        if param in model_params:
            return f"${param}"
        if param not in params:
            known = f"its parameters are {', '.join(params)}" if params else "it declares none"
            raise ConfigError(
                f"{path}: '${param}' is not a parameter of block {name} ({known}); declare it, e.g. "
                f"`model.blocks.{name}.params: {{{param}: null}}` (null: each use gives it)."
            )
        used.add(param)
        return f"${param}"

    _substitute(
        layers,
        f"model.blocks.{name}.layers",
        visit,
        lambda path, text: [visit(path, p) for p in names(parse(text, path))],
    )
    for param in params:
        if param not in used:
            raise ConfigError(
                f"model.blocks.{name}.params.{param}: no layer of block {name} uses `${param}`; use it or remove the "
                f"parameter (on the command line: ~model.blocks.{name}.params.{param})."
            )
