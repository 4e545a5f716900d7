"""cnnexp's Optuna sweeper, in-process (the `cli` fixture): its study stored and resumed. Hydra's launchers
(joblib, submitit), which need processes, against a sweep in sequence: tests/test_configdirs.py, whose one sweep
per launcher also pins that the workers read your config folder."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from support import Cli

SMALL = (
    "data.train_size=600", "data.val_size=100", "data.test_size=200", "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
)  # fmt: skip


@pytest.mark.slow
def test_optuna_search_stores_its_study_and_resumes(cli: Cli, tmp_path: Path) -> None:
    sweep = tmp_path / "search"
    args = ("-m", *SMALL, "experiment=lenet5_optuna", f"hydra.sweep.dir={sweep}")
    code, err = cli(*args, "hydra.sweeper.n_trials=2")
    assert code == 0, err[-3000:]
    assert sorted(p.name for p in sweep.glob("trial_*")) == ["trial_0", "trial_1"]
    code, err = cli(*args, "hydra.sweeper.n_trials=3")  # a stopped search, continued
    assert code == 0, err[-3000:]
    assert cli.out.count("run folder") == 1  # type: ignore[attr-defined]  # only the missing trial ran
    assert sorted(p.name for p in sweep.glob("trial_*")) == ["trial_0", "trial_1", "trial_2"]
    with sqlite3.connect(sweep / "optuna.db") as db:
        values = [v for (v,) in db.execute("SELECT value FROM trial_values ORDER BY trial_id")]
    trials = [json.loads((sweep / f"trial_{i}" / "metrics.json").read_text())["best_val_acc"] for i in range(3)]
    assert values == trials  # the runner returned the metric the sweeper asked for
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(trials) and set(best["best_params"]) == {
        "optimizer.lr", "data.batch_size", "model.activation", "model.layers.drop1.p"
    }  # fmt: skip
