"""First contact as a new user has it: --help, shell completion and task=summary are cnnexp's own and light
(no Lightning, and no torch for --help and completion); a run prints one line about itself, not the noise."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from processes import cnnexp, start
from support import Cli

HEAVY = ("torch", "pytorch_lightning", "lightning_fabric", "torchvision", "torchmetrics", "matplotlib", "optuna")
# Runs cnnexp's entry point in a fresh interpreter, then prints which heavy libraries it imported (JSON, last line).
PROBE = """
import json, sys
sys.argv = ["cnnexp", *sys.argv[1:]]
from cnnexp.app import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy} if m in sys.modules)))
"""


def probe(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """(stdout before the probe's line, heavy modules imported) for `cnnexp ARGS` run from tmp_path."""
    run = cnnexp(tmp_path, *args, program=("-c", PROBE.format(heavy=repr(HEAVY))), env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    *lines, last = run.stdout.rstrip("\n").split("\n")
    return "\n".join(lines), json.loads(last)


def test_help_shows_tasks_groups_and_examples_without_importing_torch(tmp_path: Path) -> None:
    text, heavy = probe(tmp_path, "--help")
    assert heavy == []
    assert text.startswith("cnnexp: convolutional-network experiments declared in YAML.")
    for task in ("train", "test", "summary", "lr_find", "kernels"):
        assert f"\n  {task} " in text
    assert "\n  logger      csv, mlflow, tensorboard, wandb\n" in text
    assert "\n  callbacks   default, early_stopping, lr_finder\n" in text
    assert "schema" not in text and "hydra/" not in text  # no internal groups
    assert "python -m cnnexp model=alexnet trainer.gpus=2" in text and "--config-dir my_conf" in text


def test_shell_completion_offers_the_options_without_importing_torch(tmp_path: Path) -> None:
    text, heavy = probe(tmp_path, "-sc", "query=bash", env={"COMP_LINE": "cnnexp model=alex"})
    assert heavy == []
    assert text.split() == ["model=alexnet", "model=alexnet_small", "model=alexnet_torchvision"]


@pytest.mark.slow
def test_summary_imports_torch_but_not_lightning(tmp_path: Path) -> None:
    text, heavy = probe(tmp_path, "task=summary", f"hydra.run.dir={tmp_path / 'run'}")
    assert heavy == ["torch"]
    assert "total params: 176,050 (176.1 k), trainable 176,050" in text


def run_in(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m cnnexp ARGS` into tmp_path/run, the digits shared by the session's tests."""
    return cnnexp(tmp_path, *args, f"hydra.run.dir={tmp_path / 'run'}", data=tmp_path.parent / "data")


TINY = ("data.train_size=600", "data.val_size=100", "data.test_size=100", "trainer.max_epochs=1")


@pytest.mark.slow
def test_a_run_says_where_and_what_in_one_line_and_keeps_its_log(tmp_path: Path) -> None:
    run = run_in(tmp_path, *TINY, "trainer.log_every_n_steps=1", "logger=null")
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    start = [line for line in lines if line.startswith("run ")]
    assert start == [
        f"run {tmp_path / 'run'} on cpu ({_threads()} threads), precision 32-true; data=digits 1×28×28, batch 128: "
        f"500 train / 100 val / 100 test images, 10 classes, uint8 in memory on cpu (0.5 MiB), "
        f"mean {_stat(lines, 'mean')} std {_stat(lines, 'std')}"
    ]
    assert re.fullmatch(
        rf"test accuracy [01]\.\d{{4}} on 100 images  best val accuracy [01]\.\d{{4}} on 100  epochs 1 of 500 train images  "
        rf"\d+ images/s  run folder {re.escape(str(tmp_path / 'run'))}",
        lines[-1],
    ), lines[-1]
    for noise in ("💡", "Tip:", "LeafSpec", "multiple `ModelCheckpoint`", "GPU available"):
        assert noise not in run.stdout + run.stderr, noise
    log = (tmp_path / "run" / "cnnexp.log").read_text()
    assert "[cnnexp.train.notices][INFO] run " in log and "[cnnexp.tasks.outcome][INFO] test accuracy" in log
    assert "[pytorch_lightning.utilities.rank_zero][INFO] GPU available: False" in log  # Lightning's, kept here
    assert "💡" not in log and "LeafSpec" not in log
    assert not (tmp_path / "run" / "tb").exists(), "logger=null: no logger writes anything"


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _stat(lines: list[str], key: str) -> str:
    """The measured mean or std as the run printed it (checked for form, not for value)."""
    line = next(line for line in lines if line.startswith("run "))
    value = line.split(f"{key} ", 1)[1].split(" ")[0].rstrip(",")
    assert value.startswith("[0.") and value.endswith("]")
    return value


def test_a_group_set_to_null_is_dropped_not_a_traceback(cli: Cli, tmp_path: Path) -> None:
    code, err = cli("task=summary", "logger=null", "callbacks=null", "debug=null", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 0, err[-2000:]
    assert "Traceback" not in err


@pytest.mark.parametrize("flag", ["--cfg", "--help"])
def test_the_usual_hydra_flags_still_work(tmp_path: Path, flag: str) -> None:
    run = run_in(tmp_path, flag, *(("job",) if flag == "--cfg" else ()))
    assert run.returncode == 0, run.stderr[-2000:]
    assert ("model:" in run.stdout) if flag == "--cfg" else ("Tasks (task=NAME):" in run.stdout)


def test_help_into_a_reader_that_stops_early_ends_quietly(tmp_path: Path) -> None:
    """`cnnexp --help | head -3`: the pipe closes before the page is written; no BrokenPipeError traceback."""
    proc = start(tmp_path, "--help")
    proc.stdout.close()  # type: ignore[union-attr]  # closed long before the interpreter has started
    err = proc.stderr.read()  # type: ignore[union-attr]
    assert proc.wait(timeout=120) == 0 and err == ""
