"""Finding a sweep's jobs, reading their overrides, metrics and curves, grouping them by choice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cnnexp.errors import ConfigError
from cnnexp.report.collect import NO_METRICS, collect_sweep, find_job_folders, override_values
from cnnexp.report.curves import val_curve


def test_jobs_in_launch_order_with_swept_and_common_keys(fake_sweep: Path, fakes: Any) -> None:
    sweep = collect_sweep(fake_sweep)
    assert [job.num for job in sweep.jobs] == list(range(len(fakes.jobs)))
    assert sweep.swept == ["model", "seed"] and sweep.seeded
    assert sweep.common == {"trainer.max_epochs": "3"}
    assert [sweep.label(job) for job in sweep.jobs][:2] == ["model=lenet5 seed=1", "model=lenet5 seed=2"]


def test_status_and_reason(fake_sweep: Path, fakes: Any) -> None:
    jobs = collect_sweep(fake_sweep).jobs
    assert [job.status for job in jobs] == ["ok"] * 4 + ["failed"] * 2
    assert (jobs[4].reason, jobs[5].reason) == (fakes.failed_reason, NO_METRICS)


def test_groups_drop_the_seed(fake_sweep: Path) -> None:
    groups = collect_sweep(fake_sweep).groups()
    assert [g.label for g in groups] == ["model=lenet5", "model=linear", "model=alexnet_small"]
    assert [len(g.jobs) for g in groups] == [2, 2, 2]
    assert groups[2].stat("test_acc") is None  # no job of that choice finished
    assert groups[0].stat("test_acc").n == 2


def test_val_curve_per_epoch_from_the_recorded_history(fake_sweep: Path, fakes: Any) -> None:
    jobs = collect_sweep(fake_sweep).jobs
    curve = val_curve(jobs[0].metrics)
    assert [epoch for epoch, _ in curve] == [1, 2, 3]
    assert [acc for _, acc in curve] == fakes.jobs[0][3]
    assert val_curve(jobs[4].metrics) == [] and val_curve({"history": {"x": {"val/acc": 1}, "0": "junk"}}) == []


def test_jobs_two_levels_down_are_found(tmp_path: Path, fakes: Any) -> None:
    fakes.write_job(tmp_path / "batch0" / "a", 0, ["model=lenet5"], None, [])
    fakes.write_job(tmp_path / "b", 1, ["model=linear"], None, [])
    fakes.write_job(tmp_path / "x" / "y" / "too_deep", 2, ["model=linear"], None, [])
    assert find_job_folders(tmp_path) == [tmp_path / "b", tmp_path / "batch0" / "a"]


def test_override_prefixes_are_dropped() -> None:
    assert override_values(["model=lenet5", "+trainer.foo=1", "++a.b=x=y", "~debug"]) == {
        "model": "lenet5", "trainer.foo": "1", "a.b": "x=y", "debug": "",
    }  # fmt: skip


def _not_a_sweep(root: Path, case: str) -> Path:
    if case == "file":
        (root / "file.txt").write_text("")
        return root / "file.txt"
    if case == "run-folder":
        (root / ".hydra").mkdir()
    return root / "missing" if case == "missing" else root


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("missing", "does not exist"),
        ("file", "is not a folder"),
        ("empty", "no jobs under"),
        ("run-folder", "one run's folder"),
    ],  # fmt: skip
)
def test_not_a_sweep_folder_is_a_config_error(tmp_path: Path, case: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        collect_sweep(_not_a_sweep(tmp_path, case))


def test_a_damaged_job_is_failed_not_fatal(tmp_path: Path, fakes: Any) -> None:
    fakes.write_job(tmp_path / "0", 0, ["model=a"], {"status": "ok", "test_acc": 0.5}, [])
    fakes.write_job(tmp_path / "1", 1, ["model=b"], {"status": "ok", "test_acc": 0.6}, [])
    (tmp_path / "1" / ".hydra" / "overrides.yaml").write_text("- [unclosed")
    (tmp_path / "0" / "metrics.json").write_text('{"status": "ok", "test_')  # a half-written file
    jobs = collect_sweep(tmp_path).jobs
    assert [job.status for job in jobs] == ["failed", "failed"]
    assert jobs[0].reason.startswith("metrics.json unreadable") and "overrides.yaml unreadable" in jobs[1].reason
