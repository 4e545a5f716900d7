"""Preemption under SLURM: Lightning's own requeue, on the signal the job is actually sent.

Lightning's SLURMEnvironment (auto_requeue) catches the requeue signal, writes `hpc_ckpt_N.ckpt` into the
Trainer's default_root_dir (the run folder), and requeues the job with `scontrol requeue`; the requeued job
runs the same Hydra job in the same folder, and Lightning resumes from that checkpoint by itself.
Lightning listens for SIGUSR1 by default (`#SBATCH --signal=SIGUSR1@90` in a hand-written script), but jobs
that Hydra's submitit launcher starts (`launcher=slurm`) are sent submitit's preemption signal: USR2, or
what SUBMITIT_PREEMPT_SIGNAL names. Listening for the wrong one would let the job die without a checkpoint.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

from lightning_fabric.plugins.environments import SLURMEnvironment

from cnnexp.errors import ConfigError


def requeue_signal(env: Mapping[str, str]) -> signal.Signals:
    """The signal SLURM sends this job ahead of its end: submitit's under submitit, else Lightning's SIGUSR1."""
    if env.get("SUBMITIT_EXECUTOR") != "slurm":
        return signal.SIGUSR1
    name = env.get("SUBMITIT_PREEMPT_SIGNAL", "USR2")
    try:
        return signal.Signals[f"SIG{name.upper().removeprefix('SIG')}"]
    except KeyError:
        raise ConfigError(f"SUBMITIT_PREEMPT_SIGNAL={name} is not a signal name; use e.g. USR2 or USR1.") from None


def cluster_plugins() -> list[SLURMEnvironment]:
    """The Trainer plugin that requeues on preemption, when running as a SLURM job; none otherwise."""
    if not SLURMEnvironment.detect():
        return []
    return [SLURMEnvironment(auto_requeue=True, requeue_signal=requeue_signal(os.environ))]
