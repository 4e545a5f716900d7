"""The report's tables: every job (Markdown and CSV), and per choice the mean ± std over seeds.

The CSV keeps metrics.json's numbers exactly (Python's float repr round-trips), for a spreadsheet or a script;
the Markdown rounds them for a reader.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cnnexp.report.collect import AT_DEFAULT, Group, Stat, Sweep

RESOLVED = ".hydra/resolved.yaml"  # the job's whole config, written by the run (cnnexp/rundir/record.py)

# metrics.json's keys in the order the CSV gives them; keys not named here follow, sorted.
METRIC_KEYS = [
    "model", "data", "params", "trainable_params", "best_val_acc", "test_acc", "test_loss", "test_images",
    "epochs", "wall_time_s", "train_images_per_s", "world_size", "checkpoint",
]  # fmt: skip
GROUP_METRICS = ["test_acc", "best_val_acc", "wall_time_s", "train_images_per_s"]
DASH = "—"

# (header, metrics.json key, format) of the Markdown columns after the overrides
JOB_COLUMNS = [
    ("params", "params", "{:,}"), ("best val acc", "best_val_acc", "{:.4f}"), ("test acc", "test_acc", "{:.4f}"),
    ("epochs", "epochs", "{}"), ("wall time s", "wall_time_s", "{:.1f}"), ("images/s", "train_images_per_s", "{:,.0f}"),
]  # fmt: skip
MEAN_STD_KEYS = {"best_val_acc", "test_acc"}  # per choice, mean ± std; the costs (time, throughput) as a mean


def job_rows(sweep: Sweep) -> list[dict[str, Any]]:
    """One row per job: its folder, overrides, status and reason, then every metrics.json value as written.

    A column per swept key too, for filtering; one that shares a metric's name (`model`, `data`) is called
    `model (override)`, so that the metric columns are named as in metrics.json whatever was swept.
    """
    extra = sorted({k for job in sweep.jobs for k in job.metrics} - set(METRIC_KEYS) - {"status", "reason"})
    metric_keys = METRIC_KEYS + extra
    taken = {"job", "num", "overrides", "config", "status", "reason", *metric_keys}
    rows = []
    for job in sweep.jobs:
        row: dict[str, Any] = {"job": job.folder.relative_to(sweep.root).as_posix(), "num": job.num}
        row["overrides"] = " ".join(f"{k}={v}" for k, v in job.overrides.items())
        row["config"] = f"{row['job']}/{RESOLVED}" if (job.folder / RESOLVED).is_file() else ""
        row.update({k + " (override)" if k in taken else k: job.overrides.get(k, AT_DEFAULT) for k in sweep.swept})
        row.update(status=job.status, reason=job.reason)
        row.update({k: job.metrics.get(k) for k in metric_keys})
        rows.append(row)
    return rows


def group_rows(sweep: Sweep) -> list[dict[str, Any]]:
    """One row per choice: runs, successful runs, and mean and std (n - 1) of each metric over the seeds."""
    rows = []
    for group in sweep.groups():
        row: dict[str, Any] = dict(group.choice)
        row.update(runs=len(group.jobs), ok=sum(job.ok for job in group.jobs))
        for key in GROUP_METRICS:
            stat = group.stat(key)
            row[f"{key}_mean"] = None if stat is None else stat.mean
            row[f"{key}_std"] = None if stat is None else stat.std
        rows.append(row)
    return rows


def write_table(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)


def markdown(sweep: Sweep, images: Iterable[Path] = ()) -> str:
    """The whole report.md: a header, the per-choice table (seeds swept), every job, failures, the plots."""
    failed = [job for job in sweep.jobs if not job.ok]
    lines = [f"# Sweep report: {sweep.root}", ""]
    lines.append(f"{len(sweep.jobs)} jobs: {_counts(sweep)}.")
    if sweep.common:
        lines.append("Every job: `" + " ".join(f"{k}={v}" for k, v in sweep.common.items()) + "`.")
    if sweep.seeded:
        lines += ["", "## Per choice: mean ± std over seeds (n runs that finished)", "", *choice_table(sweep)]
    lines += ["", "## Every job", "", *job_table(sweep)]
    if failed:
        lines += ["", "## Failed jobs", ""]
        lines += [
            f"- #{_fmt(job.num, '{}')} `{sweep.label(job)}`: {_status(job)}{_one_line(job.reason)}" for job in failed
        ]
    lines += ["", "## Folders", "", *folder_lines(sweep)]
    if images:
        lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.name})" for p in images]
    return "\n".join(lines) + "\n"


def _counts(sweep: Sweep) -> str:
    """ "4 ok, 2 failed", then any other status (interrupted, pruned, running) with its count."""
    statuses = [job.status for job in sweep.jobs]
    others = sorted(set(statuses) - {"ok", "failed"})
    return ", ".join(f"{statuses.count(s)} {s}" for s in ["ok", "failed", *others])


def _status(job: Any) -> str:
    return "" if job.status == "failed" else f"({job.status}) "


def folder_lines(sweep: Sweep) -> list[str]:
    """Each job's folder, its whole overrides and the config it ran with, every interpolation resolved."""
    lines = []
    for job in sweep.jobs:
        folder = job.folder.relative_to(sweep.root).as_posix()
        overrides = " ".join(f"{k}={v}" for k, v in job.overrides.items())
        resolved = job.folder / RESOLVED
        config = f", config [{folder}/{RESOLVED}]({folder}/{RESOLVED})" if resolved.is_file() else ""
        lines.append(f"- #{_fmt(job.num, '{}')} [{folder}]({folder}/): `{overrides}`{config}")
    return lines


