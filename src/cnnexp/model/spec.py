"""A model declaration as typed data: read once from the config at the edge, used everywhere after."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from cnnexp.errors import ConfigError, closest
from cnnexp import fields as fd
from cnnexp.model.activations import ACTIVATIONS
from cnnexp.model.init import INIT_SCHEMES
from cnnexp.model.layers import LAYERS, LayerSpec, Place

MODEL_KEYS = ("name", "input", "num_classes", "activation", "init", "strict", "layers")
INPUT_KEYS = ("channels", "height", "width")
# Layer names become nn.Sequential children (net.conv1, state-dict key conv1.weight): add_module refuses a name
# that is empty, contains '.', or is already an attribute of the Sequential (forward, training, pop, ...).
RESERVED_NAMES = frozenset(dir(nn.Sequential()))


@dataclass(frozen=True)
class ModelSpec:
    name: str
    input_shape: tuple[int, int, int]  # C, H, W
    num_classes: int
    activation: str
    layers: tuple[tuple[str, LayerSpec], ...]
    init: str = "auto"
    strict: bool = False


def parse_model(cfg: Mapping[str, Any]) -> ModelSpec:
    """Check and type a `model` config (a plain mapping, interpolations resolved)."""
    fd.no_unknown(cfg, MODEL_KEYS, "model")
    shape = _input_shape(cfg.get("input"))
    activation = ACTIVATIONS.canonical(fd.text(cfg.get("activation", "relu"), "model.activation"), "model.activation")
    init = fd.text(cfg.get("init", "auto"), "model.init")
    if init not in INIT_SCHEMES:
        raise ConfigError(f"model.init: unknown scheme '{init}'.{closest(init, INIT_SCHEMES)} Known: {', '.join(INIT_SCHEMES)}.")
    return ModelSpec(
        name=fd.text(cfg.get("name", "model"), "model.name"),
        input_shape=shape,
        num_classes=fd.integer(1)(cfg.get("num_classes"), "model.num_classes"),
        activation=activation,
        layers=parse_layers(cfg.get("layers")),
        init=init,
        strict=fd.boolean(cfg.get("strict", False), "model.strict"),
    )


def parse_layers(raw: Any) -> tuple[tuple[str, LayerSpec], ...]:
    # A layer set to null (`model.layers.drop1=null`) is removed: the override form of deleting a layer.
    # Checked after the removal: a stack whose every layer is null has nothing to plan or build.
    named = [(str(name), layer) for name, layer in raw.items() if layer is not None] if isinstance(raw, Mapping) else []
    if not named:
        raise ConfigError(
            "model.layers must be a non-empty mapping of named layers (a layer set to null is removed), e.g. "
            "`layers: {conv1: {type: conv, filters: 6, F: 5}, ...}`."
        )
    for i, (name, _) in enumerate(named):
        _check_name(name, i, [n for n, _ in named[:i]])
    return tuple((name, parse_layer(layer, Place(i, name))) for i, (name, layer) in enumerate(named))


def _check_name(name: str, index: int, before: list[str]) -> None:
    if name in before:  # YAML keys 1 and '1' are two keys, but one name
        raise ConfigError(f"model.layers: layers {before.index(name)} and {index} are both named '{name}'; rename one.")
    why = ("is empty" if not name else "contains '.', which separates the keys of the state dict" if "." in name
           else "is taken by PyTorch's nn.Sequential, which holds the layers" if name in RESERVED_NAMES else "")  # fmt: skip
    if why:
        fix = name.replace(".", "_") if "." in name else f"{name or 'layer'}{index}"
        raise ConfigError(f"model.layers: the name {name!r} of layer {index} {why}; rename it, e.g. '{fix}'.")


def parse_layer(raw: Any, place: Place) -> LayerSpec:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{place}: a layer is a mapping such as {{type: conv, filters: 6, F: 5}}, got {raw!r}.")
    if "type" not in raw:
        raise ConfigError(f"{place}: no 'type'. Known layer types: {', '.join(sorted(LAYERS.names()))}.")
    kind = fd.text(raw["type"], place.key("type"))
    cls = LAYERS.get(kind, str(place))
    return cls.parse(raw, Place(place.index, place.name, cls.type_name))


def _input_shape(raw: Any) -> tuple[int, int, int]:
    if not isinstance(raw, Mapping):
        raise ConfigError("model.input must give channels, height and width, e.g. {channels: 1, height: 28, width: 28}.")
    fd.no_unknown(raw, INPUT_KEYS, "model.input")
    return tuple(fd.integer(1)(raw.get(k), f"model.input.{k}") for k in INPUT_KEYS)  # type: ignore[return-value]
