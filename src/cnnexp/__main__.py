"""`python -m cnnexp`: Hydra composes conf/, then the task named by `task=` runs."""

from __future__ import annotations

from typing import Any

import hydra
from omegaconf import DictConfig

from cnnexp.schemas import register_schemas
from cnnexp.tasks import run_task

# conf/ sits at the repository root beside src/ (the package is installed in editable mode).
CONFIG_PATH = "../../conf"


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def _hydra_main(cfg: DictConfig) -> Any:
    return run_task(cfg)


def main() -> None:
    register_schemas()
    _hydra_main()


if __name__ == "__main__":
    main()
