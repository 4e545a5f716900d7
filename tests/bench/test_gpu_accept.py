"""bench/gpu_accept.py, the GPU acceptance run, as far as a machine without a GPU takes it: the commands it would
run, its refusal to run without a GPU, and how it reads and judges a step's results."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
import torch
from support import ROOT

SCRIPT = ROOT / "bench" / "gpu_accept.py"


def _accept(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def accept(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # as `python bench/gpu_accept.py` has it: gpu.py beside it
    return importlib.import_module("gpu_accept")


def test_dry_run_prints_every_step_and_runs_nothing(tmp_path: Path) -> None:
    out = tmp_path / "accept"
    run = _accept("--dry-run", "--out", str(out))
    assert (run.returncode, run.stderr) == (0, "")
    lines = run.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["train", "sweep", "bf16", "compile", "export", "predict"]
    assert lines[0] == (
        "train    python -m cnnexp data.train_size=512 data.val_size=128 data.test_size=128 data.batch_size=64 "
        "trainer.max_epochs=1 trainer.enable_progress_bar=false callbacks.pictures=null model=alexnet trainer.gpus=1 "
        f"hydra.run.dir={out / 'train'}"
    )
    assert "-m " in lines[1] and "launcher=local_parallel seed=1,2" in lines[1]
    assert "trainer.precision=bf16-mixed" in lines[2] and "callbacks.speed.compile=true" in lines[3]
    assert (
        "task=export ckpt_path=TRAIN_CHECKPOINT" in lines[4] and "task=predict ckpt_path=TRAIN_CHECKPOINT" in lines[5]
    )
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the script runs for real")
def test_without_a_gpu_it_says_so_and_runs_nothing(tmp_path: Path) -> None:
    run = _accept("--out", str(tmp_path / "accept"))
    assert run.returncode == 2
    assert run.stderr == (
        "gpu_accept: no GPU here (torch.cuda.is_available() is False); nothing to accept. --dry-run prints the commands.\n"
    )
    assert not (tmp_path / "accept").exists()


def test_an_output_folder_that_exists_is_refused(tmp_path: Path) -> None:
    run = _accept("--out", str(tmp_path))
    assert (run.returncode, run.stderr) == (2, f"gpu_accept: {tmp_path} exists; give --out a new folder.\n")


def test_the_device_and_precision_are_read_from_the_run_header(accept: ModuleType, tmp_path: Path) -> None:
    header = "run {} on {}, precision bf16-mixed; data=digits 1×28×28, batch 64: ...\n"
    (tmp_path / "cnnexp.log").write_text(header.format(tmp_path, "cuda:1 (NVIDIA H100 80GB HBM3) × 2 processes"))
    assert accept.header(tmp_path) == ("cuda:1", "NVIDIA H100 80GB HBM3", "bf16-mixed")
    (tmp_path / "cnnexp.log").write_text(header.format(tmp_path, "cpu (16 threads)"))
    with pytest.raises(AssertionError, match=r"cnnexp\.log names no CUDA device: the run did not train on the GPU$"):
        accept.header(tmp_path)


def test_steps_that_cannot_run_fail_with_the_reason(accept: ModuleType, tmp_path: Path) -> None:
    planned = {step.name: step for step in accept.steps(tmp_path, "bf16-mixed", {})}
    assert accept.run_step(planned["export"], {}, tmp_path, time.monotonic() + 60, {}) == (
        False, "not run: needs the checkpoint of step train, which failed"
    )  # fmt: skip
    assert accept.run_step(planned["train"], {}, tmp_path, time.monotonic() - 1, {}) == (
        False, "not run: the 290 s budget is spent"
    )  # fmt: skip
