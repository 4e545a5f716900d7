"""Where a config may name a class to build: `_target_` only in the groups that instantiate one; and which
classes a run read from a file (a checkpoint's record) may name.

Hydra's `instantiate` imports and calls whatever `_target_` names. cnnexp calls it for the optimizer,
scheduler, callbacks and logger groups only (and Hydra itself for `hydra.*`: launcher, sweeper, callbacks),
so a `_target_` anywhere else would either be ignored silently or, worse, be instantiated by code written
later that walks the config. It is refused before any task runs, naming the key and where targets belong.

The command line and the user's own configs are trusted, as in any Hydra tool. A file is not: a record's
classes are looked up by name among those cnnexp knows (`known_classes`), before anything imports them, and
anything else ends the run with one paragraph. The exception is a class this command names itself at the same
key (`vouched`): the user's own callback, given again for the run that reads the checkpoint.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cnnexp.errors import ConfigError

INSTANTIATE_GROUPS = ("optimizer", "scheduler", "callbacks", "logger")
TARGET = "_target_"
# The keys by which Hydra's instantiate builds or calls something; cnnexp writes only _target_ and _partial_,
# and only at the top of a group's entry.
HYDRA_KEYS = (TARGET, "_partial_", "_args_", "_recursive_", "_convert_")
KINDS = {
    "optimizer": ("torch.optim optimizer", "torch.optim's optimizers"),
    "scheduler": ("torch.optim.lr_scheduler scheduler", "torch.optim.lr_scheduler's schedulers"),
    "callbacks": ("Lightning or cnnexp callback", "Lightning's callbacks and cnnexp's presets"),
    "logger": ("Lightning logger", "Lightning's loggers"),
}
# Classes that no YAML can configure (they take functions or other schedulers), and abstract bases.
UNCONFIGURABLE = {
    "Optimizer", "LRScheduler", "_LRScheduler", "LambdaLR", "MultiplicativeLR", "SequentialLR", "ChainedScheduler",
    "Callback", "Checkpoint", "ProgressBar", "BaseFinetuning", "BasePredictionWriter", "LambdaCallback", "Logger",
}  # fmt: skip
PLAIN_NAME = re.compile(r"\w[\w.+-]{0,119}")  # a dotted name, a version: shown as it is


class UntrustedRecord(ConfigError):
    """A run read from a file names a class cnnexp does not know, or holds what cnnexp never writes there."""


def check_targets(cfg: DictConfig) -> None:
    """Raise a ConfigError for the first `_target_` outside INSTANTIATE_GROUPS (the `hydra` node excepted)."""
    tree = OmegaConf.to_container(cfg, resolve=False)  # interpolations stay unresolved: only keys matter here
    assert isinstance(tree, dict)
    for group, node in tree.items():
        if group in INSTANTIATE_GROUPS or group == "hydra":
            continue
        for path in _targets(node, str(group)):
            raise ConfigError(
                f"{path} is not allowed: only {', '.join(INSTANTIATE_GROUPS)} (and the launcher, through "
                f"`launcher=`) may name a class to build; remove `{path}` from the config or the command line."
            )


def _targets(node: Any, path: str) -> Iterator[str]:
    """Dotted keys of every `_target_` under `node`."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            where = f"{path}.{key}"
            if key == TARGET:
                yield where
            yield from _targets(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _targets(value, f"{path}[{i}]")


def check_recorded(tree: Mapping[str, Any], where: str, vouched: Mapping[str, str]) -> None:
    """A run read from a file (`where`: the setting that named it) is plain data, and every class it names is one
    cnnexp knows or the one this command names at the same key (`vouched`): checked on the names alone, before
    anything imports them."""
    if not isinstance(tree, Mapping):
        return  # not a run at all: its reader says so
    problem = next(_record_problems(tree, vouched), None)
    if problem is not None:
        raise UntrustedRecord(f"{where}: its run record {problem}")


def _record_problems(tree: Mapping[str, Any], vouched: Mapping[str, str]) -> Iterator[str]:
    edited = "the file was edited or written by another program. Use a checkpoint you trust."
    for path, value in _not_plain(tree, ""):
        kind = type(value).__name__
        yield f"holds a {kind} at {path}, where cnnexp writes plain values (text, numbers, lists, mappings): {edited}"
    for group, node in tree.items():
        if group not in INSTANTIATE_GROUPS:
            for path in _targets(node, str(group)):
                yield f"sets {path}, where cnnexp builds no class and never writes one: {edited}"
    for key, node in _entries(tree):
        target, group = node.get(TARGET), key.split(".", 1)[0]
        if isinstance(target, str) and target not in known_classes(group) and vouched.get(key) != target:
            kind, known = KINDS[group]
            yield (
                f"names {key}._target_={shown(target)}, which is not a {kind} cnnexp knows. A checkpoint's record is "
                f"data: cnnexp imports and calls nothing a file names, only the classes it knows ({known}). If you "
                f"trained this run with a class of your own at {key}, give this command that class as you did for "
                f"training; otherwise use a checkpoint you trust."
            )
        for path in _hydra_keys(node, key, top=True):
            yield f"sets {path}, a key by which Hydra's instantiate would build or call something: {edited}"


def named_targets(tree: Mapping[str, Any]) -> dict[str, str]:
    """Each class a run's plain tree (`Run.to_dict()`) names, by key: optimizer, scheduler, callbacks.NAME,
    logger.NAME."""
    return {key: node[TARGET] for key, node in _entries(tree) if isinstance(node.get(TARGET), str)}


def _entries(tree: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(key, entry) for each class-naming entry of the instantiate groups, keyed as their readers name them."""
    for group in ("optimizer", "scheduler"):
        if isinstance(tree.get(group), Mapping):
            yield group, tree[group]
    for group in ("callbacks", "logger"):
        node = tree.get(group)
        if not isinstance(node, Mapping):
            continue
        if TARGET in node:  # one logger written flat (train/logger.py)
            yield group, node
            continue
        yield from ((f"{group}.{name}", entry) for name, entry in node.items() if isinstance(entry, Mapping))


def _not_plain(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for each value under `node` that is no plain data (a tensor, bytes, ...)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str):
                yield f"{where} (as a key)", key
            yield from _not_plain(value, where)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _not_plain(value, f"{path}[{i}]")
    elif not isinstance(node, (str, int, float, bool, type(None))):
        yield path, node


def _hydra_keys(node: Any, path: str, top: bool = False) -> Iterator[str]:
    """Dotted keys of Hydra's special keys under `node` (its own _target_ and _partial_ excepted at the `top`)."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            where = f"{path}.{key}"
            if key in HYDRA_KEYS and not (top and key in (TARGET, "_partial_")):
                yield where
            yield from _hydra_keys(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _hydra_keys(value, f"{path}[{i}]")


@functools.cache
def known_classes(group: str) -> frozenset[str]:
    """The dotted names a file may use in `group`: torch's optimizers and schedulers, Lightning's callbacks and
    loggers, cnnexp's presets. Each under its public name and its defining module's (torch.optim.adam.Adam)."""
    import pytorch_lightning.callbacks as callbacks
    import pytorch_lightning.loggers as loggers
    import torch.optim
    import torch.optim.lr_scheduler as schedulers

    from cnnexp.train.callbacks import PRESET_CLASSES as CALLBACK_PRESETS
    from cnnexp.train.logger import PRESET_CLASSES as LOGGER_PRESETS

    found = {
        "optimizer": _public(torch.optim, torch.optim.Optimizer),
        "scheduler": _public(schedulers, (schedulers.LRScheduler, schedulers.ReduceLROnPlateau)),
        "callbacks": _public(callbacks, callbacks.Callback) | set(CALLBACK_PRESETS.values()),
        "logger": _public(loggers, loggers.Logger) | set(LOGGER_PRESETS.values()),
    }
    return frozenset(found[group])


def _public(module: ModuleType, base: type | tuple[type, ...]) -> set[str]:
    names = set()
    for name, cls in vars(module).items():
        if inspect.isclass(cls) and issubclass(cls, base) and not name.startswith("_") and name not in UNCONFIGURABLE:
            names |= {f"{module.__name__}.{name}", f"{cls.__module__}.{cls.__qualname__}"}
    return names


def shown(value: Any) -> str:
    """A value read from a file, as a message shows it: a dotted name as it is, anything else quoted and cut."""
    if isinstance(value, str) and PLAIN_NAME.fullmatch(value):
        return value
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
