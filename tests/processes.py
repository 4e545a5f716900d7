"""The one way tests start `python -m cnnexp` in a process of its own, as a user's shell starts it: for what only
a process shows (signals, a process's exit code and output, DDP ranks, launchers' workers, the import list of a
fresh interpreter). Anything else runs in-process with the `cli` fixture (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

DDP_VARIABLES = ("LOCAL_RANK", "WORLD_SIZE", "MASTER_PORT", "MASTER_ADDR", "NODE_RANK")  # set only in DDP children


def start(
    cwd: Path,
    *args: str,
    data: Path | None = None,
    pythonpath: str | None = None,
    env: Mapping[str, str] | None = None,
    program: Sequence[str] = ("-m", "cnnexp"),
) -> subprocess.Popen[str]:
    """`python -m cnnexp ARGS` started in `cwd`, its digits cached in `data` (default cwd/data), with a plain
    shell's environment (no DDP variables) plus `env`; `pythonpath` puts a folder of test code (a callback given
    by `+callbacks.x._target_=...`) on its path; `program` replaces `-m cnnexp` (e.g. `-c CODE`)."""
    environ = {**os.environ, "CNNEXP_DATA": str(data or cwd / "data"), **(env or {})}
    for key in DDP_VARIABLES:
        environ.pop(key, None)
    if pythonpath:
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, environ.get("PYTHONPATH")]))
    command = [sys.executable, *program, *args]
    return subprocess.Popen(command, cwd=cwd, env=environ, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[str], timeout: float = 900) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) once `proc` has ended."""
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def cnnexp(cwd: Path, *args: str, timeout: float = 600, **how: object) -> subprocess.CompletedProcess[str]:
    """`python -m cnnexp ARGS` run to its end in `cwd` (`how`: start's keywords): its exit code and output."""
    proc = start(cwd, *args, **how)  # type: ignore[arg-type]
    code, out, err = finish(proc, timeout)
    return subprocess.CompletedProcess(proc.args, code, out, err)
