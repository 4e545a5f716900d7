"""The one lifecycle every run goes through, from the command line, a sweep's job or the Python API: read the
Run, take its folder (claim and lock), record its config, mark it running, run the task, stamp the end.

Every run, before it writes anything, holds its folder (rundir/claim.py): a running run's lock, and a decision
about what the folder held. Its metrics.json says "running" from then on, and at the end "ok", "failed"
(with the reason) or "interrupted" (with what to continue from), always with the hash of the resolved config
that skip_completed compares. Errors are recorded here and raised on: the door that started the run (app.py
for the command line and sweeps, api.py for Python) decides what the user sees.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from cnnexp.config.invocation import Invocation
from cnnexp.config.logs import FILE_ONLY, is_rank_zero
from cnnexp.config.task_names import BUILD_CONFIG_MODEL
from cnnexp.errors import Stop, UserFacingError
from cnnexp.model.builder import plan
from cnnexp.run import Run, read_run, resolved
from cnnexp.rundir.claim import Claim, Refused, Request, claim
from cnnexp.rundir.files import read_json, write_json
from cnnexp.rundir.record import config_hash, save_config
from cnnexp.tasks import task_named
from cnnexp.tasks.base import optimized
from cnnexp.tasks.stops import stopped
from cnnexp.train.signals import Interrupted, stop_on_signals

log = logging.getLogger(__name__)


def execute(cfg: DictConfig, started: Invocation, check: Callable[[Run], None] | None = None) -> Any:
    """Run `cfg.task` in its folder; what the task returns (the figure a sweeper optimises, or its own result).
    `check`: what the door itself refuses in a run (the Python API: DDP), before the folder is taken.

    A failure is recorded in the folder the run holds (in a sweep, also for a job whose config could not be
    read, where its folder is free) and raised again; an interruption is recorded and raised as a Stop."""
    held: Claim | None = None
    run: Run | None = None
    try:
        with stop_on_signals():
            run = read_run(cfg, started)
            if check is not None:
                check(run)
            _plan_model(run)
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
    except Refused:
        raise  # the folder holds another run: nothing is written there
    except Exception as err:
        _failed(cfg, started, held, err)
        raise
    finally:
        if held is not None:
            held.release()


def _plan_model(run: Run) -> None:
    """A mistake in the model's layers (a filter larger than its input, a head that does not end in
    num_classes) is found from the config alone, as the sweep's preflight finds it: before the task imports
    Lightning (seconds on a small machine) and before the run takes a folder it would only record a failure in."""
    if run.options.task in BUILD_CONFIG_MODEL:
        plan(run.model)


def _hold(run: Run, cfg: DictConfig, tree: dict[str, Any]) -> Claim:
    """Take the run's folder, record its config and that it runs."""
    options = run.options
    request = Request(
        task=options.task, config_hash=config_hash(tree), resume_from=options.ckpt_path, overwrite=options.overwrite,
        skip_completed=options.skip_completed, in_sweep=run.invocation.multirun, resolved=tree,
        requeued=int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0,
    )  # fmt: skip
    held = claim(run.output_dir, request)
    if held.skipped is None:
        save_config(run.output_dir, cfg, tree, run.invocation)
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
        stop.message = stopped(run, held.folder).message


def _failed(cfg: DictConfig, started: Invocation, held: Claim | None, err: Exception) -> None:
    """Record the failure where this run holds its folder; a sweep job whose config could not even be read takes
    its folder for that record, and a single run that never started leaves no empty folder behind."""
    if started.multirun and not isinstance(err, UserFacingError):
        log.exception("job failed")  # a bug, not a user mistake: keep the traceback in the job's log
    if started.multirun and held is None and is_rank_zero():
        held = _hold_for_failure(cfg, started)
    if held is not None:
        _record_failure(held.folder, err)
    elif not started.multirun:
        _remove_if_empty(job_dir(cfg, started))  # the folder Hydra made for a run that never started


def failure_reason(err: BaseException) -> str:
    """What metrics.json and a sweep's line say about a failed job."""
    return str(err) if isinstance(err, UserFacingError) else f"{type(err).__name__}: {err}"


def _remove_if_empty(folder: Path | None) -> None:
    try:
        if folder is not None:
            folder.rmdir()
    except OSError:
        pass  # not empty (or not there): it is not ours to remove


def _hold_for_failure(cfg: DictConfig, started: Invocation) -> Claim | None:
    """A sweep job whose config could not even be read: record that in its folder, if the folder is free (a
    folder that holds another run is Refused, which stops the sweep)."""
    folder = job_dir(cfg, started)
    if folder is None:
        return None
    held = claim(folder, Request(task="", config_hash="", in_sweep=True))
    save_config(folder, cfg, {}, started)  # the report finds a job by its .hydra/overrides.yaml
    return held


def _record_failure(folder: Path, err: Exception) -> None:
    code = err.exit_code if isinstance(err, UserFacingError) else 1
    path = folder / "metrics.json"
    try:
        write_json(path, {**read_json(path), "status": "failed", "reason": failure_reason(err), "exit_code": code})
    except UserFacingError as full:  # the disk that refused a checkpoint may refuse this too
        log.error(f"the failure could not be recorded in {path}: {full}")


def job_dir(cfg: DictConfig, started: Invocation) -> Path | None:
    """The job's folder, also when the config could not be read into a Run (a broken interpolation)."""
    try:
        return Path(str(cfg.output_dir))
    except OmegaConfBaseException:
        return started.job_dir
