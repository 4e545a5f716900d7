"""GPU acceptance in one command on a bare GPU machine, in under 5 minutes: `python bench/gpu_accept.py`.

Run from the repository root once the machine's own CUDA build of torch is there. It installs what the machine
lacks from the wheels in .whl/ (as bench/gpu.py does), then runs each step as `python -m cnnexp ...` with src/
importable, on tiny data, and checks what the step left:

  train    model=alexnet trainer.gpus=1: trains on cuda:0, in bf16-mixed where the GPU has bfloat16 (else 16-mixed)
  sweep    -m launcher=local_parallel trainer.gpus=1 seed=1,2: two jobs side by side on the GPU(s), both finish
  bf16     trainer.precision=bf16-mixed, on cuda:0
  compile  callbacks.speed.compile=true (torch.compile), on cuda:0
  export   task=export of train's checkpoint (ONNX, which the task runs against PyTorch)
  predict  task=predict with train's checkpoint, on cuda

Each step prints PASS or FAIL with why (its output: <out>/<step>.log); the exit code is 1 when any failed.
`--dry-run` prints the commands and runs nothing; on a machine without a GPU the script says so and exits 2.
Only the standard library is imported before the wheels are installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gpu  # bench/gpu.py: the carried wheels

REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 290.0
TINY = (
    "data.train_size=512", "data.val_size=128", "data.test_size=128", "data.batch_size=64", "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false", "callbacks.pictures=null",
)  # fmt: skip
CHECKPOINT = "TRAIN_CHECKPOINT"  # in a command until step train has run and written it
HEADER = re.compile(r" on (cuda:\d+) \(([^)]*)\)(?: × \d+ processes)?, precision (\S+);")


@dataclass(frozen=True)
class Step:
    name: str
    args: tuple[str, ...]  # to `python -m cnnexp`
    check: Callable[[subprocess.CompletedProcess[str]], str]  # what it did ("... on cuda:0"); AssertionError if not


def header(folder: Path) -> tuple[str, str, str]:
    """(device, GPU name, precision) from the line a run starts with, in its cnnexp.log."""
    log = folder / "cnnexp.log"
    found = HEADER.search(log.read_text()) if log.is_file() else None
    if found is None:
        raise AssertionError(f"{log} names no CUDA device: the run did not train on the GPU")
    return found[1], found[2], found[3]


def ok_metrics(folder: Path) -> dict:
    metrics = json.loads((folder / "metrics.json").read_text())
    if metrics.get("status") != "ok":
        raise AssertionError(f"{folder}/metrics.json says status {metrics.get('status')!r}")
    return metrics


def steps(out: Path, precision: str, found: dict[str, str]) -> list[Step]:
    """The steps, writing under `out`; `precision` is what trainer.precision=auto must give on this GPU; step
    train puts its checkpoint into `found` for export and predict."""

    def trained(folder: Path, want: str) -> Callable[[subprocess.CompletedProcess[str]], str]:
        def check(proc: subprocess.CompletedProcess[str]) -> str:
            device, name, got = header(folder)
            if got != want:
                raise AssertionError(f"trained in precision {got}, not {want}")
            metrics = ok_metrics(folder)
            found.setdefault("checkpoint", metrics["checkpoint"])
            return f"{device} ({name}), {got}, {metrics['train_images_per_s']:.0f} images/s"

        return check

    def swept(proc: subprocess.CompletedProcess[str]) -> str:
        jobs = sorted(p for p in (out / "sweep").iterdir() if p.is_dir())
        if len(jobs) != 2:
            raise AssertionError(f"{len(jobs)} job folders in {out / 'sweep'}, not 2")
        for job in jobs:
            ok_metrics(job)
        return f"2 jobs, on {' and '.join(header(job)[0] for job in jobs)}"

    def exported(proc: subprocess.CompletedProcess[str]) -> str:
        files = sorted(p.name for p in (out / "export").glob("alexnet.onnx*"))
        if not {"alexnet.onnx", "alexnet.onnx.json"} <= set(files):
            raise AssertionError(f"{out / 'export'} holds {files}, not alexnet.onnx and its sidecar")
        return proc.stdout.strip().splitlines()[-1]

    def predicted(proc: subprocess.CompletedProcess[str]) -> str:
        last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
        if not re.match(r"predicted 3 image\(s\) with alexnet on cuda; wrote ", last):
            raise AssertionError(f"predict ended with {last!r}, not 'predicted 3 image(s) with alexnet on cuda; ...'")
        return last

    lenet = (*TINY, "model=lenet5", "trainer.gpus=1")
    return [
        Step("train", (*TINY, "model=alexnet", "trainer.gpus=1", f"hydra.run.dir={out / 'train'}"), trained(out / "train", precision)),
        Step("sweep", ("-m", *lenet, "launcher=local_parallel", "seed=1,2", f"hydra.sweep.dir={out / 'sweep'}"), swept),
        Step("bf16", (*lenet, "trainer.precision=bf16-mixed", f"hydra.run.dir={out / 'bf16'}"), trained(out / "bf16", "bf16-mixed")),
        Step("compile", (*lenet, "callbacks.speed.compile=true", f"hydra.run.dir={out / 'compile'}"), trained(out / "compile", precision)),
        Step("export", ("task=export", f"ckpt_path={CHECKPOINT}", f"hydra.run.dir={out / 'export'}"), exported),
        Step("predict", ("task=predict", f"ckpt_path={CHECKPOINT}", f"input={out / 'images'}", f"hydra.run.dir={out / 'predict'}"), predicted),
    ]  # fmt: skip


def run_step(step: Step, env: dict[str, str], out: Path, deadline: float, found: dict[str, str]) -> tuple[bool, str]:
    """(passed, what it did or why it failed)."""
    if any(CHECKPOINT in a for a in step.args) and "checkpoint" not in found:
        return False, "not run: needs the checkpoint of step train, which failed"
    args = [a.replace(CHECKPOINT, found.get("checkpoint", "")) for a in step.args]
    left = deadline - time.monotonic()
    if left <= 0:
        return False, f"not run: the {BUDGET_S:.0f} s budget is spent"
    log = out / f"{step.name}.log"
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "cnnexp", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=left
        )
    except subprocess.TimeoutExpired:
        return False, f"stopped at the end of the {BUDGET_S:.0f} s budget"
    log.write_text(f"$ python -m cnnexp {shlex.join(args)}\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return False, f"exit code {proc.returncode}: {tail[0]} (all of it: {log})"
    try:
        return True, step.check(proc)
    except (AssertionError, OSError, KeyError, ValueError) as failed:
        return False, f"{failed} (output: {log})"


def images(folder: Path) -> None:
    """Three grey 28×28 PNGs for step predict (pillow comes with torchvision)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        Image.frombytes("L", (28, 28), bytes((i * 37 + j) % 256 for j in range(28 * 28))).save(folder / f"{i}.png")


