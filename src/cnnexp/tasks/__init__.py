"""Tasks that `task=NAME` selects, and the one place where errors become an exit or a failed sweep job."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from cnnexp.errors import TrainingFailed, UserFacingError
from cnnexp.run import read_run
from cnnexp.tasks import export, kernels, predict, summary, train  # noqa: F401  (importing registers the tasks)
from cnnexp.tasks.base import TASKS
from cnnexp.train.results import write_json

log = logging.getLogger(__name__)


def run_task(cfg: DictConfig) -> Any:
    """Run `cfg.task`.

    A single run ends on a ConfigError with one paragraph and exit code 2 (no traceback). In a multirun a
    failing job must not stop the others: its failure goes into its metrics.json, and the sweep goes on.
    """
    try:
        run = read_run(cfg)
        return TASKS.get(run.options.task, "task")(run)
    except Exception as err:
        if _in_multirun():
            return _record_failure(cfg, err)
        if isinstance(err, TrainingFailed):
            _record_failure(cfg, err)
        if isinstance(err, UserFacingError) and os.environ.get("HYDRA_FULL_ERROR") != "1":
            print(f"cnnexp: error: {err}", file=sys.stderr)
            sys.exit(err.exit_code)
        raise


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _record_failure(cfg: DictConfig, err: Exception) -> float:
    reason = str(err) if isinstance(err, UserFacingError) else f"{type(err).__name__}: {err}"
    if not isinstance(err, UserFacingError):
        log.exception("job failed")  # a bug, not a user mistake: keep the traceback in the job's log
    if _in_multirun():
        print(f"cnnexp: error: job failed, the sweep goes on: {reason}", file=sys.stderr)
    metrics = _run_dir(cfg) / "metrics.json"
    old = json.loads(metrics.read_text()) if metrics.is_file() else {}
    write_json(metrics, {**old, "status": "failed", "reason": reason})
    return float("nan")  # what a sweeper (Optuna) reads as a failed trial


def _run_dir(cfg: DictConfig) -> Path:
    """The job's folder, also when the config could not be read into a Run (a broken interpolation)."""
    try:
        return Path(str(cfg.output_dir))
    except OmegaConfBaseException:
        return Path(HydraConfig.get().runtime.output_dir)
