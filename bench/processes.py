"""The rows about a whole command, each side in a process of its own: start-up time and peak memory.

Each child is started through a minimal launcher (LAUNCHER, run with `python -I -S -c`), which reports the
child's own ru_maxrss from wait4. Why a launcher: Linux charges a child's ru_maxrss with the resident size of
the process it was forked from (exec records the old address space's high-water mark). Spawned from the
benchmark, which holds torch and a dataset, every child would seem to peak near the benchmark's own size.
Spawned from the launcher, which imports nothing but builtins, the floor is a few MiB, the same for both sides.

Start-up: `python -m cnnexp ...` (through TIMED_MAIN) from its launch to the moment its first training step is
about to run (a probe callback writes the time), minus the time the same process spent importing torch,
Lightning and Hydra: what is left is cnnexp's own start-up (the interpreter, its other imports, composing the
config, checking and building the model, reading the data, the Trainer, the sanity check). An import timed in
another process can differ by seconds on a busy machine: hence the same process.

Peak memory: the same run goes on for the size's `memory_steps` steps and its test, and its peak RSS is set
against the plain loop's process over as many steps. Each side also records its peak once its modules are
imported, before any work: the note on how much of the gap is libraries. One cnnexp process per repeat
gives all three (a process each cost the tiny benchmark, and so the test suite, 11 s of CPU more).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cnnexp_side import Bench
from omegaconf import DictConfig
from table import Goal, Row, figure, measured, median, spread

from cnnexp.run import resolved

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
MiB = 2**20

# argv: LOG PROGRAM ARGS...; prints `started seconds peak_bytes exit_code` (ru_maxrss is in KiB on Linux).
LAUNCHER = """
import os, sys, time
log, program = sys.argv[1], sys.argv[2:]
fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
actions = [(os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)]
started = time.time()
pid = os.posix_spawn(program[0], program, os.environ, file_actions=actions)
_, status, usage = os.wait4(pid, 0)
print(repr(started), repr(time.time() - started), usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status))
"""
# argv: STAMP ARGS...: `python -m cnnexp ARGS...` with its library imports timed; STAMP gets the seconds they took
# and the peak RSS once cnnexp's own modules are imported too (the memory note's "imports alone").
TIMED_MAIN = """
import resource, sys, time
began = time.time()
import hydra, pytorch_lightning, torch  # timed on purpose: the start-up row subtracts these imports
seconds = time.time() - began
import cnnexp.app, cnnexp.tasks.train
from pathlib import Path
Path(sys.argv[1]).write_text(f"{seconds!r} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}")
sys.argv = ["cnnexp", *sys.argv[2:]]
import runpy
runpy.run_module("cnnexp", run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class Finished:
    started: float  # time.time() just before the process was created
    seconds: float  # wall time until it exited
    peak_bytes: int  # its peak resident set size


def child_env() -> dict[str, str]:
    """The environment with bench/ importable (the start-up probe and the plain loop live there)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(BENCH_DIR), env.get("PYTHONPATH", "")) if p)
    env["HYDRA_FULL_ERROR"] = "1"  # a failing child's log then says where
    return env


def run(args: list[str], log: Path) -> Finished:
    """Run `python ARGS...` from the repository root through the launcher; its output goes to `log`, quoted if it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    launcher = [sys.executable, "-I", "-S", "-c", LAUNCHER, str(log), sys.executable, *args]
    done = subprocess.run(launcher, cwd=REPO, env=child_env(), capture_output=True, text=True, check=True)
    started, seconds, peak, code = done.stdout.split()
    if int(code) != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"python {' '.join(args)} exited with {code}; its last lines:\n{tail}")
    return Finished(float(started), float(seconds), int(peak))


def _overrides(bench: Bench, name: str, *extra: str) -> list[str]:
    """The bench's overrides for a `python -m cnnexp` process; Hydra's run folder under the scratch folder."""
    return [*bench.overrides(*extra), f"hydra.run.dir={bench.tmp / 'runs' / name}"]


