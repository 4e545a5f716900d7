"""cnnexp's benchmark: `python bench/run.py [--size tiny|full] [--out outputs/benchmarks_latest.md]`.

Measures every row of docs/benchmarks.md side by side in this one run (same model, data, batch size and
steps on both sides), prints the table and writes it, with the machine it ran on, to --out. A figure is
always a ratio or a time measured now, never a stored number. The GPU rows run when torch sees a GPU;
otherwise they are printed as not measured. `--size tiny` runs everything at toy sizes (CI checks that it
runs; its figures mean nothing).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import rows
import torch
from cnnexp_side import Bench, quiet_lightning
from processes import REPO, whole_command
from table import CPU, GPU, SIZES, Row, Size, markdown, not_measured_gpu_rows

from cnnexp.train.allocator import keep_freed_memory

NO_GPU = "no GPU on this machine"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "benchmarks_latest.md")
    parser.add_argument("--data-root", type=Path, default=Path(os.environ.get("CNNEXP_DATA", REPO / "data")),
                        help="where the rendered digits are cached (as data.root)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for every side (default: torch's own); 1 steadies figures on a busy machine")  # fmt: skip
    parser.add_argument("--rows", choices=("all", "cpu", "gpu"), default="all", help="which rows to run")
    parser.add_argument("--gpu-rows-on-cpu", action="store_true",
                        help="run the GPU rows' code on the CPU (checks the code path; not GPU figures)")  # fmt: skip
    return parser.parse_args(argv)


def cpu_rows(bench: Bench) -> tuple[list[Row], list[str]]:
    lenet = rows.lenet_cpu_rows(bench, CPU["lenet_throughput"], CPU["step_cost"], CPU["cnnexp_added"], CPU["near_bare"])
    epoch, _, epoch_note = rows.lenet_epoch(bench, CPU["lenet_epoch"])
    startup_row, memory_row, memory_note = whole_command(bench, CPU["startup"], CPU["memory"])
    return [*lenet, epoch, startup_row, memory_row], [epoch_note, memory_note]


def gpu_rows(bench: Bench) -> tuple[list[Row], list[str]]:
    throughput = rows.lenet_throughput_windows(bench, GPU["lenet_throughput"])
    epoch, epoch_seconds, epoch_note = rows.lenet_epoch(bench, GPU["lenet_epoch"])
    alexnet, alexnet_rate = rows.alexnet_throughput(bench)
    return [
        throughput, epoch, alexnet,
        rows.absolute(bench, "alexnet_absolute", alexnet_rate, f"{alexnet_rate:,.0f} img/s"),
        rows.absolute(bench, "epoch_absolute", epoch_seconds, f"{epoch_seconds:.3f} s"),
    ], [epoch_note]  # fmt: skip


def _gpu_part(size: Size, tmp: Path, args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    if not (torch.cuda.is_available() or args.gpu_rows_on_cpu):
        return not_measured_gpu_rows(NO_GPU, size.train_images), []
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return gpu_rows(Bench(size, device, tmp / "gpu", args.data_root))


def machine() -> str:
    """What the figures came from: they are only comparable with figures from the same line."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{time.strftime('%Y-%m-%d %H:%M')}; CPU {_cpu_model()}, {os.cpu_count()} cores, torch threads "
        f"{torch.get_num_threads()}; GPU {gpu}; Python {platform.python_version()}, torch {torch.__version__}, "
        f"pytorch_lightning {pl.__version__}; load average at the start {load}"
    )


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def report(size: Size, rows: list[Row], notes: list[str], where: str, seconds: float) -> str:
    lines = [f"# cnnexp benchmark, size {size.name}", "", where, "", markdown(rows), ""]
    lines += [f"- {note}" for note in notes]
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    lines += [f"- the whole benchmark took {seconds:.0f} s; load average at the end {load}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    size = SIZES[args.size]
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the child processes' torch reads it
    quiet_lightning()
    # Every side in this process (cnnexp, bare Lightning, the plain and classic loops) trains with the allocator
    # setting cnnexp's runner makes on a CPU (train/allocator.py): the rows then compare the loops, not the luck
    # of the heap's layout, which moved a batch-128 step by up to 30% from one fit to the next.
    keep_freed_memory()
    where, began = machine(), time.perf_counter()
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cnnexp-bench-") as scratch:
        tmp = Path(scratch)
        if args.rows in ("all", "cpu"):
            rows, notes = cpu_rows(Bench(size, torch.device("cpu"), tmp / "cpu", args.data_root))
        if args.rows in ("all", "gpu"):
            more, more_notes = _gpu_part(size, tmp, args)
            rows, notes = rows + more, notes + more_notes
    text = report(size, rows, notes, where, time.perf_counter() - began)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
