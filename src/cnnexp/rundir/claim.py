"""Who may write into a run folder: a new run, the run it continues, or nobody.

A run takes its folder by locking it (rundir/lock.py), then looks at what the folder holds. A folder that
holds a finished, failed, interrupted or crashed run is never written over silently: the new run is refused
with the ways forward, unless it continues that run (`ckpt_path` inside the folder, or a re-run sweep whose
job was interrupted with the same settings), skips it (`skip_completed=true` and the same resolved config,
compared by hash), or replaces it (`overwrite=true`, or a damaged metrics.json under skip_completed).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cnnexp.errors import ConfigError
from cnnexp.rundir.lock import FolderLock
from cnnexp.rundir.record import NOT_IDENTITY

METRICS = "metrics.json"
LOCK = "run.lock"
CHECKPOINTS = "checkpoints"
INTERRUPTED = "interrupted.ckpt"  # train/faults.py writes it on SIGTERM or Ctrl-C
LAST = "last.ckpt"  # conf/callbacks/default.yaml `last`, after every epoch
HPC = "hpc_ckpt_"  # Lightning's checkpoint on SLURM's preemption signal, in the run folder (train/slurm.py)
RESOLVED = Path(".hydra") / "resolved.yaml"  # the job's whole config, interpolations resolved
# What a run writes; a replaced run loses these (never other files a user keeps in the folder). Logs stay.
RESULTS = (".hydra", CHECKPOINTS, "tb", "pictures", METRICS, "summary.txt", "summary.json")
OUTPUTS = "outputs"  # metrics.json's list of the other files the run wrote there (rundir/outputs.py): lost too


class Refused(ConfigError):
    """This run may not write into its folder; the message says what the folder holds and the ways forward."""


@dataclass(frozen=True)
class Previous:
    """What a folder holds: status "none", "damaged" (unreadable metrics.json), "died" (a run that was
    running when its process ended without a word), or the status its metrics.json records."""

    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    problem: str = ""


def previous_run(folder: Path) -> Previous:
    """Read while holding the folder's lock: a "running" record then means a run that died."""
    path = folder / METRICS
    if not path.is_file():
        ckpts = folder / CHECKPOINTS
        return Previous("died") if ckpts.is_dir() and any(ckpts.glob("*.ckpt")) else Previous("none")
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return Previous("damaged", problem=str(err))
    if not isinstance(metrics, dict):
        return Previous("damaged", problem="not a JSON object")
    status = str(metrics.get("status", "damaged"))
    return Previous("died" if status == "running" else status, metrics)


@dataclass(frozen=True)
class Request:
    """What the new run is and what its options allow."""

    task: str
    config_hash: str
    resume_from: Path | None = None  # ckpt_path of task=train
    overwrite: bool = False
    skip_completed: bool = False
    in_sweep: bool = False
    requeued: bool = False  # SLURM runs this job again after a preemption (SLURM_RESTART_COUNT > 0)
    resolved: dict[str, Any] = field(default_factory=dict)  # for naming the keys that changed


@dataclass
class Claim:
    """A folder this process holds: `skipped` set means the job is done; `resume_from` the checkpoint it continues."""

    folder: Path
    lock: FolderLock
    resume_from: Path | None = None
    skipped: dict[str, Any] | None = None

    def release(self) -> None:
        self.lock.release()


