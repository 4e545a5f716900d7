"""Writing a sweep's report into its folder: report.md, report.csv (and per choice report_groups.csv), the plots."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnnexp.report.collect import Sweep, collect_sweep
from cnnexp.report.curves import val_curve
from cnnexp.report.plots import plot_final_accuracy, plot_val_curves
from cnnexp.report.tables import group_rows, job_rows, markdown, write_table

MARKDOWN = "report.md"
CSV = "report.csv"
GROUPS_CSV = "report_groups.csv"
CURVES_PNG = "val_acc_curves.png"
FINAL_PNG = "final_accuracy.png"


@dataclass(frozen=True)
class Report:
    sweep: Sweep
    markdown: str
    files: list[Path]  # every file written, report.md first


def write_report(sweep_dir: Path | str) -> Report:
    """Collect every job under `sweep_dir` and write the report there; ConfigError if it is no sweep folder."""
    sweep = collect_sweep(sweep_dir)
    root = sweep.root
    curves = {job.folder: val_curve(job.metrics) for job in sweep.jobs}
    images = [plot_val_curves(sweep, curves, root / CURVES_PNG), plot_final_accuracy(sweep, root / FINAL_PNG)]
    write_table(root / CSV, job_rows(sweep))
    files = [root / MARKDOWN, root / CSV]
    if sweep.seeded:  # one row per choice only says more than report.csv when choices were repeated
        write_table(root / GROUPS_CSV, group_rows(sweep))
        files.append(root / GROUPS_CSV)
    text = markdown(sweep, images)
    (root / MARKDOWN).write_text(text)
    return Report(sweep, text, files + images)
