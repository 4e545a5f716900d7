"""The rows about a whole command, each side in a process of its own: start-up time and peak memory.

Each child is started through a minimal launcher (LAUNCHER, run with `python -I -S -c`), which reports the
child's own ru_maxrss from wait4. Why a launcher: Linux charges a child's ru_maxrss with the resident size of
the process it was forked from (exec records the old address space's high-water mark). Spawned from the
benchmark, which holds torch and a dataset, every child would seem to peak near the benchmark's own size.
Spawned from the launcher, which imports nothing but builtins, the floor is a few MiB, the same for both sides.

Start-up: `python -m cnnexp ...` (through TIMED_MAIN) from its launch to the moment its first training step is
about to run (a probe callback writes the time and ends the process), minus the time the same process spent
importing torch, Lightning and Hydra: what is left is cnnexp's own start-up (the interpreter, its other
imports, composing the config, checking and building the model, reading the data, the Trainer, the sanity
check). An import timed in another process can differ by seconds on a busy machine: hence the same process.
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
# argv: STAMP ARGS...: `python -m cnnexp ARGS...` with its library imports timed and the seconds written to STAMP.
TIMED_MAIN = """
import sys, time
began = time.time()
import hydra, pytorch_lightning, torch  # timed on purpose: the start-up row subtracts these imports
from pathlib import Path
Path(sys.argv[1]).write_text(repr(time.time() - began))
sys.argv = ["cnnexp", *sys.argv[2:]]
import runpy
runpy.run_module("cnnexp", run_name="__main__", alter_sys=True)
"""
OURS_IMPORTS = "import cnnexp.app, cnnexp.tasks.train"
PEER_IMPORTS = "import peers, cnnexp.data.digits, cnnexp.model.builder, cnnexp.model.spec"  # the plain child's


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


def startup(bench: Bench, goal: Goal) -> Row:
    startups, imports = [], []
    for rep in range(bench.size.repeats):
        stamp, imported = bench.tmp / f"first_step{rep}.txt", bench.tmp / f"imports{rep}.txt"
        probe = ("+callbacks.first_step._target_=cnnexp_side.FirstStepProbe", f"+callbacks.first_step.path={stamp}")
        args = ["-c", TIMED_MAIN, str(imported), *_overrides(bench, f"startup{rep}", *probe)]
        launched = run(args, bench.tmp / "logs" / f"startup{rep}.log")
        startups.append(float(stamp.read_text()) - launched.started)
        imports.append(float(imported.read_text()))
    own = [s - i for s, i in zip(startups, imports)]
    return measured(
        figure("startup", bench.size.train_images), bench.device_name, f"{median(startups):.2f} s to first step",
        f"{median(imports):.2f} s of it importing", median(own), f"{median(own):.2f} s ({spread(own)})", goal,
    )  # fmt: skip


def _plain_spec(bench: Bench, cfg: DictConfig, steps: int) -> str:
    """The plain loop child's instructions: the same composed model, digits, batch and steps as cnnexp's run."""
    spec = {
        "model": resolved(cfg)["model"], "data_root": str(bench.data_root), "train_size": bench.size.train_images,
        "test_size": bench.size.test_images, "seed": int(cfg.data.seed), "batch": bench.size.batch,
        "steps": steps, "lr": float(cfg.optimizer.lr), "device": str(bench.device),
    }  # fmt: skip
    path = bench.tmp / "plain_loop.json"
    path.write_text(json.dumps(spec))
    return str(path)


def memory(bench: Bench, goal: Goal) -> tuple[Row, str]:
    """Peak RSS of a whole `python -m cnnexp` run vs the plain loop's process; also a note on where it goes."""
    steps = bench.size.memory_steps
    spec = _plain_spec(bench, bench.cfg("memory_spec"), steps)
    ours: list[Finished] = []
    peers: list[Finished] = []
    for rep in range(bench.size.repeats):
        logs = bench.tmp / "logs"
        command = ["-m", "cnnexp", *_overrides(bench, f"memory{rep}", f"trainer.max_steps={steps}")]
        ours.append(run(command, logs / f"memory{rep}.log"))
        peers.append(run([str(BENCH_DIR / "peers.py"), spec], logs / f"plain_memory{rep}.log"))
    ours_mib = [f.peak_bytes / MiB for f in ours]
    peer_mib = [f.peak_bytes / MiB for f in peers]
    ratios = [o / p for o, p in zip(ours_mib, peer_mib)]
    row = measured(
        figure("memory", bench.size.train_images), bench.device_name, f"{median(ours_mib):,.0f} MiB",
        f"{median(peer_mib):,.0f} MiB", median(ratios), f"{median(ratios):.2f}× ({spread(ratios)})", goal,
    )  # fmt: skip
    return row, _import_note(bench, median(ours_mib), median(peer_mib))


def _import_note(bench: Bench, ours_mib: float, peer_mib: float) -> str:
    """Peak RSS of each side's imports alone: how much of the gap is libraries rather than the run."""
    logs = bench.tmp / "logs"
    ours_imports = run(["-c", OURS_IMPORTS], logs / "imports_cnnexp.log").peak_bytes / MiB
    peer_imports = run(["-c", PEER_IMPORTS], logs / "imports_plain.log").peak_bytes / MiB
    return (
        f"peak memory: cnnexp's imports alone (torch, Lightning and what it imports: torchmetrics, torchvision; "
        f"Hydra) peak at {ours_imports:,.0f} MiB, the plain loop's (torch) at {peer_imports:,.0f} MiB; above its "
        f"imports the cnnexp run adds {ours_mib - ours_imports:,.0f} MiB and the plain loop "
        f"{peer_mib - peer_imports:,.0f} MiB (dataset, model, optimiser state, activations, kernels loaded on first use)."
    )
