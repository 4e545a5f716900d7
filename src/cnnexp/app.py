"""The Hydra application: compose conf/, then run the task named by `task=`.

The task function lives in this importable module (not in __main__) because parallel and cluster launchers
(joblib, submitit) pickle it by reference and call it in other processes.
"""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from cnnexp import CONF_DIR
from cnnexp.exits import run_app
from cnnexp.schemas import register_schemas
from cnnexp.tasks import run_task

# Absolute: a relative path would be read as a Python package path, since this is a module, not a script.
CONFIG_PATH = str(CONF_DIR)


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def app(cfg: DictConfig) -> Any:
    return run_task(cfg)


def main() -> None:
    register_schemas()
    run_app(app)  # every error, Hydra's too, as one paragraph and an exit code (cnnexp/exits.py)
