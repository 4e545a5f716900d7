"""A model declaration as typed data: read once from the config at the edge, used everywhere after.

The keys of `model` and their defaults are ModelConf's fields (model/schema.py, also Hydra's schema), so they
are written once (model/schema.py says why this group has a reader of its own, not config/groups.py's
`read_group`). `ModelSpec.to_dict()` gives the declaration back as plain data that parses to an equal spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cnnexp.config import fields as fd
from cnnexp.errors import ConfigError
from cnnexp.model.activations import ACTIVATIONS
from cnnexp.model.blocks import PARAM, BlockDef, parse_blocks, substitute_model_params
from cnnexp.model.init import INITS
from cnnexp.model.layers.base import Context, Where
from cnnexp.model.layers.stack import Stack, parse_stack, stack_to_dict
from cnnexp.model.schema import INPUT_KEYS, MODEL_KEYS, ModelConf, default_of


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_shape: tuple[int, int, int]  # C, H, W
    num_classes: int
    activation: str
    layers: Stack
    init: str = ModelConf.init
    strict: bool = ModelConf.strict
    blocks: tuple[BlockDef, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()  # model.params, in order

    def to_dict(self) -> dict[str, Any]:
        """Plain data (dicts, lists, str, int, float, bool, None) that parse_model turns back into this spec."""
        data: dict[str, Any] = {
            "name": self.name,
            "input": dict(zip(INPUT_KEYS, self.input_shape)),
            "num_classes": self.num_classes,
            "activation": self.activation,
            "init": self.init,
            "strict": self.strict,
            "params": dict(self.params),
            "blocks": {block.name: block.to_dict() for block in self.blocks},
            "layers": stack_to_dict(self.layers),
        }
        return {key: data[key] for key in MODEL_KEYS}


def parse_model(cfg: Mapping[str, Any]) -> ModelSpec:
    """Check and type a `model` config (a plain mapping, interpolations resolved)."""
    fd.no_unknown(cfg, MODEL_KEYS, "model")

    def get(key: str) -> Any:
        return cfg[key] if key in cfg else default_of(key)

    activation = ACTIVATIONS.canonical(fd.text(get("activation"), "model.activation"), "model.activation")
    init = INITS.canonical(fd.text(get("init"), "model.init"), "model.init")
    shape = _input_shape(get("input"))
    params = _params(get("params"))
    blocks = parse_blocks(get("blocks"), params)
    ctx = Context(activation, blocks, params=params)
    layers = parse_stack(substitute_model_params(get("layers"), ctx), Where(origins=ctx.origins), ctx)
    ctx.depth.final = ctx.depth.count  # every scheduled drop_path layer is counted: their rates are fixed
    for name in blocks:
        if name not in ctx.used:
            raise ConfigError(
                f"model.blocks.{name}: no layer uses this block; use it as a layer (`{{type: {name}, ...}}`) or remove it."
            )
    return ModelSpec(
        name=fd.text(get("name"), "model.name"),
        input_shape=shape,
        num_classes=fd.integer(1)(get("num_classes"), "model.num_classes"),
        activation=activation,
        layers=layers,
        init=init,
        strict=fd.boolean(get("strict"), "model.strict"),
        blocks=tuple(blocks.values()),
        params=tuple(params.items()),
    )


def _params(raw: Any) -> dict[str, Any]:
    """model.params: names (as block parameters are named) to numbers."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"model.params must map names to numbers, e.g. {{width: 1.0}}; got {raw!r}.")
    for name, value in raw.items():
        if not isinstance(name, str) or not PARAM.fullmatch(f"${name}"):
            raise ConfigError(f"model.params: {name!r} cannot be a parameter; use a name of letters, digits and _.")
        fd.number(-fd.LARGEST_INT)(value, f"model.params.{name}")
    return dict(raw)


def _input_shape(raw: Any) -> tuple[int, int, int]:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "model.input must give channels, height and width, e.g. {channels: 1, height: 28, width: 28}."
        )
    fd.no_unknown(raw, INPUT_KEYS, "model.input")
    return tuple(fd.integer(1)(raw.get(k), f"model.input.{k}") for k in INPUT_KEYS)