def choice_table(sweep: Sweep) -> list[str]:
    columns = [c for c in JOB_COLUMNS if c[1] != "epochs"]
    header = [*sweep.choice_keys, "runs", *(name for name, _, _ in columns)]
    rows = []
    for group in sweep.groups():
        summaries = [_summary(group, key, spec) for _, key, spec in columns]
        rows.append([*(v for _, v in group.choice), str(len(group.jobs)), *summaries])
    return _table(header, rows)


def _summary(group: Group, key: str, spec: str) -> str:
    if key == "params":
        return _params(group)
    stat = group.stat(key)
    return _mean_std(stat) if key in MEAN_STD_KEYS else _mean(stat, spec)


def job_table(sweep: Sweep) -> list[str]:
    header = ["#", *(sweep.swept or ["job"]), *(name for name, _, _ in JOB_COLUMNS), "status"]
    rows = []
    for job in sweep.jobs:
        choice = [job.overrides.get(k, AT_DEFAULT) for k in sweep.swept] or [job.folder.name]
        metrics = [_fmt(job.value(key), spec) for _, key, spec in JOB_COLUMNS]
        rows.append([_fmt(job.num, "{}"), *choice, *metrics, job.status])
    return _table(header, rows)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    cells = [[_cell(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")  # a bare | would split the cell


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return DASH
    try:
        return spec.format(value)
    except (TypeError, ValueError):  # a string where a number was expected: show it as written
        return str(value)


def _mean_std(stat: Stat | None) -> str:
    if stat is None:
        return DASH
    return f"{stat.mean:.4f} ({stat.n})" if stat.n == 1 else f"{stat.mean:.4f} ± {stat.std:.4f} ({stat.n})"


def _mean(stat: Stat | None, spec: str) -> str:
    return DASH if stat is None else spec.format(stat.mean)


def _params(group: Group) -> str:
    counts = sorted({p for job in group.jobs if isinstance(p := job.value("params"), int)})
    return DASH if not counts else f"{counts[0]:,}" if len(counts) == 1 else f"{counts[0]:,}–{counts[-1]:,}"
