"""First contact, as ratios to `python -c "import torch"` measured in the same run (docs/benchmarks.md):
`python -m cnnexp --help`, a shell-completion query, and `python -m cnnexp task=summary`.

    python bench/first_contact.py [--repeats 5]      # prints the rows as a Markdown table

For bench/run.py: `first_contact_rows(repeats, workdir) -> (rows, notes)` gives table.Row objects and notes.
Every command runs in a fresh process, from `workdir`, with this interpreter; in each repeat the reference
(`import torch`) and the commands run one after the other, so a busy machine slows all of them alike. A row's
figure is the median of the per-repeat ratios, with their range. The note gives Hydra's own import time,
measured the same way: part of every command's cost, and of no other library's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from table import Goal, Row, markdown, measured, spread

REFERENCE = ("-c", "import torch")
HYDRA = ("-c", "import hydra, omegaconf")
# key -> (what the row says, the command's arguments after `python`, extra environment, goal)
COMMANDS = {
    "help": ("`python -m cnnexp --help`", ("-m", "cnnexp", "--help"), {}, Goal("≤ 1×", 1.0, at_least=False)),
    "completion": (
        "shell completion (`cnnexp model=al<TAB>`)", ("-m", "cnnexp", "-sc", "query=bash"),
        {"COMP_LINE": "cnnexp model=al"}, Goal("≤ 1×", 1.0, at_least=False),
    ),
    "summary": (
        "`python -m cnnexp task=summary` (LeNet5's table)", ("-m", "cnnexp", "task=summary", "hydra.run.dir=summary"),
        {}, Goal("≤ 1.5×", 1.5, at_least=False),
    ),
}  # fmt: skip


def seconds(args: tuple[str, ...], workdir: Path, env: dict[str, str] | None = None) -> float:
    """Wall time of `python ARGS` from start to exit; a failure stops the benchmark with the command's output."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], cwd=workdir, env={**os.environ, **(env or {})}, capture_output=True, text=True
    )
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"python {' '.join(args)} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return took


def first_contact_rows(repeats: int, workdir: Path) -> tuple[list[Row], list[str]]:
    """One row per command of COMMANDS: its time against `import torch` in the same repeats."""
    times: dict[str, list[float]] = {key: [] for key in ("torch", "hydra", *COMMANDS)}
    seconds(REFERENCE, workdir)  # warm the file cache once; its time is not kept
    for _ in range(repeats):
        times["torch"].append(seconds(REFERENCE, workdir))
        times["hydra"].append(seconds(HYDRA, workdir))
        for key, (_, args, env, _) in COMMANDS.items():
            times[key].append(seconds(args, workdir, env))
    rows = []
    for key, (label, _, _, goal) in COMMANDS.items():
        ratios = [t / ref for t, ref in zip(times[key], times["torch"])]
        rows.append(measured(
            f"first contact: {label}, against `python -c \"import torch\"`", "CPU",
            f"{statistics.median(times[key]):.2f} s", f"{statistics.median(times['torch']):.2f} s",
            statistics.median(ratios), f"{statistics.median(ratios):.2f}× ({spread(ratios)})", goal,
        ))  # fmt: skip
    hydra = statistics.median(times["hydra"])
    note = (
        f'first contact: `python -c "import hydra, omegaconf"` takes {hydra:.2f} s in the same repeats '
        f"({hydra / statistics.median(times['torch']):.2f}× importing torch), a part of every command above."
    )
    return rows, [note]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cnnexp-first-contact-") as scratch:
        rows, notes = first_contact_rows(args.repeats, Path(scratch))
    print(markdown(rows))
    print("\n".join(f"- {note}" for note in notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
