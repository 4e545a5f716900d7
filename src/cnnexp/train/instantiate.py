"""Hydra instantiation at the edge, with user mistakes turned into ConfigErrors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate

from cnnexp.errors import ConfigError


def instantiate_target(cfg: Mapping[str, Any], group: str, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, where a bad class name or argument names the config group to fix."""
    if not isinstance(cfg, Mapping) or "_target_" not in cfg:
        raise ConfigError(f"{group}: needs a `_target_` naming the class to build, e.g. choose {group}= from conf/{group}/.")
    try:
        return instantiate(dict(cfg), **kwargs)
    except InstantiationException as err:
        reason = str(err).strip().splitlines()[-1]
        raise ConfigError(f"{group}: cannot build {cfg['_target_']}: {reason}") from None
