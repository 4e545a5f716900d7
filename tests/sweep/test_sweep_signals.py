"""Processes as a user or a scheduler starts and stops them: SIGTERM in the middle of a sweep and the printed
command that continues it, and runs and sweeps started in the same second."""

from __future__ import annotations

import shlex
import signal
from pathlib import Path

import pytest
from helpers import metrics
from pause import TESTS, go, pause_overrides, wait_until_paused
from processes import finish, start
from support import Cli

SMALL = (
    "data.train_size=400", "data.val_size=100", "data.test_size=100", "data.batch_size=50", "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false", "callbacks.pictures=null",
)  # fmt: skip


@pytest.mark.slow
def test_sigterm_in_a_sweep_writes_the_report_and_the_printed_command_continues_it(tmp_path: Path, cli: Cli) -> None:
    sweep = tmp_path / "sweep"
    pause = pause_overrides(tmp_path, epoch=1, batch=2, run_prefix="001_")  # job 001 holds in epoch 1
    args = ("-m", *SMALL, *pause, "seed=1,2,3", f"hydra.sweep.dir={sweep}")
    proc = start(tmp_path, *args, data=tmp_path.parent / "data", pythonpath=TESTS)  # the digits `cli` reads too
    wait_until_paused(proc, tmp_path)
    proc.send_signal(signal.SIGTERM)
    go(tmp_path)
    code, _, err = finish(proc)
    assert code == 143, err[-3000:]
    first, second = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert (metrics(first)["status"], metrics(second)["status"]) == ("ok", "interrupted")
    assert not list(sweep.glob("002_*"))  # the sweep stopped: later jobs never started
    assert "2 jobs: 1 ok, 0 failed, 1 interrupted." in (sweep / "report.md").read_text()  # written before the exit

    line = next(line for line in err.splitlines() if "Continue the sweep" in line)
    argv = shlex.split(line.split(" with: ", 1)[1])
    assert argv[:4] == ["python", "-m", "cnnexp", "-m"] and argv[-1] == "skip_completed=true"
    code, err = cli(*argv[3:])  # as printed; in this process, where pause.PauseAt is importable too
    assert code == 0, err[-3000:]
    out = cli.out  # type: ignore[attr-defined]
    assert f"skipped: {first / 'metrics.json'}" in out and f"resuming {second} from {second / 'checkpoints'}" in out
    resumed = metrics(second)
    assert resumed["status"] == "ok" and resumed["epochs"] == 2 and sorted(resumed["history"]) == ["0", "1"]
    assert [metrics(job)["status"] for job in sorted(p for p in sweep.iterdir() if p.is_dir())] == ["ok"] * 3
    assert not list(sweep.rglob("interrupted.ckpt")) and not list(sweep.rglob("*.lock"))


@pytest.mark.slow
def test_runs_and_sweeps_started_together_get_folders_of_their_own(tmp_path: Path) -> None:
    procs = [start(tmp_path, "task=summary") for _ in range(2)]
    procs += [start(tmp_path, "-m", "task=summary", "seed=1,2") for _ in range(2)]
    same = tmp_path / "same"
    procs += [start(tmp_path, "task=summary", f"hydra.run.dir={same}") for _ in range(2)]
    results = [finish(proc) for proc in procs]
    assert [code for code, _, _ in results[:4]] == [0, 0, 0, 0], [err[-2000:] for _, _, err in results]
    runs = sorted((tmp_path / "outputs" / "runs").iterdir())
    sweeps = sorted((tmp_path / "outputs" / "sweeps").iterdir())
    assert len(runs) == 2 and all((run / "metrics.json").is_file() and (run / ".hydra").is_dir() for run in runs)
    assert len(sweeps) == 2 and all(len([p for p in s.iterdir() if p.is_dir()]) == 2 for s in sweeps)
    # The same folder asked for twice at once: one run takes it, the other is refused and writes nothing there.
    (won, _, _), (lost, _, err) = sorted(results[4:], key=lambda r: r[0])
    assert (won, lost) == (0, 2)
    assert err.startswith(f"cnnexp: error: {same} is in use by a running run (pid ") or err.startswith(
        f"cnnexp: error: {same} holds a finished run"
    )
    assert metrics(same)["status"] == "ok"
