"""A run stopped by SIGTERM or Ctrl-C: metrics.json says where, and the command that continues it is printed,
pasteable as it is (every override quoted for Hydra and for the shell): task=train's continues from its newest
checkpoint, and a task that trains nothing (test, predict, export) runs again with the checkpoint it reads."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cnnexp.config.task_names import FROM_CHECKPOINT
from cnnexp.run import Run
from cnnexp.rundir.claim import newest_checkpoint
from cnnexp.rundir.files import read_json, write_json
from cnnexp.rundir.names import command, override, without
from cnnexp.train.signals import Interrupted

# What a task is doing once its run holds its folder, as an interruption outside a Trainer names it (task=train:
# reading its data and building its model; its Trainer's phases are named in train/faults.py).
PHASES = {
    "train": "start-up", "test": "test", "predict": "prediction", "export": "export",
    "lr_find": "the learning-rate range test", "kernels": "the kernels' pictures", "summary": "the summary",
}  # fmt: skip


def continue_command(given: Sequence[str], run_dir: Path, checkpoint: Path | None, *extra: str) -> str:
    """This job's overrides, as `given`, then `ckpt_path=` (when there is a checkpoint), `extra` and its folder."""
    args = without(list(given), "ckpt_path", "overwrite")
    if checkpoint is not None:
        args.append(override("ckpt_path", os.path.abspath(checkpoint)))  # pasteable from any folder
    return command([*args, *extra, override("hydra.run.dir", run_dir)])


def stopped(run: Run, run_dir: Path) -> Interrupted:
    """An interruption outside a Trainer, recorded and said with the phase its task was in: task=train continues
    from the folder's newest checkpoint (or the one it was to resume); a task that reads its model from ckpt_path
    starts again with it."""
    task, ckpt_path, given = run.options.task, run.options.ckpt_path, run.invocation.overrides
    where = PHASES.get(task, f"task={task}")
    if task in FROM_CHECKPOINT:
        return interrupted(given, run_dir, where, ckpt_path, True, resumes=False)
    return interrupted(given, run_dir, where, newest_checkpoint(run_dir) or ckpt_path, True)


def interrupted(
    given: Sequence[str], run_dir: Path, where: str, checkpoint: Path | None, rank_zero: bool, resumes: bool = True
) -> Interrupted:
    """Record the interruption in metrics.json (rank 0), say how to continue (with the overrides `given`); the
    Interrupted to raise.

    `checkpoint`: what the run continues from, or (resumes=False) the model that a task training nothing reads."""
    checkpoint = Path(os.path.abspath(checkpoint)) if checkpoint is not None else None
    again = continue_command(given, run_dir, checkpoint)
    if not resumes:
        kept = f"it trains nothing, so it starts again with ckpt_path={checkpoint}"
    else:
        kept = f"checkpoint {checkpoint}" if checkpoint else "no checkpoint (nothing trained yet): it starts again"
    message = f"interrupted during {where}; {kept}. Continue this run with: {again}"
    if rank_zero:
        record = {"status": "interrupted", "phase": where, "checkpoint": str(checkpoint) if checkpoint else None}
        path = run_dir / "metrics.json"  # holds the run's start record: its config hash stays
        write_json(path, {**read_json(path), **record, "continue": again})
        print(f"cnnexp: {message}", file=sys.stderr, flush=True)
    return Interrupted(message)
