"""`python -m cnnexp task=summary` as a user runs it: the table, JSON and clean errors in-process (the `cli`
fixture), and HYDRA_FULL_ERROR's traceback in a process of its own."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import processes
import pytest
from support import ROOT, Cli


def cnnexp(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return processes.cnnexp(ROOT, *args, f"hydra.run.dir={tmp_path}", data=tmp_path / "data", env=env, timeout=120)


def test_summary_table_for_alexnet_with_1000_classes(cli: Cli, tmp_path: Path) -> None:
    code, err = cli("task=summary", "model=alexnet", "model.num_classes=1000", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 0, err
    assert "total params: 60,965,224 (61.0 M), trainable 60,965,224" in cli.out  # type: ignore[attr-defined]
    assert " 4  conv2    conv        F=5 S=1 P=2 g=2  256×27×27        307,456  223,948,800" in cli.out  # type: ignore[attr-defined]


def test_summary_as_json(cli: Cli, tmp_path: Path) -> None:
    assert cli("task=summary", "model=lenet5", "json=true", f"hydra.run.dir={tmp_path / 'run'}")[0] == 0
    summary = json.loads(cli.out)  # type: ignore[attr-defined]  # all of stdout is the JSON
    assert (summary["params"], summary["macs"], summary["input"]) == (176_050, 1_093_000, [1, 28, 28])
    assert [layer["output"] for layer in summary["layers"] if layer["name"] in ("pool1", "pool2")] == [
        [20, 12, 12],
        [20, 4, 4],
    ]


def test_a_user_mistake_is_one_paragraph_without_traceback(cli: Cli, tmp_path: Path) -> None:
    code, err = cli("task=summary", "+model.layers.conv1.strid=2", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    assert err.startswith("cnnexp: error: model.layers.conv1 (layer 0, conv): unknown field 'strid'. Did you mean")
    assert "Traceback" not in err and err.count("\n") == 1


@pytest.mark.slow
def test_hydra_full_error_shows_the_traceback_to_a_developer(tmp_path: Path) -> None:
    # A process: the traceback is what the interpreter prints for an exception left to it.
    run = cnnexp(tmp_path, "task=summary", "model.activation=rleu", env={"HYDRA_FULL_ERROR": "1"})
    assert run.returncode != 0
    assert "Traceback" in run.stderr and "unknown activation 'rleu'" in run.stderr
