"""Tasks that `task=NAME` selects, and the one place where a run takes its folder and where its errors become
an exit code or a failed sweep job. A task's module is imported only when that task runs: task=summary never
imports Lightning.

Every run, before it writes anything, holds its folder (rundir/claim.py): a running run's lock, and a decision
about what the folder held. Its metrics.json says "running" from then on, and at the end "ok", "failed"
(with the reason) or "interrupted" (with what to continue from), always with the hash of the resolved config
that skip_completed compares.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from cnnexp.errors import Stop, UserFacingError
from cnnexp.exits import traceback_wanted
from cnnexp.logs import FILE_ONLY, is_rank_zero
from cnnexp.run import Run, read_run, resolved
from cnnexp.rundir.claim import Claim, Refused, Request, claim
from cnnexp.rundir.names import register_resolvers
from cnnexp.rundir.record import config_hash, save_config
from cnnexp.task_names import TASK_MODULES
from cnnexp.tasks.base import TASKS, optimized
from cnnexp.tasks.stops import stopped
from cnnexp.train.results import read_json, write_json
from cnnexp.train.signals import Interrupted, stop_on_signals

log = logging.getLogger(__name__)
# Launchers run jobs in other processes (joblib, submitit), which import this module to run the task; Hydra
# resolves the job's folder name there, with the resolvers conf/config.yaml names.
register_resolvers()


def task_named(name: str) -> Callable[[Run], Any]:
    """The task registered as `name`, importing only its module (task_names.py); every
    module of this package when the name is not listed there."""
    if name in TASK_MODULES:
        importlib.import_module(f"cnnexp.tasks.{TASK_MODULES[name][0]}")
    if name not in TASKS:
        import_all_tasks()  # registered in a module not listed, or a misspelling: the error lists every task
    return TASKS.get(name, "task")


def import_all_tasks() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"cnnexp.tasks.{module.name}")


def run_task(cfg: DictConfig) -> Any:
    """Run `cfg.task` in its folder.

    A single run ends on a user mistake with one paragraph and its exit code (2; 3 for a failed training),
    on a bug with the traceback and 1, on SIGTERM or Ctrl-C with 143. In a multirun a failing job does not
    stop the others (its failure goes into its metrics.json); an interruption, or a job folder that holds
    another run, stops the sweep.
    """
    held: Claim | None = None
    run: Run | None = None
    try:
        with stop_on_signals():
            run = read_run(cfg)
            tree = resolved(cfg)
            held = _hold(run, cfg, tree) if is_rank_zero() else None
            if held is not None and held.skipped is not None:
                return _skip(run, held.skipped)
            if held is not None and held.resume_from is not None:
                run = replace(run, options=replace(run.options, ckpt_path=held.resume_from))
            # Also opens this process's log file (each DDP rank has one), naming the process to look for.
            log.info("task=%s in %s, pid %d", run.options.task, run.output_dir, os.getpid(), extra=FILE_ONLY)
            result = task_named(run.options.task)(run)
            if held is not None:
                _stamp(run.output_dir, config_hash(tree), run.options.task, done=True)
            return result
    except Stop as stop:
        _stopped(held, run, stop)
        raise
    except Refused as refused:
        _refused(refused)
    except Exception as err:
        return _failed(cfg, held, err)
    finally:
        if held is not None:
            held.release()


def _hold(run: Run, cfg: DictConfig, tree: dict[str, Any]) -> Claim:
    """Take the run's folder, record its config and that it runs."""
    options = run.options
    request = Request(
        task=options.task, config_hash=config_hash(tree), resume_from=options.ckpt_path, overwrite=options.overwrite,
        skip_completed=options.skip_completed, in_sweep=_in_multirun(), resolved=tree,
        requeued=int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0,
    )  # fmt: skip
    held = claim(run.output_dir, request)
    if held.skipped is None:
        save_config(run.output_dir, cfg, tree)
        _stamp(run.output_dir, request.config_hash, options.task, done=False)
    return held


