"""A real two-job multirun: the callback wired in conf/config.yaml leaves the report beside the jobs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image
from support import Cli

TINY = [
    "data.train_size=300", "data.val_size=100", "data.test_size=100", "data.batch_size=50",
    "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "callbacks.progress=null",
]  # fmt: skip


@pytest.mark.slow
def test_a_real_multirun_ends_with_its_report(cli: Cli, tmp_path: Path) -> None:
    # In-process (the `cli` fixture): Hydra's multirun calls the report callback as in `python -m cnnexp -m`.
    sweep = tmp_path / "sweep"
    code, err = cli("-m", *TINY, "model=lenet5,linear", f"hydra.sweep.dir={sweep}")
    assert code == 0, err[-3000:]
    assert "sweep report:" in cli.out + err  # type: ignore[attr-defined]

    with (sweep / "report.csv").open(newline="") as handle:
        rows = {row["job"]: row for row in csv.DictReader(handle)}
    jobs = sorted(p.parent.parent for p in sweep.glob("*/.hydra/overrides.yaml"))
    assert len(jobs) == 2 and set(rows) == {job.name for job in jobs}
    text = (sweep / "report.md").read_text()
    for job in jobs:
        metrics = json.loads((job / "metrics.json").read_text())
        row = rows[job.name]
        assert (row["status"], float(row["test_acc"])) == ("ok", metrics["test_acc"])
        assert int(row["params"]) == metrics["params"]
        assert f"{metrics['test_acc']:.4f}" in text and f"{metrics['params']:,}" in text
    for name in ("val_acc_curves.png", "final_accuracy.png"):
        with Image.open(sweep / name) as image:
            assert image.size[0] >= 500
