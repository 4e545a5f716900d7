"""Who may write into a run folder: every case of what a folder can hold, against what the new run asks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cnnexp.errors import ConfigError
from cnnexp.rundir.claim import LOCK, Request, claim
from cnnexp.rundir.lock import FolderLock
from cnnexp.rundir.record import config_hash

HASH = "0123456789abcdef"


def fill(folder: Path, status: str | None, digest: str = HASH, checkpoints: tuple[str, ...] = ()) -> Path:
    """A folder as a run leaves it: metrics.json (status None: none at all), checkpoints, a user's own file."""
    (folder / "checkpoints").mkdir(parents=True)
    for name in checkpoints:
        (folder / "checkpoints" / name).write_bytes(name.encode())
    if status is not None:
        (folder / "metrics.json").write_text(json.dumps({"status": status, "config_hash": digest, "test_acc": 0.5}))
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "resolved.yaml").write_text(yaml.safe_dump({"optimizer": {"lr": 0.001}, "seed": 0}))
    (folder / "notes.txt").write_text("mine")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


def request(**changes: object) -> Request:
    return Request(**{"task": "train", "config_hash": HASH, **changes})  # type: ignore[arg-type]


def test_an_empty_folder_is_taken_and_locked(tmp_path: Path) -> None:
    held = claim(tmp_path / "run", request())
    assert (tmp_path / "run" / LOCK).read_text().startswith(f"pid {os.getpid()} on ")
    assert not FolderLock(tmp_path / "run" / LOCK).acquire()  # another open file: locked out
    held.release()
    assert not (tmp_path / "run" / LOCK).exists()


