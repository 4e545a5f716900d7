"""Every GPU row in one call, on a bare GPU machine: `python bench/gpu.py [--out outputs/benchmarks_gpu.md]`.

1. Installs what the machine lacks of cnnexp's dependencies from the wheels carried in .whl/ (git-ignored,
   next to this repository's src/), with pip and no network. torch and torchvision with CUDA must be there
   already: at gigabytes, they are the machine's own.
2. Runs `bench/run.py --rows gpu` with src/ importable (no install of cnnexp itself), which prints the table
   and writes it, with the GPU's name, to --out.

On a machine with a network, `python bench/gpu.py --fetch [--python-version 3.11]` fills .whl/ first: the pinned
versions of requirements.lock, built for the target's Python (binary wheels are per Python version).
Only the standard library is imported here, so this file runs before anything is installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHEELS = REPO / ".whl"
LOCK = REPO / "requirements.lock"
# The machine's own: torch and torchvision (CUDA builds: gigabytes, no folder of wheels carries them) and what
# they install with them; and what the tests alone need.
TORCH = r"torch|torchvision|triton|nvidia-.*|cuda-.*|numpy|pillow|sympy|mpmath|networkx|jinja2|markupsafe|filelock|fsspec|typing.extensions"
OWN = re.compile(rf"^({TORCH}|pytest|pytest-cov|coverage|hypothesis|iniconfig|pluggy|sortedcontainers|pygments)$", re.I)
SDIST_ONLY = ("antlr4-python3-runtime",)  # published as a source archive only: built into a wheel by --fetch


def pinned() -> list[str]:
    """name==version of every package in requirements.lock that a GPU machine is expected to lack."""
    pins = [line.strip() for line in LOCK.read_text().splitlines() if "==" in line and not line.startswith("#")]
    return [pin for pin in pins if not OWN.match(pin.split("==")[0])]


def missing(pins: list[str]) -> list[str]:
    """The pins whose package is not installed at all (an installed package of another version is kept)."""
    absent = []
    for pin in pins:
        try:
            importlib.metadata.version(pin.split("==")[0])
        except importlib.metadata.PackageNotFoundError:
            absent.append(pin)
    return absent


def install(pins: list[str]) -> None:
    if not pins:
        return
    if not WHEELS.is_dir():
        sys.exit(f"bench/gpu.py: this machine lacks {', '.join(pins)} and {WHEELS} does not exist; fill it with "
                 f"`python bench/gpu.py --fetch` on a machine with a network, then carry it here.")  # fmt: skip
    print(f"installing from {WHEELS}: {' '.join(pins)}", flush=True)
    pip = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(WHEELS), "--no-deps", *pins]
    subprocess.run(pip, check=True)


def fetch(python_version: str) -> None:
    """Download the pinned wheels for a Python of `python_version` (x86_64 Linux) into .whl/."""
    pins = pinned()
    binary = [pin for pin in pins if pin.split("==")[0] not in SDIST_ONLY]
    target = [
        "--python-version",
        python_version,
        "--platform",
        "manylinux2014_x86_64",
        "--platform",
        "manylinux_2_28_x86_64",
    ]
    download = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(WHEELS)]
    subprocess.run([*download, *target, *binary], check=True)
    built = [pin for pin in pins if pin.split("==")[0] in SDIST_ONLY]  # pure Python: one wheel for any target
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(WHEELS), *built], check=True)


def run_rows(out: Path, extra: list[str]) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH", "")) if p)
    command = [sys.executable, str(REPO / "bench" / "run.py"), "--rows", "gpu", "--out", str(out), *extra]
    return subprocess.run(command, cwd=REPO, env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "benchmarks_gpu.md")
    parser.add_argument("--fetch", action="store_true", help="download the wheels into .whl/ and stop")
    parser.add_argument("--python-version", default=f"{sys.version_info.major}.{sys.version_info.minor}",
                        help="with --fetch: the Python of the GPU machine")  # fmt: skip
    args, extra = parser.parse_known_args(argv)  # the rest goes to bench/run.py (e.g. --size tiny)
    if args.fetch:
        fetch(args.python_version)
        return 0
    try:
        import torch  # noqa: F401  (only to say clearly that it must be there)
    except ImportError:
        sys.exit(
            "bench/gpu.py: torch is not installed; install the machine's CUDA build of torch and torchvision first."
        )
    install(missing(pinned()))
    return run_rows(args.out, extra)


if __name__ == "__main__":
    sys.exit(main())
