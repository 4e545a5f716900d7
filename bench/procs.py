"""Child processes for the rows that are about a whole command: wall time and peak resident memory.

Each child is started by launch.py (see there why), which reports the child's own ru_maxrss from wait4:
the high-water mark of that one process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent


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
    """Run `python ARGS...` from the repository root through launch.py; its output goes to `log`, quoted if it fails."""
    log.parent.mkdir(parents=True, exist_ok=True)
    launcher = [sys.executable, "-I", "-S", str(BENCH_DIR / "launch.py"), str(log), sys.executable, *args]
    done = subprocess.run(launcher, cwd=REPO, env=child_env(), capture_output=True, text=True, check=True)
    started, seconds, peak, code = done.stdout.split()
    if int(code) != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"python {' '.join(args)} exited with {code}; its last lines:\n{tail}")
    return Finished(float(started), float(seconds), int(peak))
