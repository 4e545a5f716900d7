"""`python -m cnnexp.report PATH` and the Hydra callback: the report on demand, always written, and a sweep that
ends non-zero unless every job succeeded."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf
from processes import cnnexp

from cnnexp.errors import Stop
from cnnexp.report.callback import ReportCallback


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    return cnnexp(Path.cwd(), *args, program=("-m", "cnnexp.report"), timeout=120)


@pytest.mark.slow
def test_command_writes_and_prints_the_report(sweep_copy: Path) -> None:
    done = _report(str(sweep_copy))
    assert done.returncode == 0, done.stderr
    assert "| # | model" in done.stdout and "0.9133" in done.stdout
    for name in ("report.md", "report.csv", "report_groups.csv", "val_acc_curves.png", "final_accuracy.png"):
        assert (sweep_copy / name).is_file()
        assert str(sweep_copy / name) in done.stdout


def test_a_missing_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = _report(str(tmp_path / "nope"))
    assert done.returncode == 2
    assert done.stderr.startswith("cnnexp: error: sweep folder") and "does not exist" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert done.stdout == ""


def _config(sweep_dir: Path, task: str = "train") -> DictConfig:
    return OmegaConf.create({"task": task, "hydra": {"sweep": {"dir": str(sweep_dir)}}})


def test_callback_writes_the_report_then_fails_the_sweep(sweep_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Stop) as stop:
        ReportCallback().on_multirun_end(config=_config(sweep_copy))
    assert "6 jobs: 4 ok, 2 failed." in (sweep_copy / "report.md").read_text()
    assert stop.value.code == 1 and stop.value.reported and not stop.value.said  # the door prints it (cli/exits.py)
    assert stop.value.message == (
        f"2 of 6 jobs did not succeed (report.md in {sweep_copy} lists them): 4: failed: "
        f"model.layers[4] (pool1): window F=3 does not fit a 2x2 input; use F=2 | or drop pool1.; 5: failed: no "
        f"metrics.json (interrupted or crashed)"
    )
    assert capsys.readouterr().err == ""


def test_a_sweep_whose_jobs_all_succeeded_ends_quietly(tmp_path: Path, fakes) -> None:  # noqa: ANN001
    fakes.make_sweep(tmp_path, [job for job in fakes.jobs if job[2] and job[2]["status"] == "ok"])
    ReportCallback().on_multirun_end(config=_config(tmp_path))
    assert "4 jobs: 4 ok, 0 failed." in (tmp_path / "report.md").read_text()


def test_callback_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        ReportCallback().on_multirun_end(config=_config(tmp_path / "nope"))
        ReportCallback().on_multirun_end(config=OmegaConf.create({}))  # no hydra.sweep.dir at all
    assert len(caplog.records) == 2 and "sweep report not written" in caplog.records[0].getMessage()


def test_callback_skips_summary_sweeps(sweep_copy: Path) -> None:
    ReportCallback().on_multirun_end(config=_config(sweep_copy, task="summary"))
    assert not (sweep_copy / "report.md").exists()
