"""Under SLURM the Trainer requeues on the signal the job is sent: submitit's USR2, or Lightning's USR1."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig

from cnnexp.errors import ConfigError
from cnnexp.run import read_run
from cnnexp.tasks.assemble import assemble
from cnnexp.train.slurm import cluster_plugins, requeue_signal

Tiny = Callable[..., DictConfig]
SLURM_JOB = {"SLURM_NTASKS": "1", "SLURM_JOB_NAME": "cnnexp", "SLURM_JOB_ID": "42", "SLURM_PROCID": "0",
             "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "node1"}  # fmt: skip


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, signal.SIGUSR1),
        ({"SUBMITIT_EXECUTOR": "slurm"}, signal.SIGUSR2),
        ({"SUBMITIT_EXECUTOR": "slurm", "SUBMITIT_PREEMPT_SIGNAL": "USR1"}, signal.SIGUSR1),
        ({"SUBMITIT_EXECUTOR": "local"}, signal.SIGUSR1),
    ],
)
def test_the_requeue_signal_is_the_one_the_job_is_sent(env: dict[str, str], expected: signal.Signals) -> None:
    assert requeue_signal(env) == expected


def test_an_unknown_submitit_signal_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="SUBMITIT_PREEMPT_SIGNAL=USR9 is not a signal name"):
        requeue_signal({"SUBMITIT_EXECUTOR": "slurm", "SUBMITIT_PREEMPT_SIGNAL": "USR9"})


def test_outside_slurm_there_is_no_cluster_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in SLURM_JOB:
        monkeypatch.delenv(key, raising=False)
    assert cluster_plugins() == []


class SignalAt(pl.Callback):
    """Sends this process `signum` when training batch `index` starts: SLURM's warning before preemption."""

    def __init__(self, index: int, signum: signal.Signals) -> None:
        self.index, self.signum = index, signum

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, idx: int) -> None:
        if trainer.global_step == self.index:
            os.kill(os.getpid(), self.signum)


@pytest.mark.slow
def test_usr2_in_a_submitit_job_checkpoints_requeues_and_the_requeued_job_resumes(
    tiny_cfg: Tiny, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:  # fmt: skip
    # A fake `scontrol` that records how it was called: the requeue Lightning asks SLURM for.
    bin_dir, calls = tmp_path / "bin", tmp_path / "scontrol_calls.txt"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (bin_dir / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for key, value in {**SLURM_JOB, "SUBMITIT_EXECUTOR": "slurm"}.items():
        monkeypatch.setenv(key, value)

    cfg = tiny_cfg("trainer.accelerator=cpu", "trainer.devices=1")
    exp = assemble(read_run(cfg))
    exp.trainer.callbacks.append(SignalAt(3, signal.SIGUSR2))
    exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    hpc = exp.run_dir / "hpc_ckpt_1.ckpt"
    assert calls.read_text() == "requeue 42\n"
    assert torch.load(hpc, weights_only=True)["global_step"] == 3

    requeued = assemble(read_run(cfg))  # SLURM runs the same job again, in the same folder
    requeued.trainer.fit(requeued.module, datamodule=requeued.datamodule)
    assert requeued.trainer.ckpt_path == str(hpc)
    # The first job trained on after the signal (SLURM had not stopped it yet): the requeued job, resumed
    # mid-epoch from step 3, ends where it did.
    figures = ("train/loss", "train/acc", "val/loss", "val/acc")
    assert [float(requeued.trainer.callback_metrics[k]) for k in figures] == [
        float(exp.trainer.callback_metrics[k]) for k in figures
    ]
