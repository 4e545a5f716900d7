"""Runs as a user starts them, in subprocesses: DDP on two CPU processes, sweeps with DDP, GPU errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import job_overrides, one_paragraph
from pause import TESTS, go, pause_overrides, wait_until_paused

SMALL = (
    "data.train_size=1000", "data.val_size=100", "data.test_size=301", "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
)  # fmt: skip
DDP = ("trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp")


def cnnexp(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CNNEXP_DATA": str(tmp_path / "data")}
    for key in ("LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT", "MASTER_ADDR", "NODE_RANK"):
        env.pop(key, None)
    command = [sys.executable, "-m", "cnnexp", *args]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)


def test_ddp_on_two_cpu_processes(tmp_path: Path) -> None:
    run = cnnexp(tmp_path, *SMALL, *DDP, f"hydra.run.dir={tmp_path / 'run'}")
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert metrics["test_images"] == 301  # each test image counted once across the two ranks
    assert run.stdout.count("test accuracy") == 1 and run.stdout.count("model lenet5") == 1  # rank 0 alone
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        ".hydra", "checkpoints", "cnnexp.log", "metrics.json", "pictures", "rank1.log", "run.json", "summary.json",
        "summary.txt", "tb",
    ]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "run"]  # nothing written elsewhere


def test_ddp_inside_a_multirun_runs_each_job_once(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    run = cnnexp(tmp_path, "-m", *SMALL, *DDP, "seed=1,2", f"hydra.sweep.dir={sweep}")
    assert run.returncode == 0, run.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [[o for o in job_overrides(job) if o.startswith("seed=")] for job in jobs] == [["seed=1"], ["seed=2"]]
    assert [job.name for job in jobs] == ["000_seed=1", "001_seed=2"]  # named by the swept override alone
    for job in jobs:
        metrics = json.loads((job / "metrics.json").read_text())
        assert (metrics["world_size"], metrics["test_images"], metrics["epochs"]) == (2, 301, 1)
        assert len(list((job / "checkpoints").glob("epoch*.ckpt"))) == 1  # trained once
    assert run.stdout.count("test accuracy") == 2  # two jobs, each reported by its rank 0 only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "sweep"]  # no stray run or sweep folders


def test_a_killed_ddp_rank_stops_the_run_with_one_paragraph(tmp_path: Path) -> None:
    run = tmp_path / "run"
    env = {**os.environ, "CNNEXP_DATA": str(tmp_path / "data")}
    for key in ("LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT", "MASTER_ADDR", "NODE_RANK"):
        env.pop(key, None)
    longer = ("data.train_size=6000", "data.batch_size=20", "trainer.max_epochs=2", "trainer.enable_progress_bar=false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS, env.get("PYTHONPATH")]))
    pause = pause_overrides(tmp_path, epoch=0, batch=20)  # both ranks hold mid-epoch 0: the kill lands in training
    command = [sys.executable, "-m", "cnnexp", *longer, *DDP, *pause, f"hydra.run.dir={run}"]
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until_paused(proc, tmp_path)
    pid = int(re.findall(r"task=train in .*, pid (\d+)", (run / "rank1.log").read_text())[0])
    os.kill(pid, signal.SIGKILL)
    go(tmp_path)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 3, err[-3000:]
    paragraph = one_paragraph(err)
    assert paragraph.startswith(f"DDP rank 1 (pid {pid}) was killed by SIGKILL at epoch ")
    assert "the other ranks cannot go on without it, so training stopped." in paragraph
    assert json.loads((run / "metrics.json").read_text())["reason"] == paragraph


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without GPUs")
def test_asking_for_gpus_without_any_is_a_clear_error(tmp_path: Path) -> None:
    run = cnnexp(tmp_path, "trainer.gpus=1", f"hydra.run.dir={tmp_path / 'run'}")
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "cnnexp: error: trainer.gpus=1 asks for 1 GPU(s) but this machine has none; run on the CPU instead: drop "
        "trainer.gpus and set trainer.accelerator=cpu (trainer.devices=2 trainer.strategy=ddp trains with two CPU "
        "processes)."
    )


def test_a_failing_job_does_not_stop_the_sweep_but_fails_it(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    run = cnnexp(tmp_path, "-m", *SMALL, "model.layers.pool2.F=2,9", f"hydra.sweep.dir={sweep}")
    assert run.returncode == 2, run.stderr[-3000:]  # a user mistake in a job: the sweep ends as that job would
    assert run.stderr.splitlines()[-1].startswith(
        f"cnnexp: error: 1 of 2 jobs did not succeed (report.md in {sweep} lists them): 001_model.layers.pool2.F=9"
    )
    ok, failed = (json.loads(_job(sweep, f"model.layers.pool2.F={f}").joinpath("metrics.json").read_text()) for f in (2, 9))
    assert ok["status"] == "ok"
    assert failed["status"] == "failed"
    assert failed["reason"].startswith("model.layers.pool2 (layer 5, maxpool): window F=9 is larger than its 8×8 input")


def test_a_rerun_skips_completed_jobs(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ("-m", *SMALL, "seed=1,2", f"hydra.sweep.dir={sweep}", "skip_completed=true")
    assert cnnexp(tmp_path, *args).returncode == 0
    rerun = cnnexp(tmp_path, *args)
    assert rerun.returncode == 0 and rerun.stdout.count("skipped: ") == 2 and "run folder" not in rerun.stdout


def _job(sweep: Path, override: str) -> Path:
    (job,) = [p for p in sweep.iterdir() if p.is_dir() and override in job_overrides(p)]
    return job
