"""A fake sweep folder laid out as a Hydra multirun leaves it: 2 models × 2 seeds, one failed job, one crashed.

Each job has .hydra/overrides.yaml and hydra.yaml (for the job number), and metrics.json with the epoch history
a run records, unless it crashed. The builders and the data reach the tests through the `fakes` fixture (a test
module cannot import a conftest).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from cnnexp.report.build import Report, write_report

FAILED_REASON = "model.layers[4] (pool1): window F=3 does not fit a 2x2 input; use F=2 | or drop pool1."


def _metrics(model: str, params: int, test_acc: float, best_val: float, wall: float, ips: float) -> dict[str, Any]:
    return {
        "status": "ok", "model": model, "data": "digits", "test_acc": test_acc, "test_loss": 1.0 - test_acc,
        "test_images": 300, "best_val_acc": best_val, "epochs": 3, "params": params, "trainable_params": params,
        "wall_time_s": wall, "train_images_per_s": ips, "world_size": 1, "checkpoint": f"/ckpt/{model}.ckpt",
    }  # fmt: skip


# (model, seed, metrics.json or None for a job that crashed before writing it, val/acc per epoch)
JOBS: list[tuple[str, int, dict[str, Any] | None, list[float]]] = [
    ("lenet5", 1, _metrics("lenet5", 176050, 0.9133333333333333, 0.905, 12.345, 1234.5), [0.5, 0.8, 0.905]),
    ("lenet5", 2, _metrics("lenet5", 176050, 0.9266666666666666, 0.91, 11.5, 1301.25), [0.55, 0.85, 0.91]),
    ("linear", 1, _metrics("linear", 7850, 0.8166666666666667, 0.8, 1.25, 40123.0), [0.6, 0.75, 0.8]),
    ("linear", 2, _metrics("linear", 7850, 0.8433333333333334, 0.82, 1.5, 39876.5), [0.62, 0.78, 0.82]),
    ("alexnet_small", 1, {"status": "failed", "reason": FAILED_REASON}, []),
    ("alexnet_small", 2, None, []),  # crashed before writing metrics.json
]
COMMON = ["trainer.max_epochs=3"]


def write_job(folder: Path, num: int, overrides: list[str], metrics: dict[str, Any] | None, accs: list[float]) -> None:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"job": {"num": num}}}))
    if metrics is not None:
        history = {str(epoch): {"val/acc": acc, "train/loss": 1.0 - acc} for epoch, acc in enumerate(accs)}
        (folder / "metrics.json").write_text(json.dumps({**metrics, "history": history}, indent=2))


def make_sweep(root: Path, jobs: list[tuple[str, int, dict[str, Any] | None, list[float]]] = JOBS) -> Path:
    for num, (model, seed, metrics, accs) in enumerate(jobs):
        # Named by job number, as Hydra's default subdir does: the report must not rely on folder names.
        write_job(root / str(num), num, [*COMMON, f"model={model}", f"seed={seed}"], metrics, accs)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    return root


@dataclass(frozen=True)
class Fakes:
    jobs: list[tuple[str, int, dict[str, Any] | None, list[float]]] = field(default_factory=lambda: JOBS)
    failed_reason: str = FAILED_REASON
    write_job = staticmethod(write_job)
    make_sweep = staticmethod(make_sweep)


@pytest.fixture(scope="session")
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture(scope="session")
def fake_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sweep(tmp_path_factory.mktemp("sweep"))


@pytest.fixture(scope="session")
def report(fake_sweep: Path) -> Report:
    return write_report(fake_sweep)


@pytest.fixture
def sweep_copy(fake_sweep: Path, tmp_path: Path) -> Path:
    """A fresh copy without report files, for tests that write the report themselves."""
    return Path(shutil.copytree(fake_sweep, tmp_path / "sweep", ignore=shutil.ignore_patterns("report*", "*.png")))