def _stamp(folder: Path, digest: str, task: str, done: bool) -> None:
    """metrics.json: "running" at the start; at the end the task's record (or "ok" for tasks that write none)."""
    path = folder / "metrics.json"
    old = read_json(path) if done else {}
    if old.get("status") in (None, "running"):
        old["status"] = "ok" if done else "running"
    write_json(path, {**old, "task": task, "config_hash": digest})


def _skip(run: Run, done: dict[str, Any]) -> float:
    """A finished job is not touched: not even a figure it lacks fails it (a sweeper reads NaN then)."""
    figure = done.get("test_acc")
    said = f" (test accuracy {figure:.4f})" if isinstance(figure, (int, float)) else ""
    print(f"skipped: {run.output_dir / 'metrics.json'} says this job finished with the same config{said}", flush=True)
    try:
        return optimized(run, done)
    except UserFacingError:
        return float("nan")


def _stopped(held: Claim | None, run: Run | None, stop: Stop) -> None:
    """An interruption the task did not record (outside a Trainer): record it where the run holds a folder."""
    if isinstance(stop, Interrupted) and not stop.message and held is not None and run is not None:
        stop.message = stopped(held.folder, run.options.task, run.options.ckpt_path).message


def _refused(refused: Refused) -> NoReturn:
    """The folder holds another run: nothing is written there. A sweep stops, since its other jobs would be
    refused too (a re-run into a sweep folder): the report is written and the process exits 2."""
    print(f"cnnexp: error: {refused}", file=sys.stderr, flush=True)
    raise Stop(refused.exit_code, str(refused)) if _in_multirun() else SystemExit(refused.exit_code)


def _failed(cfg: DictConfig, held: Claim | None, err: Exception) -> float:
    """Record the failure where this run holds its folder; a single run then exits, a sweep job returns NaN."""
    reason = str(err) if isinstance(err, UserFacingError) else f"{type(err).__name__}: {err}"
    in_sweep = _in_multirun()
    if in_sweep and not isinstance(err, UserFacingError):
        log.exception("job failed")  # a bug, not a user mistake: keep the traceback in the job's log
    if in_sweep and held is None and is_rank_zero():
        held = _hold_for_failure(cfg, err)
    if held is not None:
        _record_failure(held.folder, err, reason)
    if in_sweep:
        print(f"cnnexp: error: job failed, the sweep goes on: {reason}", file=sys.stderr)
        return float("nan")  # what a sweeper (Optuna) reads as a failed trial
    code = err.exit_code if isinstance(err, UserFacingError) else 1
    if code != 1 and not traceback_wanted():
        print(f"cnnexp: error: {err}", file=sys.stderr, flush=True)
    else:
        traceback.print_exc()
    if held is None:
        _remove_if_empty(_run_dir(cfg))  # the folder Hydra made for a run that never started
    raise SystemExit(code)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (or not there): it is not ours to remove


def _hold_for_failure(cfg: DictConfig, err: Exception) -> Claim | None:
    """A sweep job whose config could not even be read: record that in its folder, if the folder is free."""
    folder = _run_dir(cfg)
    try:
        held = claim(folder, Request(task="", config_hash="", in_sweep=True))
    except Refused as refused:
        _refused(refused)
    save_config(folder, cfg, {})  # the report finds a job by its .hydra/overrides.yaml
    return held


def _record_failure(folder: Path, err: Exception, reason: str) -> None:
    code = err.exit_code if isinstance(err, UserFacingError) else 1
    path = folder / "metrics.json"
    try:
        write_json(path, {**read_json(path), "status": "failed", "reason": reason, "exit_code": code})
    except UserFacingError as full:  # the disk that refused a checkpoint may refuse this too
        print(f"cnnexp: error: {full}", file=sys.stderr)


def _in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _run_dir(cfg: DictConfig) -> Path:
    """The job's folder, also when the config could not be read into a Run (a broken interpolation)."""
    try:
        return Path(str(cfg.output_dir))
    except OmegaConfBaseException:
        return Path(HydraConfig.get().runtime.output_dir)
