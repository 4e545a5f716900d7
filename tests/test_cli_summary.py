"""`python -m cnnexp task=summary` as a user runs it: the table, JSON, and clean errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import processes
from support import ROOT


def cnnexp(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return processes.cnnexp(ROOT, *args, f"hydra.run.dir={tmp_path}", data=tmp_path / "data", env=env, timeout=120)


def test_summary_table_for_alexnet_with_1000_classes(tmp_path: Path) -> None:
    run = cnnexp(tmp_path, "task=summary", "model=alexnet", "model.num_classes=1000")
    assert run.returncode == 0, run.stderr
    assert "total params: 60,965,224 (61.0 M), trainable 60,965,224" in run.stdout
    assert " 4  conv2    conv        F=5 S=1 P=2 g=2  256×27×27        307,456  223,948,800" in run.stdout


def test_summary_as_json(tmp_path: Path) -> None:
    run = cnnexp(tmp_path, "task=summary", "model=lenet5", "json=true")
    summary = json.loads(run.stdout)
    assert (summary["params"], summary["macs"], summary["input"]) == (176_050, 1_093_000, [1, 28, 28])
    assert [layer["output"] for layer in summary["layers"] if layer["name"] in ("pool1", "pool2")] == [[20, 12, 12], [20, 4, 4]]


def test_a_user_mistake_is_one_paragraph_without_traceback(tmp_path: Path) -> None:
    run = cnnexp(tmp_path, "task=summary", "+model.layers.conv1.strid=2")
    assert run.returncode == 2
    assert run.stderr.startswith("cnnexp: error: model.layers.conv1 (layer 0, conv): unknown field 'strid'. Did you mean")
    assert "Traceback" not in run.stderr and run.stderr.count("\n") == 1


def test_hydra_full_error_shows_the_traceback_to_a_developer(tmp_path: Path) -> None:
    run = cnnexp(tmp_path, "task=summary", "model.activation=rleu", env={"HYDRA_FULL_ERROR": "1"})
    assert run.returncode != 0
    assert "Traceback" in run.stderr and "unknown activation 'rleu'" in run.stderr
