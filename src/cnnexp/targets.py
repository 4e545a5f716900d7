"""Where a config may name a class to build: `_target_` only in the groups that instantiate one.

Hydra's `instantiate` imports and calls whatever `_target_` names. cnnexp calls it for the optimizer,
scheduler, callbacks and logger groups only (and Hydra itself for `hydra.*`: launcher, sweeper, callbacks),
so a `_target_` anywhere else would either be ignored silently or, worse, be instantiated by code written
later that walks the config. It is refused before any task runs, naming the key and where targets belong.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cnnexp.errors import ConfigError

INSTANTIATE_GROUPS = ("optimizer", "scheduler", "callbacks", "logger")
TARGET = "_target_"


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
