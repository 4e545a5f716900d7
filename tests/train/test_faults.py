"""Faults: a diverging loss, SIGTERM mid-epoch then resume, a kill during a checkpoint write, a hostile checkpoint."""

from __future__ import annotations

import os
import pickle
import shlex
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from helpers import metrics
from pause import TESTS, go, pause_overrides, wait_until_paused
from processes import finish, start
from support import Cli

from cnnexp.train.faults import AtomicCheckpointIO

LONG = (
    "data.train_size=1500", "data.val_size=300", "data.test_size=300", "data.batch_size=20", "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false", "seed=5",
)  # fmt: skip


def test_a_diverging_loss_stops_at_once_and_is_recorded(tmp_path: Path, cli: Cli) -> None:
    run = tmp_path / "run"
    code, err = cli(*LONG[:4], "optimizer=sgd", "optimizer.lr=1e6", f"hydra.run.dir={run}")
    assert code == 3
    assert err.strip().splitlines()[-1].startswith("cnnexp: error: train/loss is nan at step ")
    assert "no checkpoint had been written yet" in err and "Traceback" not in err
    assert metrics(run)["status"] == "failed" and "training diverged" in metrics(run)["reason"]


@pytest.mark.slow
def test_sigterm_mid_epoch_then_resume_ends_like_an_uninterrupted_run(tmp_path: Path, cli: Cli) -> None:
    # The signal needs a process of its own; the uninterrupted run and the printed command run in this one.
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    assert cli(*LONG, f"hydra.run.dir={whole}")[0] == 0
    pause = pause_overrides(tmp_path, epoch=1, batch=30)  # the signal lands mid-epoch 1 on any machine
    proc = start(tmp_path, *LONG, *pause, f"hydra.run.dir={cut}", data=tmp_path.parent / "data", pythonpath=TESTS)
    wait_until_paused(proc, tmp_path)
    proc.send_signal(signal.SIGTERM)
    go(tmp_path)
    code, _, err = finish(proc)
    assert code == 143, err[-2000:]
    interrupted = cut / "checkpoints" / "interrupted.ckpt"
    state = torch.load(interrupted, weights_only=True)
    done = state["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["completed"]
    assert (state["epoch"], done) == (1, 31)  # held after batch 30 of epoch 1 (60 per epoch), stopped there
    assert f"ckpt_path={interrupted}" in err and metrics(cut)["status"] == "interrupted"

    # The printed command: this run's overrides, its own callback (pause.PauseAt, which the checkpoint's record
    # names) among them; without it cnnexp would refuse a record naming a class it does not know.
    again = shlex.split(metrics(cut)["continue"])
    assert again[:3] == ["python", "-m", "cnnexp"] and f"ckpt_path={interrupted}" in again
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        code, err = cli(*again[3:])  # pause.PauseAt is importable here: tests/ is on this process's path
    assert code == 0, err[-2000:]
    # Lightning warns that a mid-epoch resume "can cause unreliable results"; cnnexp's loaders resume exactly.
    assert not [w for w in warned if "not resumable" in str(w.message)]
    keys = ("test_acc", "test_loss", "best_val_acc", "epochs")
    assert [metrics(cut)[k] for k in keys] == [metrics(whole)[k] for k in keys]


@pytest.mark.slow
def test_a_kill_during_a_checkpoint_write_leaves_the_previous_one_intact(tmp_path: Path) -> None:
    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1, "w": torch.ones(3)}, target)
    writer = (
        "import sys, time, torch\n"
        "from cnnexp.train.faults import AtomicCheckpointIO\n"
        "def slow(obj, handle):\n"
        "    handle.write(b'partial'); handle.flush(); print('writing', flush=True); time.sleep(60)\n"
        "torch.save = slow\n"
        f"AtomicCheckpointIO().save_checkpoint({{'step': 2}}, {str(target)!r})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    proc.kill()
    proc.wait(timeout=30)
    assert torch.load(target, weights_only=True)["step"] == 1  # the previous checkpoint, whole


class Payload:
    def __reduce__(self) -> tuple:
        return (os.system, ("touch pwned",))


@pytest.mark.parametrize("task", ["train", "test"])
def test_a_checkpoint_carrying_code_is_refused(cli: Cli, tmp_path: Path, task: str) -> None:
    # In-process: were the payload unpickled, it would run here, in tmp_path (where cli runs).
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Payload()}, evil, pickle_module=pickle)
    code, err = cli(f"task={task}", f"ckpt_path={evil}", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"cnnexp: error: ckpt_path={evil}: refused: it holds pickled objects that only code could")
    assert not (tmp_path / "pwned").exists()


def test_an_unreadable_checkpoint_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(b"not a checkpoint")
    code, err = cli(f"ckpt_path={broken}", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2 and err.startswith(f"cnnexp: error: ckpt_path={broken}: not a readable checkpoint")