def whole_command(bench: Bench, startup_goal: Goal, memory_goal: Goal) -> tuple[Row, Row, str]:
    """The start-up row, the peak-memory row and the note on where the memory goes, from one `python -m cnnexp`
    run of `memory_steps` steps per repeat (the probe stamps its first step) and one plain-loop process."""
    steps = bench.size.memory_steps
    spec = _plain_spec(bench, bench.cfg("memory_spec"), steps)
    startups, imports, ours, peers = [], [], [], []
    for rep in range(bench.size.repeats):
        logs, stamp, imported = bench.tmp / "logs", bench.tmp / f"first_step{rep}.txt", bench.tmp / f"imports{rep}.txt"
        probe = ("+callbacks.first_step._target_=cnnexp_side.FirstStepProbe", f"+callbacks.first_step.path={stamp}")
        run_args = _overrides(bench, f"command{rep}", f"trainer.max_steps={steps}", *probe)
        launched = run(["-c", TIMED_MAIN, str(imported), *run_args], logs / f"command{rep}.log")
        seconds, import_peak = imported.read_text().split()
        startups.append(float(stamp.read_text()) - launched.started)
        imports.append((float(seconds), int(import_peak)))
        ours.append(launched)
        peers.append(run([str(BENCH_DIR / "peers.py"), spec], logs / f"plain_memory{rep}.log"))
    own = [s - i for s, (i, _) in zip(startups, imports)]
    startup_row = measured(
        figure("startup", bench.size.train_images), bench.device_name, f"{median(startups):.2f} s to first step",
        f"{median([i for i, _ in imports]):.2f} s of it importing", median(own), f"{median(own):.2f} s ({spread(own)})",
        startup_goal,
    )  # fmt: skip
    ours_mib = [f.peak_bytes / MiB for f in ours]
    peer_mib = [f.peak_bytes / MiB for f in peers]
    ratios = [o / p for o, p in zip(ours_mib, peer_mib)]
    memory_row = measured(
        figure("memory", bench.size.train_images), bench.device_name, f"{median(ours_mib):,.0f} MiB",
        f"{median(peer_mib):,.0f} MiB", median(ratios), f"{median(ratios):.2f}× ({spread(ratios)})", memory_goal,
    )  # fmt: skip
    note = _memory_note(
        median([p / MiB for _, p in imports]), int(_peer_imports_peak(bench).read_text()) / MiB,
        median(ours_mib), median(peer_mib),
    )  # fmt: skip
    return startup_row, memory_row, note


def _plain_spec(bench: Bench, cfg: DictConfig, steps: int) -> str:
    """The plain loop child's instructions: the same composed model, digits, batch and steps as cnnexp's run."""
    spec = {
        "model": resolved(cfg)["model"], "data_root": str(bench.data_root), "train_size": bench.size.train_images,
        "test_size": bench.size.test_images, "seed": int(cfg.data.seed), "batch": bench.size.batch,
        "steps": steps, "lr": float(cfg.optimizer.lr), "device": str(bench.device),
        "imports_peak_path": str(_peer_imports_peak(bench)),
    }  # fmt: skip
    path = bench.tmp / "plain_loop.json"
    path.write_text(json.dumps(spec))
    return str(path)


def _peer_imports_peak(bench: Bench) -> Path:
    """Where the plain loop's process writes its imports' peak (each repeat's replaces the one before)."""
    return bench.tmp / "plain_imports_peak.txt"


def _memory_note(ours_imports: float, peer_imports: float, ours_mib: float, peer_mib: float) -> str:
    """How much of the gap is libraries rather than the run: each side's peak once its modules are imported, read
    inside its process. The whole runs' peaks (wait4) also carry what torch's import charges them from outside
    (it runs `ldconfig -p` in a forked child: 120 MiB here), the same on both sides; so the note sets gap
    against gap rather than a run against its own imports."""
    imports_gap, run_gap = ours_imports - peer_imports, ours_mib - peer_mib
    rest = run_gap - imports_gap
    return (
        f"peak memory: cnnexp's imports alone (torch, Lightning and what it imports: torchmetrics, torchvision; "
        f"Hydra) peak at {ours_imports:,.0f} MiB, the plain loop's (torch) at {peer_imports:,.0f} MiB (each read "
        f"inside its process once imported): {imports_gap:,.0f} MiB of libraries, against {run_gap:,.0f} MiB "
        f"between the whole runs; above its imports cnnexp's run holds {abs(rest):,.0f} MiB "
        f"{'less' if rest < 0 else 'more'} than the plain loop's (dataset, model, optimiser state, activations, "
        f"kernels loaded on first use)."
    )
