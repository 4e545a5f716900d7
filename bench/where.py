"""Where the framework's cost per training step goes: `python bench/where.py [--batch 32] [--repeats 3]`.

Runs LeNet5 in cnnexp's runner paired step by step with the plain loop (cnnexp_side.PairedSteps), first as
`python -m cnnexp` runs it, then with its parts switched off one after another, cumulatively:

1. cnnexp's per-step work in the LightningModule (metric bookkeeping, train/loss_step every N steps);
2. cnnexp's callbacks (throughput meter, NaN stop, interrupt checkpoint, pictures; SpeedUp stays, since it
   sets the memory format both sides train in);
3. Lightning's callbacks (the two checkpoints, the learning-rate monitor, the progress bar);
4. the logger.

What is left is Lightning's own loop: its data fetcher, the batch-transfer hooks, automatic optimisation (the
closure, zero_grad, backward and optimizer-step wrappers and their hooks), progress tracking. The clock is the
process's CPU time with one torch thread, so other processes' load on a shared machine inflates it far less
than wall time. The figures are for reading the shares; bench/run.py gives the table's figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytorch_lightning as pl
import torch
from cnnexp_side import Bench, PairedSteps, quiet_lightning, train_split
from peers import normaliser, plain_iterations
from pytorch_lightning import callbacks as plc
from table import FULL, median

from cnnexp.run import read_run
from cnnexp.tasks.assemble import assemble
from cnnexp.train.callbacks import Throughput
from cnnexp.train.faults import CheckpointOnInterrupt, StopOnNonFinite
from cnnexp.train.module import Classifier
from cnnexp.viz.callback import Pictures

LEVELS = (
    "nothing: the runner as `python -m cnnexp` runs it",
    "cnnexp's per-step work in the module",
    "cnnexp's callbacks",
    "Lightning's callbacks and progress bar",
    "the logger (what is left: Lightning's loop)",
)
OURS = (Throughput, StopOnNonFinite, CheckpointOnInterrupt, Pictures)
LIGHTNINGS = (plc.ModelCheckpoint, plc.LearningRateMonitor, plc.TQDMProgressBar)


def _loss_only(self: Classifier, batch: tuple[torch.Tensor, torch.Tensor], *_: object) -> torch.Tensor:
    x, y = batch
    return self.loss_fn(self.net(x), y)


def _no_step_log(self: Classifier, name: str, *args: object, **kwargs: object) -> None:
    if name != "train/loss_step":
        LightningLog(self, name, *args, **kwargs)


LightningLog = Classifier.log


@contextmanager
def module_work_off(level: int) -> Iterator[None]:
    """From level 1 on: the step computes the loss alone: no metric bookkeeping, no train/loss_step. (Patched on
    the class by name, so that the same levels apply to earlier versions of train/module.py.)"""
    saved = Classifier._step, Classifier.log
    if level >= 1:
        Classifier._step, Classifier.log = _loss_only, _no_step_log  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Classifier._step, Classifier.log = saved  # type: ignore[method-assign]


def cost(bench: Bench, level: int, rep: int) -> tuple[float, float]:
    """Mean CPU seconds per iteration (cnnexp, plain loop) at `level`."""
    size = bench.size
    steps = (f"trainer.max_steps={size.warmup + size.steps + 1}", "trainer.limit_val_batches=0")
    quiet = ("trainer.enable_progress_bar=false", "callbacks.progress=null") if level >= 3 else ()
    cfg = bench.cfg(f"level{level}_{rep}", *steps, *quiet, *(("~logger",) if level >= 4 else ()))
    split = train_split(cfg)
    prep = normaliser(split.mean, split.std, bench.device)
    plain = plain_iterations(bench.net(cfg), split.images, split.labels, prep, size.batch, float(cfg.optimizer.lr), bench.seed)
    clock = PairedSteps(plain, clock=time.process_time)
    exp = assemble(read_run(cfg))
    dropped = (*(OURS if level >= 2 else ()), *(LIGHTNINGS if level >= 3 else ()))
    exp.trainer.callbacks[:] = [cb for cb in exp.trainer.callbacks if not isinstance(cb, dropped)] + [clock]
    with module_work_off(level):
        exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    timed = slice(size.warmup, size.warmup + size.steps)
    ours, peer = clock.ours[timed], clock.peer[timed]
    return sum(ours) / len(ours), sum(peer) / len(peer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--levels", type=int, default=len(LEVELS), help="measure only the first N lines (1: the runner as is)")
    parser.add_argument("--data-root", type=Path, default=Path(os.environ.get("CNNEXP_DATA", Path(__file__).parents[1] / "data")))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    quiet_lightning()
    size = replace(FULL, batch=args.batch, steps=args.steps)
    levels = range(min(args.levels, len(LEVELS)))
    results: dict[int, list[tuple[float, float]]] = {level: [] for level in levels}
    with tempfile.TemporaryDirectory(prefix="cnnexp-where-") as scratch:
        bench = Bench(size, torch.device("cpu"), Path(scratch), args.data_root)
        for rep in range(args.repeats):  # levels in turns, reversed every other repeat: drift hits all alike
            for level in levels if rep % 2 == 0 else reversed(levels):
                results[level].append(cost(bench, level, rep))
    print(f"LeNet5, batch {args.batch}, {args.steps} steps x {args.repeats} repeats, CPU time, 1 torch thread")
    print("| switched off, cumulatively | cnnexp ms/step | plain loop ms/step | framework cost ms/step | saved |")
    print("|---|---|---|---|---|")
    costs = [median([(o - p) * 1e3 for o, p in results[level]]) for level in levels]
    for level, text in zip(levels, LEVELS):
        ours, peer = (median([pair[i] * 1e3 for pair in results[level]]) for i in (0, 1))
        saved = f"{costs[level - 1] - costs[level]:.3f}" if level else "—"
        print(f"| {text} | {ours:.3f} | {peer:.3f} | {costs[level]:.3f} | {saved} |")
    if len(costs) == len(LEVELS):
        print(f"Lightning's loop alone: {costs[-1]:.3f} ms/step")
    return 0


if __name__ == "__main__":
    pl.seed_everything(0, verbose=False)
    sys.exit(main())
