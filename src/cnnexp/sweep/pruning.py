"""The job side of Optuna pruning: report each epoch's validation figure to the trial, stop when it is pruned.

The sweeper (sweep/optuna.py) tells each job its trial through the job's environment (hydra.job.env_set: the
storage, the study, the trial number), so that a job running in another process or on another machine finds
the trial in the study's storage. Jobs that are no Optuna trial get no callback.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytorch_lightning as pl

ENV_STORAGE, ENV_STUDY, ENV_TRIAL = "CNNEXP_OPTUNA_STORAGE", "CNNEXP_OPTUNA_STUDY", "CNNEXP_OPTUNA_TRIAL_ID"
ENV_PRUNER, ENV_PRUNER_ARGS, ENV_MONITOR = "CNNEXP_OPTUNA_PRUNER", "CNNEXP_OPTUNA_PRUNER_ARGS", "CNNEXP_OPTUNA_MONITOR"


class Pruned(Exception):
    """The trial was pruned: the job stops training early, on purpose (metrics.json says "pruned")."""


class TrialPruning(pl.Callback):
    """After each validation epoch: report `monitor` to the trial, raise Pruned when the pruner says so."""

    def __init__(self, trial: Any, monitor: str) -> None:
        self.trial, self.monitor = trial, monitor

    def on_validation_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None:
            return
        epoch = trainer.current_epoch
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            raise Pruned(f"pruned by Optuna after epoch {epoch}: {self.monitor} {float(value):.4f}")


def trial_pruning() -> list[pl.Callback]:
    """[TrialPruning] when this job is a trial of cnnexp's Optuna sweeper with a pruner; [] otherwise."""
    env = os.environ
    if env.get(ENV_PRUNER, "none") == "none" or ENV_TRIAL not in env:
        return []
    import optuna  # only in trials: optuna takes a while to import

    from cnnexp.sweep.choices import make_pruner

    pruner = make_pruner(env[ENV_PRUNER], json.loads(env.get(ENV_PRUNER_ARGS, "{}")))
    study = optuna.load_study(study_name=env[ENV_STUDY], storage=env[ENV_STORAGE], pruner=pruner)
    return [TrialPruning(optuna.Trial(study, int(env[ENV_TRIAL])), env.get(ENV_MONITOR, "val/acc"))]
