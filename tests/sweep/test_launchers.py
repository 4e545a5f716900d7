"""Sweeps through Hydra's launchers and cnnexp's Optuna sweeper, as a user starts them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import job_overrides

SMALL = (
    "data.train_size=600", "data.val_size=100", "data.test_size=200", "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
)  # fmt: skip


def cnnexp(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CNNEXP_DATA": str(tmp_path / "data")}
    command = [sys.executable, "-m", "cnnexp", "-m", *SMALL, *args]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def _accuracy_by_seed(sweep: Path) -> dict[str, float]:
    found = {}
    for metrics in sweep.glob("*/metrics.json"):
        seed = next(o for o in job_overrides(metrics.parent) if o.startswith("seed="))
        found[seed] = json.loads(metrics.read_text())["test_acc"]
    return found


def test_joblib_and_submitit_sweeps_give_the_sequential_results(tmp_path: Path) -> None:
    sweeps = {
        "basic": (),
        "joblib": ("launcher=local_parallel",),
        "submitit": ("hydra/launcher=submitit_local",),
    }
    results = {}
    for name, extra in sweeps.items():
        cnnexp(tmp_path, "seed=1,2", *extra, f"hydra.sweep.dir={tmp_path / name}")
        results[name] = _accuracy_by_seed(tmp_path / name)
    assert sorted(results["basic"]) == ["seed=1", "seed=2"]
    assert results["joblib"] == results["basic"] == results["submitit"]  # same seeds, same figures anywhere


def test_optuna_search_stores_its_study_and_resumes(tmp_path: Path) -> None:
    sweep = tmp_path / "search"
    args = ("experiment=lenet5_optuna", f"hydra.sweep.dir={sweep}")
    cnnexp(tmp_path, *args, "hydra.sweeper.n_trials=2")
    assert sorted(p.name for p in sweep.glob("trial_*")) == ["trial_0", "trial_1"]
    resumed = cnnexp(tmp_path, *args, "hydra.sweeper.n_trials=3")  # a stopped search, continued
    assert resumed.stdout.count("run folder") == 1  # only the missing trial ran
    assert sorted(p.name for p in sweep.glob("trial_*")) == ["trial_0", "trial_1", "trial_2"]
    with sqlite3.connect(sweep / "optuna.db") as db:
        values = [v for (v,) in db.execute("SELECT value FROM trial_values ORDER BY trial_id")]
    trials = [json.loads((sweep / f"trial_{i}" / "metrics.json").read_text())["best_val_acc"] for i in range(3)]
    assert values == trials  # the runner returned the metric the sweeper asked for
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == max(trials) and set(best["best_params"]) == {
        "optimizer.lr", "data.batch_size", "model.activation", "model.layers.drop1.p"
    }  # fmt: skip