def test_a_running_run_is_never_entered(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    holder = FolderLock(folder / LOCK)
    assert holder.acquire()
    with pytest.raises(ConfigError, match=rf"^{folder} is in use by a running run \(pid {os.getpid()} on .*\); wait"):
        claim(folder, request(overwrite=True))
    holder.release()


def test_a_lock_left_by_a_killed_process_is_not_a_running_run(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    script = f"from cnnexp.rundir.lock import FolderLock; import os; FolderLock(__import__('pathlib').Path({str(folder / LOCK)!r})).acquire(); os._exit(9)"
    subprocess.run(
        [sys.executable, "-c", script], check=False, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    )
    assert (folder / LOCK).exists()  # the file stays, the kernel dropped the lock
    claim(folder, request()).release()


def test_a_finished_run_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    folder = fill(tmp_path / "run", "ok", checkpoints=("last.ckpt",))
    before = snapshot(folder)
    with pytest.raises(ConfigError) as refused:
        claim(folder, request())
    assert str(refused.value) == (
        f"{folder} holds a finished run, test accuracy 0.5000; cnnexp never writes over a run. Leave hydra.run.dir "
        f"unset (every run gets a new folder) or choose another, or add overwrite=true to replace it."
    )
    assert snapshot(folder) == before and not (folder / LOCK).exists()
    with pytest.raises(ConfigError, match="add skip_completed=true to skip finished jobs and run the others"):
        claim(folder, request(in_sweep=True))


def test_skip_completed_skips_only_the_same_config_and_touches_nothing(tmp_path: Path) -> None:
    folder = fill(tmp_path / "run", "ok")
    before = snapshot(folder)
    held = claim(folder, request(skip_completed=True, in_sweep=True))
    assert held.skipped is not None and held.skipped["test_acc"] == 0.5
    held.release()
    edited = {"optimizer": {"lr": 0.01}, "seed": 0}
    with pytest.raises(ConfigError) as refused:
        claim(folder, request(skip_completed=True, in_sweep=True, config_hash="f" * 16, resolved=edited))
    assert (
        f"{folder} holds a finished run, test accuracy 0.5000 with other settings (optimizer.lr: 0.001 -> 0.01)"
        in str(refused.value)
    )
    assert (
        "Add overwrite=true to run it again with the new settings, or choose another folder (hydra.sweep.dir)"
        in str(refused.value)
    )
    assert snapshot(folder) == before


@pytest.mark.parametrize("damage", ['{"status": "ok", "test_a', "[1, 2]"], ids=["truncated", "not_an_object"])
def test_a_damaged_metrics_json_is_a_job_not_done(
    tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = fill(tmp_path / "run", "ok", checkpoints=("last.ckpt",))
    (folder / "metrics.json").write_text(damage)
    held = claim(folder, request(skip_completed=True, in_sweep=True))
    assert held.skipped is None and held.resume_from is None
    assert capsys.readouterr().err.startswith(f"cnnexp: warning: {folder / 'metrics.json'} is damaged (")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", LOCK]  # the old run's files went, not the user's
    held.release()


def test_overwrite_replaces_the_run_but_keeps_other_files(tmp_path: Path) -> None:
    folder = fill(tmp_path / "run", "ok", checkpoints=("last.ckpt",))
    (folder / "cnnexp.log").write_text("the old run's log")
    claim(folder, request(overwrite=True)).release()
    assert sorted(p.name for p in folder.iterdir()) == ["cnnexp.log", "notes.txt"]


def test_a_replaced_run_loses_the_files_its_record_lists_inside_its_folder_only(tmp_path: Path) -> None:
    folder = fill(tmp_path / "run", None)
    listed = ["lenet5.onnx", "lenet5.onnx.json", "gone.csv", "../outside.txt", "sub/inner.txt", "..", "", 7]
    (folder / "metrics.json").write_text(json.dumps({"status": "ok", "config_hash": HASH, "outputs": listed}))
    for name in ("lenet5.onnx", "lenet5.onnx.json", "sub/inner.txt"):
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text("written by the run")
    (tmp_path / "outside.txt").write_text("not the run's")
    claim(folder, request(task="export", overwrite=True)).release()
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "sub"]
    assert (folder / "sub" / "inner.txt").is_file() and (tmp_path / "outside.txt").is_file()


def test_resuming_from_a_checkpoint_inside_the_folder_is_allowed(tmp_path: Path) -> None:
    folder = fill(tmp_path / "run", "interrupted", checkpoints=("interrupted.ckpt",))
    ckpt = folder / "checkpoints" / "interrupted.ckpt"
    with pytest.raises(ConfigError) as refused:
        claim(folder, request())
    assert str(refused.value) == (
        f"{folder} holds an interrupted run, test accuracy 0.5000; continue it with ckpt_path={ckpt} (the same "
        f"overrides, and hydra.run.dir={folder}), or add overwrite=true to start it again."
    )
    held = claim(folder, request(resume_from=ckpt, config_hash="other"))
    assert held.resume_from == ckpt
    held.release()
    with pytest.raises(ConfigError, match="holds an interrupted run"):  # task=test evaluates, it resumes nothing
        claim(folder, request(task="test", resume_from=ckpt))


def test_a_sweep_job_resumes_from_the_newest_checkpoint(tmp_path: Path) -> None:
    folder = fill(tmp_path / "job", "running", checkpoints=("interrupted.ckpt", "last.ckpt"))
    os.utime(folder / "checkpoints" / "interrupted.ckpt", (1, 1))  # older than last.ckpt (kill -9 after a resume)
    held = claim(folder, request(in_sweep=True))
    assert held.resume_from == folder / "checkpoints" / "last.ckpt"
    held.release()


def test_a_run_stopped_before_any_checkpoint_starts_again(tmp_path: Path) -> None:
    folder = fill(tmp_path / "run", "interrupted")
    held = claim(folder, request())
    assert held.resume_from is None and not (folder / "metrics.json").exists()
    held.release()


def test_temporary_files_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    folder = fill(tmp_path / "run", "interrupted", checkpoints=("interrupted.ckpt", ".last.ckpt.1a2b3c4d.tmp"))
    (folder / ".metrics.json.99aa00bb.tmp").write_text("{")
    (folder / ".export-x1y2.tmp").mkdir()  # task=export's scratch folder
    (folder / ".export-x1y2.tmp" / "lenet5.onnx").write_text("half")
    claim(folder, request(resume_from=folder / "checkpoints" / "interrupted.ckpt")).release()
    assert not list(folder.rglob("*.tmp"))


def test_the_hash_ignores_how_a_job_is_run_not_what_it_runs() -> None:
    base = {"seed": 1, "optimizer": {"lr": 0.1}, "skip_completed": False, "ckpt_path": None, "overwrite": False}
    same = {**base, "skip_completed": True, "ckpt_path": "/x.ckpt", "overwrite": True, "output_dir": "/elsewhere"}
    assert config_hash(base) == config_hash(same)
    assert config_hash(base) != config_hash({**base, "optimizer": {"lr": 0.01}})


def test_a_slurm_requeue_of_the_same_command_resumes_from_lightnings_checkpoint(tmp_path: Path) -> None:
    folder = fill(tmp_path / "run", "running", checkpoints=("last.ckpt",))
    (folder / "hpc_ckpt_1.ckpt").write_bytes(b"saved on the preemption signal")  # newer than last.ckpt
    held = claim(folder, request())  # a single run: SLURM runs the very same command again
    assert held.resume_from == folder / "hpc_ckpt_1.ckpt"
    held.release()
    claim(folder, request(overwrite=True)).release()
    assert not list(folder.glob("hpc_ckpt_*"))  # a replaced run must not resume from the old one's state
