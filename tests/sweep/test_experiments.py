"""Every preset in conf/experiment: each value of each of its sweep axes trains one smoke step (of its seeds, the
first)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose
from omegaconf import DictConfig
from support import CONF

from cnnexp.app import run_job

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def _cases() -> list[tuple[str, str, str]]:
    from hydra import initialize_config_dir

    from cnnexp.schemas import register_schemas

    register_schemas()
    cases = []
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for name in EXPERIMENTS:
            cfg = compose(config_name="config", overrides=[f"experiment={name}"], return_hydra_config=True)
            if not cfg.hydra.sweeper._target_.endswith("BasicSweeper"):
                continue  # a search space, not a grid: tests/sweep/test_launchers.py runs the Optuna search
            for key, values in cfg.hydra.sweeper.params.items():
                cases += [(name, key, value) for value in str(values).split(",")]
    return cases


CASES = _cases()  # at collection, before the session's Hydra context opens
# Seeds differ only by the number handed to seed_everything, one code path: each preset trains its first seed
# (every seed a preset sweeps is read at collection, above, and test_runner.py pins what a seed decides).
RUNS = [case for case in CASES if case[1] != "seed" or case == next(c for c in CASES if c[:2] == case[:2])]


def test_every_grid_preset_sweeps_seeds() -> None:
    assert {name for name, key, _ in CASES if key == "seed"} == set(EXPERIMENTS) - {"lenet5_optuna"}


@pytest.mark.parametrize(("name", "key", "value"), RUNS)
@pytest.mark.slow
def test_every_sweep_value_of_every_preset_runs(
    tiny_cfg: Callable[..., DictConfig], name: str, key: str, value: str
) -> None:
    cfg = tiny_cfg(f"experiment={name}", f"{key}={value}", "debug=fdr")
    run_job(cfg)
    assert json.loads((Path(cfg.output_dir) / "metrics.json").read_text())["status"] == "ok"
