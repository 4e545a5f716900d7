"""Tasks that `task=NAME` selects, and the one place where user errors become a clean exit."""

from __future__ import annotations

import os
import sys
from typing import Any

from omegaconf import DictConfig

from cnnexp.errors import ConfigError
from cnnexp.tasks import summary, train  # noqa: F401  (importing registers the tasks)
from cnnexp.tasks.base import TASKS


def run_task(cfg: DictConfig) -> Any:
    """Run `cfg.task`; a ConfigError is printed as one paragraph with exit code 2, no traceback."""
    try:
        return TASKS.get(str(cfg.task), "task")(cfg)
    except ConfigError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"cnnexp: error: {err}", file=sys.stderr)
        sys.exit(2)
