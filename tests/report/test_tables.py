"""report.csv keeps every job's metrics.json exactly; the per-choice mean ± std is the one a reader would compute."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from typing import Any

import pytest

from cnnexp.report.build import Report, write_report
from cnnexp.report.collect import NO_METRICS


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _same(written: str, value: Any) -> bool:
    """A CSV cell against the JSON value it came from: numbers exactly, strings as they are."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return written == str(value)
    return type(value)(written) == value


def test_csv_holds_each_jobs_metrics_exactly(report: Report, fake_sweep: Path) -> None:
    rows = {row["job"]: row for row in _rows(fake_sweep / "report.csv")}
    assert len(rows) == 6
    for folder in sorted(p for p in fake_sweep.iterdir() if (p / "metrics.json").is_file()):
        metrics = json.loads((folder / "metrics.json").read_text())
        row = rows[folder.name]
        assert {k: row[k] for k in metrics if not _same(row[k], metrics[k])} == {}
        assert row["overrides"] == f"trainer.max_epochs=3 model={row['model (override)']} seed={row['seed']}"


def test_failed_jobs_with_their_reasons(report: Report, fake_sweep: Path, fakes: Any) -> None:
    rows = _rows(fake_sweep / "report.csv")
    assert [(r["status"], r["reason"]) for r in rows[4:]] == [("failed", fakes.failed_reason), ("failed", NO_METRICS)]
    assert [r["status"] for r in rows[:4]] == ["ok"] * 4 and all(r["reason"] == "" for r in rows[:4])
    text = (fake_sweep / "report.md").read_text()
    assert "2 failed" in text
    assert f"- #4 `model=alexnet_small seed=1`: {fakes.failed_reason}" in text
    assert f"- #5 `model=alexnet_small seed=2`: {NO_METRICS}" in text


def _expected(fakes: Any, model: str, key: str) -> tuple[float, float]:
    values = [m[key] for name, _, m, _ in fakes.jobs if name == model and m and m["status"] == "ok"]
    return statistics.mean(values), statistics.stdev(values)


@pytest.mark.parametrize("model", ["lenet5", "linear"])
def test_mean_and_std_over_seeds(report: Report, fake_sweep: Path, fakes: Any, model: str) -> None:
    rows = {row["model"]: row for row in _rows(fake_sweep / "report_groups.csv")}
    for key in ("test_acc", "best_val_acc"):
        mean, std = _expected(fakes, model, key)
        assert float(rows[model][f"{key}_mean"]) == pytest.approx(mean, rel=1e-12)
        assert float(rows[model][f"{key}_std"]) == pytest.approx(std, rel=1e-12)
    mean, std = _expected(fakes, model, "test_acc")
    assert f"{mean:.4f} ± {std:.4f} (2)" in report.markdown
    assert (rows[model]["runs"], rows[model]["ok"]) == ("2", "2")


def test_a_choice_whose_jobs_all_failed_has_no_mean(report: Report, fake_sweep: Path) -> None:
    row = {r["model"]: r for r in _rows(fake_sweep / "report_groups.csv")}["alexnet_small"]
    assert (row["runs"], row["ok"], row["test_acc_mean"], row["test_acc_std"]) == ("2", "0", "", "")
    assert "| alexnet_small | 2    | —" in report.markdown


def test_markdown_tables(report: Report) -> None:
    lines = report.markdown.splitlines()
    assert "Every job: `trainer.max_epochs=3`." in lines
    header = next(line for line in lines if line.startswith("| # "))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "#", "model", "seed", "params", "best val acc", "test acc", "epochs", "wall time s", "images/s", "status",
    ]  # fmt: skip
    row = "| 0 | lenet5        | 1    | 176,050 | 0.9050       | 0.9133   | 3      | 12.3        | 1,234    | ok     |"
    assert row in lines
    assert "![val_acc_curves](val_acc_curves.png)" in lines


def test_without_a_seed_sweep_each_job_is_its_own_choice(tmp_path: Path, fakes: Any) -> None:
    for num, (model, _, metrics, accs) in enumerate(fakes.jobs[::2]):  # one seed per model
        fakes.write_job(tmp_path / str(num), num, [f"model={model}", "seed=1"], metrics, accs)
    report = write_report(tmp_path)
    assert not report.sweep.seeded and "Per choice" not in report.markdown
    assert not (tmp_path / "report_groups.csv").exists()
    assert [p.name for p in report.files] == ["report.md", "report.csv", "val_acc_curves.png", "final_accuracy.png"]
