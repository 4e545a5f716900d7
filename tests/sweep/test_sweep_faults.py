"""Sweeps that go wrong, in-process: values that are no folder names, jobs that all fail, a re-run after the preset
changed or a metrics.json broke, an Optuna search resumed after a stop, a damaged study file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import optuna
import pytest
import yaml
from support import Cli, one_paragraph

TINY = (
    "data.train_size=700", "data.val_size=100", "data.test_size=200", "data.batch_size=50", "trainer.max_epochs=1",
    "trainer.enable_progress_bar=False", "callbacks.progress=null", "callbacks.pictures=null",
)  # fmt: skip


def jobs(sweep: Path) -> list[Path]:
    return sorted(p for p in sweep.iterdir() if p.is_dir())


def metrics(job: Path) -> dict:
    return json.loads((job / "metrics.json").read_text())


def snapshot(folder: Path) -> dict[str, str]:
    """Every file of the job folders under `folder` (or of the job folder itself) by its content."""
    files = [p for p in folder.rglob("*") if p.is_file() and (p.parent != folder or folder.name[:3].isdigit())]
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.mark.slow
def test_values_with_slashes_give_flat_job_folders_and_a_report(cli: Cli, tmp_path: Path) -> None:
    sweep, deep, other = tmp_path / "sweep", tmp_path / "d" / "a" / "b" / "c", tmp_path / "d" / "e"
    code, err = cli("-m", *TINY, f"data.root={deep},{other}", f"hydra.sweep.dir={sweep}")
    assert code == 0, err
    names = [job.name for job in jobs(sweep)]  # the swept key alone: the fixed overrides are in every job
    assert [name[:18] for name in names] == ["000_data.root=-tmp", "001_data.root=-tmp"]
    assert all(len(name) <= 52 and "/" not in name for name in names) and not list(sweep.glob("*/*/.hydra"))
    for job, root in zip(jobs(sweep), (deep, other)):
        assert metrics(job)["status"] == "ok" and (job / "tb").is_dir()
        assert yaml.safe_load((job / ".hydra" / "resolved.yaml").read_text())["data"]["root"] == str(root)
    report = (sweep / "report.md").read_text()
    assert "2 jobs: 2 ok, 0 failed." in report
    assert f"- #0 [{names[0]}]({names[0]}/): `{' '.join(TINY)}" in report  # every override, in full
    assert f" data.root={deep}`, config [{names[0]}/.hydra/resolved.yaml]" in report


@pytest.mark.slow
def test_a_sweep_whose_jobs_all_failed_ends_with_their_exit_code(cli: Cli, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    # Mistakes found only once a job assembles its run (a config that reads, whose parts do not fit): every job
    # starts, fails, and says so (tests/sweep/test_preflight.py: mistakes found when the configs are read).
    code, err = cli("-m", *TINY, "model.num_classes=5,7", f"hydra.sweep.dir={sweep}")
    assert code == 2 and err.count("cnnexp: error: job failed, the sweep goes on: model.num_classes=") == 2
    assert (
        err.splitlines()[-1]
        .removeprefix("cnnexp: error: ")
        .startswith(
            f"2 of 2 jobs did not succeed (report.md in {sweep} lists them): 000_model.num_classes=5: failed: "
            f"model.num_classes=5 but data=digits has 10 classes"
        )
    )
    assert "2 jobs: 0 ok, 2 failed." in (sweep / "report.md").read_text()
    assert [metrics(job)["exit_code"] for job in jobs(sweep)] == [2, 2]


@pytest.mark.slow
def test_sigterm_between_jobs_writes_the_report_and_stops_the_sweep(cli: Cli, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    stop = "+hydra.callbacks.stop._target_=support.SigtermAfterFirstJob"
    code, err = cli("-m", *TINY, "seed=1,2", stop, f"hydra.sweep.dir={sweep}")
    assert code == 143
    assert [job.name for job in jobs(sweep)] == ["000_seed=1"] and metrics(jobs(sweep)[0])["status"] == "ok"
    assert "1 jobs: 1 ok, 0 failed." in (sweep / "report.md").read_text()
    assert err.splitlines()[-1].startswith(
        f"cnnexp: sweep interrupted; report in {sweep}. Continue the sweep (finished jobs are skipped, the "
        f"interrupted one resumes) with: python -m cnnexp -m "
    )
    assert err.splitlines()[-1].endswith(f"seed=1,2 {stop} hydra.sweep.dir={sweep} skip_completed=true")


@pytest.mark.slow
def test_skip_completed_compares_the_whole_config_and_never_rewrites_a_finished_job(cli: Cli, tmp_path: Path) -> None:
    conf, sweep = tmp_path / "mine", tmp_path / "sweep"
    (conf / "experiment").mkdir(parents=True)
    preset = conf / "experiment" / "mine.yaml"
    preset.write_text("# @package _global_\noptimizer:\n  lr: 0.001\n")
    args = ("-m", *TINY, "seed=1,2", "experiment=mine", f"hydra.searchpath=[file://{conf}]", f"hydra.sweep.dir={sweep}")
    assert cli(*args)[0] == 0
    first, second = jobs(sweep)
    before = snapshot(sweep)

    code, _ = cli(*args, "skip_completed=true")
    assert code == 0 and snapshot(sweep) == before

    preset.write_text("# @package _global_\noptimizer:\n  lr: 0.01\n")  # the same overrides, another config
    code, err = cli(*args, "skip_completed=true")
    assert code == 2 and one_paragraph(err).startswith(f"{first} holds a finished run, test accuracy ")
    assert "with other settings (optimizer.lr: 0.001 -> 0.01)" in err
    assert snapshot(first) == {
        k.removeprefix(f"{first.name}/"): v for k, v in before.items() if k.startswith(first.name)
    }

    preset.write_text("# @package _global_\noptimizer:\n  lr: 0.001\n")
    (first / "metrics.json").write_text('{"status": "ok", "test_a')  # cut short
    lacking = {k: v for k, v in metrics(second).items() if k != "test_acc"}
    (second / "metrics.json").write_text(json.dumps(lacking))
    code, err = cli(*args, "skip_completed=true")
    assert code == 0 and f"cnnexp: warning: {first / 'metrics.json'} is damaged (" in err
    assert metrics(first)["status"] == "ok" and metrics(second) == lacking  # run again; skipped, untouched


@pytest.mark.slow
def test_an_optuna_search_resumes_with_new_trials_and_fails_a_stale_one(cli: Cli, tmp_path: Path) -> None:
    sweep = tmp_path / "search"
    args = ("-m", *TINY, "experiment=lenet5_optuna", "trainer.max_epochs=2", f"hydra.sweep.dir={sweep}")
    pruned = ("hydra.sweeper.pruner=threshold", "hydra.sweeper.pruner_args={lower:0.99}")  # val/acc < 0.99
    code, err = cli(*args, "hydra.sweeper.n_trials=2", *pruned)
    assert code == 0, err
    assert [metrics(job)["status"] for job in jobs(sweep)] == ["pruned", "pruned"]
    assert [metrics(job)["epochs"] for job in jobs(sweep)] == [0, 0]  # stopped after epoch 0's validation
    storage = f"sqlite:///{sweep / 'optuna.db'}"
    study = optuna.load_study(study_name="cnnexp", storage=storage)
    study.ask()  # trial 2, left running as by a sweep that was killed

    code, err = cli(*args, "hydra.sweeper.n_trials=4")
    assert code == 0, err
    trials = optuna.load_study(study_name="cnnexp", storage=storage).trials
    states = [t.state.name for t in trials]
    assert states == ["PRUNED", "PRUNED", "FAIL", "COMPLETE"]
    assert [job.name for job in jobs(sweep)] == ["trial_0", "trial_1", "trial_3"]  # trial 2's number is never reused
    assert trials[3].params not in (trials[0].params, trials[1].params)  # not the first trials replayed


@pytest.mark.slow
def test_a_damaged_study_file_is_one_paragraph(cli: Cli, tmp_path: Path) -> None:
    sweep = tmp_path / "search"
    sweep.mkdir()
    (sweep / "optuna.db").write_bytes(b"this is no database" * 100)
    code, err = cli("-m", *TINY, "experiment=lenet5_optuna", f"hydra.sweep.dir={sweep}")
    assert code == 2 and one_paragraph(err).startswith(
        f"hydra.sweeper.storage: sqlite:///{sweep / 'optuna.db'} is not a readable Optuna study ((sqlite3.DatabaseError) "
        f"file is not a database); move the file away"
    )
    assert not list(sweep.glob("trial_*"))
