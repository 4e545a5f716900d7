"""Tasks that `task=NAME` selects, and the one place where user errors become a clean exit."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from cnnexp.errors import ConfigError
from cnnexp.registry import Registry

TASKS: Registry[Callable[[DictConfig], Any]] = Registry("task")


def run_task(cfg: DictConfig) -> Any:
    """Run `cfg.task`; a ConfigError is printed as one paragraph with exit code 2, no traceback."""
    from cnnexp.tasks import summary  # noqa: F401  (registers the tasks)

    try:
        return TASKS.get(str(cfg.task), "task")(cfg)
    except ConfigError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"cnnexp: error: {err}", file=sys.stderr)
        sys.exit(2)
