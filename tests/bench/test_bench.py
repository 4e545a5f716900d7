"""The benchmark runs, at its tiny size, exactly as documented (docs/benchmarks.md), and writes every row.

No timing is asserted: on a shared CI machine the figures are noise at this size. What is checked is that the
command works end to end and that its table has every row of the issue, each with a ratio (or a reason).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support import ROOT

COLUMNS = ["figure", "device", "cnnexp", "peer", "ratio", "goal", "met"]
FLOOR = "Lightning's floor per training step"  # a reference row: measured, with no goal of its own
CPU_FIGURES = (
    "LeNet5 training throughput", "LeNet5 throughput against the plain loop, cnnexp's ratio vs the bare Lightning",
    *(("framework cost per training step", FLOOR, "what cnnexp adds per training step") * 2),
    "LeNet5 epoch (", "start-up:", "peak memory",
)  # fmt: skip
GPU_FIGURES = (
    "LeNet5 training throughput",
    "LeNet5 epoch (",
    "AlexNet (torchvision layout",
    "AlexNet training images/s",
    "LeNet5 epoch of",
)


def _bench(tmp_path: Path, *args: str) -> list[list[str]]:
    """Run `python bench/run.py --size tiny ARGS` and return its table's rows as cells (header first)."""
    out = tmp_path / "benchmarks_latest.md"
    env = {**os.environ, "CNNEXP_DATA": str(tmp_path.parent / "data")}  # the digits the other tests render
    command = [sys.executable, "bench/run.py", "--size", "tiny", "--threads", "1", "--out", str(out), *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert out.is_file()
    lines = [line for line in out.read_text().splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def _check(rows: list[list[str]], figures: tuple[str, ...]) -> None:
    header, body = rows[0], rows[1:]
    assert header == COLUMNS
    assert [next((f for f in figures if row[0].startswith(f)), None) for row in body] == list(figures)
    for row in body:
        assert len(row) == len(COLUMNS), row
        if row[-1].startswith("not measured"):
            assert row[-1].startswith("not measured: "), "a row that is not measured says why"
        else:
            assert any(ch.isdigit() for ch in row[4]), f"no figure in the ratio column: {row}"
            if row[0].startswith(FLOOR):
                assert row[-2:] == ["reference", "reference"]
            else:
                assert row[-1] in ("yes", "no")


@pytest.mark.slow
def test_tiny_benchmark_writes_every_row(tmp_path: Path) -> None:
    # One process for both halves: without a GPU the GPU rows' code (bf16-mixed, channels_last AlexNet) runs on
    # the CPU, so it cannot rot; on a GPU machine they run for real.
    rows = _bench(tmp_path, *([] if torch.cuda.is_available() else ["--gpu-rows-on-cpu"]))
    _check(rows, CPU_FIGURES + GPU_FIGURES)
    assert not any(row[-1].startswith("not measured") for row in rows[1:])


def test_without_a_gpu_the_gpu_rows_say_why_they_are_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # as `python bench/run.py` has it: its modules beside it
    monkeypatch.delitem(sys.modules, "processes", raising=False)  # tests/processes.py; bench/ has its own
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run = importlib.import_module("run")
    rows, notes = run._gpu_part(run.SIZES["tiny"], ROOT / "unused", run.parse([]))  # returns before using the folder
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in run.markdown(rows).splitlines()]
    _check([cells[0], *cells[2:]], GPU_FIGURES)  # the header, then the rows (past the |---| line)
    assert all(row[-1] == f"not measured: {run.NO_GPU}" for row in cells[2:]) and notes == []
