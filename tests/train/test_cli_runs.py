"""Runs as a user starts them: DDP on two CPU processes (rank 0 in-process through the `cli` fixture, rank 1 the
process cnnexp starts) and a killed rank (a process for the run: the test kills one of its ranks), and in-process,
a sweep with a failing job, a re-run that skips, asking for GPUs without any. DDP inside a sweep: tests/test_configdirs.py (with a config folder of the user's)."""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
import torch
from pause import TESTS, go, pause_overrides, wait_until_paused
from processes import finish, start
from support import Cli, job_overrides, one_paragraph

SMALL = (
    "data.train_size=1000", "data.val_size=100", "data.test_size=301", "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
)  # fmt: skip
DDP = ("trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp")


@pytest.mark.slow
def test_ddp_on_two_cpu_processes(cli: Cli, tmp_path: Path) -> None:
    # Rank 0 is this process (`cli`); cnnexp starts rank 1, a process of its own (train/launch.py).
    code, err = cli(*SMALL, *DDP, f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 0, err[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert metrics["test_images"] == 301  # each test image counted once across the two ranks
    out = cli.out  # type: ignore[attr-defined]
    assert out.count("test accuracy") == 1 and out.count("model lenet5") == 1  # rank 0 alone
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        ".hydra", "checkpoints", "cnnexp.log", "metrics.json", "pictures", "rank1.log", "run.json", "summary.json",
        "summary.txt", "tb",
    ]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # nothing written elsewhere


@pytest.mark.slow
def test_a_killed_ddp_rank_stops_the_run_with_one_paragraph(tmp_path: Path) -> None:
    run = tmp_path / "run"
    # Rank 1 is killed while both ranks hold mid-epoch 0 (batch 10 of each rank's 23): the kill lands in training.
    longer = (*SMALL[:3], "data.batch_size=20", "trainer.max_epochs=2", "trainer.enable_progress_bar=false")
    pause = pause_overrides(tmp_path, epoch=0, batch=10)
    proc = start(tmp_path, *longer, *DDP, *pause, f"hydra.run.dir={run}", pythonpath=TESTS)
    wait_until_paused(proc, tmp_path)
    pid = int(re.findall(r"task=train in .*, pid (\d+)", (run / "rank1.log").read_text())[0])
    os.kill(pid, signal.SIGKILL)
    go(tmp_path)
    code, _, err = finish(proc, timeout=600)
    assert code == 3, err[-3000:]
    paragraph = one_paragraph(err)
    assert paragraph.startswith(f"DDP rank 1 (pid {pid}) was killed by SIGKILL at epoch ")
    assert "the other ranks cannot go on without it, so training stopped." in paragraph
    assert json.loads((run / "metrics.json").read_text())["reason"] == paragraph


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without GPUs")
def test_asking_for_gpus_without_any_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    code, err = cli("trainer.gpus=1", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    assert err.strip() == (
        "cnnexp: error: trainer.gpus=1 asks for 1 GPU(s) but this machine has none; run on the CPU instead: drop "
        "trainer.gpus and set trainer.accelerator=cpu (trainer.devices=2 trainer.strategy=ddp trains with two CPU "
        "processes)."
    )


@pytest.mark.slow
def test_a_failing_job_does_not_stop_the_sweep_but_fails_it(cli: Cli, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    code, err = cli("-m", *SMALL, "model.layers.pool2.F=2,9", f"hydra.sweep.dir={sweep}")
    assert code == 2, err[-3000:]  # a user mistake in a job: the sweep ends as that job would
    assert err.splitlines()[-1].startswith(
        f"cnnexp: error: 1 of 2 jobs did not succeed (report.md in {sweep} lists them): 001_model.layers.pool2.F=9"
    )
    ok, failed = (
        json.loads(_job(sweep, f"model.layers.pool2.F={f}").joinpath("metrics.json").read_text()) for f in (2, 9)
    )
    assert ok["status"] == "ok"
    assert failed["status"] == "failed"
    assert failed["reason"].startswith("model.layers.pool2 (layer 5, maxpool): window F=9 is larger than its 8×8 input")


@pytest.mark.slow
def test_a_rerun_skips_completed_jobs(cli: Cli, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ("-m", *SMALL, "seed=1,2", f"hydra.sweep.dir={sweep}", "skip_completed=true")
    assert cli(*args)[0] == 0
    code, _ = cli(*args)
    out = cli.out  # type: ignore[attr-defined]  # what the re-run printed
    assert code == 0 and out.count("skipped: ") == 2 and "run folder" not in out


def _job(sweep: Path, override: str) -> Path:
    (job,) = [p for p in sweep.iterdir() if p.is_dir() and override in job_overrides(p)]
    return job