def claim(folder: Path, request: Request) -> Claim:
    """Lock `folder` and decide what this run may do there; Refused (lock released) when it may not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)  # Hydra made it already, unless the task runs without Hydra
        lock = FolderLock(folder / LOCK)
        acquired = lock.acquire()
    except OSError as err:
        raise Refused(
            f"cannot write into the run folder {folder} ({err.strerror or err}); point hydra.run.dir (hydra.sweep.dir "
            f"for sweeps) at a folder you can write to."
        ) from None
    if not acquired:
        raise Refused(
            f"{folder} is in use by a running run ({lock.holder()}); wait for it to end, or give this run a folder "
            f"of its own (leave hydra.run.dir unset and every run gets a new one)."
        )
    try:
        taken = _decide(folder, request, previous_run(folder), lock)
    except BaseException:
        lock.release()
        raise
    if taken.skipped is None:
        remove_leftovers(folder)
    return taken


def _decide(folder: Path, request: Request, prev: Previous, lock: FolderLock) -> Claim:
    if prev.status == "none":
        return Claim(folder, lock)
    given = request.resume_from
    if request.task == "train" and given is not None and _inside(given, folder):
        return Claim(folder, lock, resume_from=given)
    if request.overwrite:
        return _fresh(folder, lock, prev)
    same = prev.metrics.get("config_hash") == request.config_hash
    if prev.status == "ok" and request.skip_completed and same:
        return Claim(folder, lock, skipped=prev.metrics)
    if prev.status == "damaged" and request.skip_completed:
        print(f"cnnexp: warning: {folder / METRICS} is damaged ({prev.problem}); the job counts as not done and "
              f"runs again.", file=sys.stderr, flush=True)  # fmt: skip
        return _fresh(folder, lock, prev)
    if prev.status == "failed" and request.skip_completed:
        return _fresh(folder, lock, prev)  # a re-run sweep runs its failed jobs again
    if prev.status in ("interrupted", "died") and same:
        found = newest_checkpoint(folder)
        if found is None:
            return _fresh(folder, lock, prev)  # stopped before any checkpoint: nothing to lose, start again
        # A sweep re-run continues its jobs; SLURM requeues a preempted job with the very same command.
        if request.task == "train" and (request.in_sweep or request.requeued or found.name.startswith(HPC)):
            print(f"resuming {folder} from {found}", flush=True)
            return Claim(folder, lock, resume_from=found)
    raise Refused(_refusal(folder, request, prev, same))


def _inside(path: Path, folder: Path) -> bool:
    return path.expanduser().resolve().is_relative_to(folder.resolve())


def _fresh(folder: Path, lock: FolderLock, prev: Previous) -> Claim:
    for path in [*(folder / name for name in RESULTS), *folder.glob(f"{HPC}*.ckpt")]:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
    for path in _outputs(folder, prev.metrics):
        if path.is_file() or path.is_symlink():
            path.unlink()
    return Claim(folder, lock)


def _outputs(folder: Path, metrics: dict[str, Any]) -> list[Path]:
    """The files the run recorded as written in `folder`: plain names only, never a path that leads elsewhere."""
    names = metrics.get(OUTPUTS)
    names = names if isinstance(names, list) else []
    return [folder / n for n in names if isinstance(n, str) and n not in ("", ".", "..") and Path(n).name == n]


def newest_checkpoint(folder: Path) -> Path | None:
    """The checkpoint a crashed or interrupted run continues from, the newest of interrupted.ckpt, last.ckpt and
    the hpc_ckpt_N.ckpt that Lightning writes in the run folder when SLURM preempts a job."""
    found = [p for p in (folder / CHECKPOINTS / INTERRUPTED, folder / CHECKPOINTS / LAST) if p.is_file()]
    found += list(folder.glob(f"{HPC}*.ckpt"))
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def remove_leftovers(folder: Path) -> None:
    """Temporary files of atomic writes that a killed process left (`.NAME.*.tmp`), and task=export's scratch
    folders (`.export-*.tmp`); we hold the lock, so no writer is at work."""
    for place in (folder, folder / CHECKPOINTS):
        for tmp in place.glob(".*.tmp") if place.is_dir() else ():
            if tmp.is_dir() and not tmp.is_symlink():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)


def _refusal(folder: Path, request: Request, prev: Previous, same: bool) -> str:
    held = _held(prev)
    if not same and prev.status in ("ok", "interrupted", "died"):
        changed = changed_keys(folder, request.resolved)
        return (
            f"{folder} holds {held} with other settings ({changed}); cnnexp continues or skips a job only when its "
            f"whole resolved config is unchanged. Add overwrite=true to run it again with the new settings, or "
            f"choose another folder ({'hydra.sweep.dir' if request.in_sweep else 'hydra.run.dir'})."
        )
    if prev.status in ("interrupted", "died"):
        found = newest_checkpoint(folder)
        return (
            f"{folder} holds {held}; continue it with ckpt_path={found} (the same overrides, and "
            f"hydra.run.dir={folder}), or add overwrite=true to start it again."
        )
    ways = "add skip_completed=true to skip finished jobs and run the others, " if request.in_sweep else ""
    return (
        f"{folder} holds {held}; cnnexp never writes over a run. Leave hydra.run.dir unset (every run gets a new "
        f"folder) or choose another, {ways}or add overwrite=true to replace it."
    )


def _held(prev: Previous) -> str:
    if prev.status == "died":
        return "a run that stopped without recording why (killed?)"
    if prev.status == "damaged":
        return f"a run whose metrics.json is unreadable ({prev.problem})"
    figure = prev.metrics.get("test_acc")
    extra = f", test accuracy {figure:.4f}" if isinstance(figure, (int, float)) else ""
    kind = {"ok": "a finished run", "interrupted": "an interrupted run"}.get(prev.status, f"a run ({prev.status})")
    return f"{kind}{extra}"


def changed_keys(folder: Path, resolved: dict[str, Any], shown: int = 3) -> str:
    """The keys whose values differ from the run recorded in `folder`, e.g. `optimizer.lr: 0.001 -> 0.01`."""
    try:
        old = yaml.safe_load((folder / RESOLVED).read_text())
    except (OSError, yaml.YAMLError):
        return "its recorded config hash differs"
    before, after = _flat(old if isinstance(old, dict) else {}), _flat(resolved)
    keys = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k) and k not in NOT_IDENTITY]
    if not keys:
        return "its recorded config hash differs"
    listed = ", ".join(f"{k}: {before.get(k, '(unset)')} -> {after.get(k, '(unset)')}" for k in keys[:shown])
    return listed + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat
