"""Fine-tuning: a new run that starts from trained weights (`init_from=`), with some layers frozen (`freeze=`).

init_from loads every tensor whose name and shape match this network, from a cnnexp checkpoint, a plain state
dict, or torchvision's ImageNet weights (checkpoint/twins.py); the rest keep their fresh initialisation, so a
head for another class count is re-initialised. It says which layers were loaded and which were not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from torch import Tensor, nn

from cnnexp.checkpoint.load import read_checkpoint
from cnnexp.checkpoint.twins import TORCHVISION, torchvision_weights
from cnnexp.config.fields import fmt_shape
from cnnexp.errors import ConfigError


@dataclass
class Loaded:
    """What init_from did, by layer (module path): loaded whole, or kept fresh and why."""

    source: str
    loaded: dict[str, int] = field(default_factory=dict)  # layer -> parameters loaded
    fresh: dict[str, str] = field(default_factory=dict)  # layer -> why it was not loaded
    unused: list[str] = field(default_factory=list)  # the source's layers with no place in this network

    def text(self) -> str:
        total = sum(self.loaded.values())
        head = f"init_from={self.source}: loaded {', '.join(self.loaded)} ({len(self.loaded)} layers, {total:,} parameters)"
        lines = [head]
        if self.fresh:
            lines.append(
                "  not loaded, freshly initialised: " + "; ".join(f"{k} ({why})" for k, why in self.fresh.items())
            )
        if self.unused:
            lines.append("  in the source but not in this network: " + ", ".join(self.unused))
        return "\n".join(lines)


def init_from(net: nn.Module, source: str, model: str, vouched: Mapping[str, str] | None = None) -> Loaded:
    """Load the tensors of `source` (a checkpoint file, or `torchvision`) that fit `net`, the network of `model`;
    `vouched`: the classes this command names, which the checkpoint's record may name too (checkpoint/load.py)."""
    if source == TORCHVISION:
        weights = torchvision_weights(model, list(net.state_dict()))
    else:
        weights = read_checkpoint(Path(source).expanduser(), "init_from", vouched).weights
    return load_matching(net, weights, source)


def load_matching(net: nn.Module, weights: Mapping[str, Tensor], source: str) -> Loaded:
    ours = net.state_dict()
    fits = {name: t for name, t in weights.items() if name in ours and tuple(t.shape) == tuple(ours[name].shape)}
    if not any(name in fits for name, _ in net.named_parameters()):
        sample = ", ".join(list(weights)[:3]) or "none"
        raise ConfigError(
            f"init_from={source}: none of its {len(weights)} tensors fits this network by name and shape (it holds "
            f"{sample}, ...; this network {', '.join(list(ours)[:3])}, ...); start from a checkpoint of a model with "
            f"the same layer names."
        )
    net.load_state_dict(fits, strict=False)
    report, params = Loaded(source), dict(net.named_parameters())
    for layer, names in _by_layer(ours).items():
        missing = [n for n in names if n not in fits]
        if not missing:
            report.loaded[layer] = sum(params[n].numel() for n in names if n in params)  # buffers are no parameters
        else:
            report.fresh[layer] = _why(missing[0], weights, ours)
    report.unused = [layer for layer in _by_layer(weights) if layer not in report.loaded and layer not in report.fresh]
    return report


def _why(name: str, weights: Mapping[str, Tensor], ours: Mapping[str, Tensor]) -> str:
    short = name.rsplit(".", 1)[-1]
    if name not in weights:
        return f"no {short} in the source"
    return f"{short} {fmt_shape(tuple(weights[name].shape))} in the source, {fmt_shape(tuple(ours[name].shape))} here"


def _by_layer(state: Mapping[str, Tensor]) -> dict[str, list[str]]:
    """Tensor names grouped by the module that holds them: conv1 -> [conv1.weight, conv1.bias]."""
    layers: dict[str, list[str]] = {}
    for name in state:
        layers.setdefault(name.rpartition(".")[0] or name, []).append(name)
    return layers


def freeze(net: nn.Module, patterns: Sequence[str], model: str) -> list[str]:
    """Switch off the gradients of every parameter inside a layer that one of `patterns` names (fnmatch: `conv*`,
    `layer1.*`); the frozen layers. A pattern that names no layer with weights is an error."""
    weighted = [name for name, module in net.named_modules() if name and _has_weights(module)]
    frozen = [layer for layer in weighted if any(_covers(layer, p) for p in patterns)]
    for pattern in patterns:
        if not any(_covers(layer, pattern) for layer in weighted):
            raise ConfigError(
                f"freeze: '{pattern}' names no layer with weights in model={model}; its layers with weights are "
                f"{', '.join(weighted)} (patterns as in fnmatch: conv*, layer1.*)."
            )
    for name, param in net.named_parameters():
        if name.rpartition(".")[0] in frozen:
            param.requires_grad_(False)
    return frozen


def _has_weights(module: nn.Module) -> bool:
    return next(module.parameters(recurse=False), None) is not None


def _covers(layer: str, pattern: str) -> bool:
    """`pattern` names `layer` itself or a layer that holds it (layer1 holds layer1.0.conv1)."""
    parts = layer.split(".")
    return any(fnmatchcase(".".join(parts[:i]), pattern) for i in range(1, len(parts) + 1))
