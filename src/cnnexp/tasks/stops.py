"""A run stopped by SIGTERM or Ctrl-C: metrics.json says where, and the command that continues it is printed,
pasteable as it is (every override quoted for Hydra and for the shell)."""

from __future__ import annotations

import sys
from pathlib import Path

from cnnexp.checkpoint.overrides import given_overrides
from cnnexp.rundir.names import command, override, without
from cnnexp.train.results import read_json, write_json
from cnnexp.train.signals import Interrupted


def continue_command(run_dir: Path, checkpoint: Path | None, *extra: str) -> str:
    """This job's overrides, as given, then `ckpt_path=` (when there is a checkpoint), `extra` and its folder."""
    args = without(given_overrides(), "ckpt_path", "overwrite")
    if checkpoint is not None:
        args.append(override("ckpt_path", checkpoint))
    return command([*args, *extra, override("hydra.run.dir", run_dir)])


def interrupted(run_dir: Path, where: str, checkpoint: Path | None, rank_zero: bool) -> Interrupted:
    """Record the interruption in metrics.json (rank 0), say how to continue; the Interrupted to raise."""
    again = continue_command(run_dir, checkpoint)
    kept = f"checkpoint {checkpoint}" if checkpoint else "no checkpoint (nothing trained yet): it starts again"
    message = f"interrupted during {where}; {kept}. Continue this run with: {again}"
    if rank_zero:
        record = {"status": "interrupted", "phase": where, "checkpoint": str(checkpoint) if checkpoint else None}
        path = run_dir / "metrics.json"  # holds the run's start record: its config hash stays
        write_json(path, {**read_json(path), **record, "continue": again})
        print(f"cnnexp: {message}", file=sys.stderr, flush=True)
    return Interrupted(message)