def accept(out: Path) -> int:
    import torch

    if not torch.cuda.is_available():
        print("gpu_accept: no GPU here (torch.cuda.is_available() is False); nothing to accept. --dry-run prints "
              "the commands.", file=sys.stderr)  # fmt: skip
        return 2
    gpu.install(gpu.missing(gpu.pinned()))
    out.mkdir(parents=True)
    images(out / "images")
    env = {**os.environ, "CNNEXP_DATA": os.environ.get("CNNEXP_DATA", str(out / "data"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH", "")) if p)
    precision = "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    found: dict[str, str] = {}
    start = time.monotonic()
    passed, planned = 0, steps(out, precision, found)
    for step in planned:
        began = time.monotonic()
        ok, what = run_step(step, env, out, start + BUDGET_S, found)
        passed += ok
        print(f"{'PASS' if ok else 'FAIL'}  {step.name:<8} {time.monotonic() - began:5.1f} s  {what}", flush=True)
    print(f"gpu_accept: {passed} of {len(planned)} steps passed in {time.monotonic() - start:.0f} s on "
          f"{torch.cuda.get_device_name(0)} (torch {torch.__version__}); outputs in {out}")  # fmt: skip
    return 0 if passed == len(planned) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "gpu_accept" / stamp, help="a new folder")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)
    if args.dry_run:
        for step in steps(args.out, "auto", {}):
            print(f"{step.name:<8} python -m cnnexp {shlex.join(step.args)}")
        return 0
    if args.out.exists():
        print(f"gpu_accept: {args.out} exists; give --out a new folder.", file=sys.stderr)
        return 2
    try:
        return accept(args.out)
    except ImportError as missing:
        print(
            f"gpu_accept: {missing}: install the machine's CUDA build of torch and torchvision first.", file=sys.stderr
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
