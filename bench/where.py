"""What cnnexp adds to Lightning's own loop, part by part: `python bench/where.py [--batch 32] [--repeats 3]`.

Runs LeNet5 (or `--model`) in cnnexp's runner paired step by step with the plain loop (cnnexp_side.PairedSteps), as
`python -m cnnexp` runs it and then with one part switched off at a time, and the bare Lightning loop
(bench/bare.py) paired the same way, all in this one run. Each line's cost is its runner's iteration minus the
plain loop's; "above bare Lightning" subtracts the bare loop's cost from the same repeat; "saved" is what
switching that one part off saved against the whole runner. The parts:

- the module's per-step work (metric bookkeeping, train/loss_step on the steps Lightning writes);
- cnnexp's callbacks with per-batch hooks (throughput meter, NaN stop, pace warning);
- cnnexp's other callbacks (interrupt checkpoint, pictures, run header, log interval, run record; SpeedUp
  stays, since it sets the memory format both sides train in);
- Lightning's callbacks (the two checkpoints, the learning-rate monitor);
- the progress bar; the logger; and all of these at once.

The clock is the process's CPU time with one torch thread, so other processes' load on a shared machine
inflates it far less than wall time. The figures are for reading the shares; bench/run.py gives the table's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytorch_lightning as pl
import torch
from bare import PreparedBatches, bare_fit
from cnnexp_side import Bench, PairedSteps, quiet_lightning, train_split
from omegaconf import DictConfig
from peers import normaliser, plain_iterations
from pytorch_lightning import callbacks as plc
from table import FULL, median

from cnnexp.checkpoint.callback import RecordRun
from cnnexp.run import read_run
from cnnexp.tasks.assemble import assemble
from cnnexp.train.allocator import keep_freed_memory
from cnnexp.train.console import FitLogInterval
from cnnexp.train.faults import CheckpointOnInterrupt, StopOnNonFinite
from cnnexp.train.module import Classifier
from cnnexp.train.notices import PaceWarning, RunHeader
from cnnexp.train.throughput import Throughput
from cnnexp.viz.callback import Pictures

NO_BAR = ("trainer.enable_progress_bar=false", "callbacks.progress=null")


@dataclass(frozen=True)
class Part:
    text: str
    module: bool = False  # the step computes the loss alone
    callbacks: tuple[type[pl.Callback], ...] = ()  # dropped from the runner's callbacks
    overrides: tuple[str, ...] = ()  # config overrides that switch it off


OURS_PER_BATCH = (Throughput, StopOnNonFinite, PaceWarning)
OURS_OTHER = (CheckpointOnInterrupt, Pictures, RunHeader, FitLogInterval, RecordRun)
LIGHTNINGS = (plc.ModelCheckpoint, plc.LearningRateMonitor)
PARTS = (
    Part("nothing: the runner as `python -m cnnexp` runs it"),
    Part("the module's per-step work", module=True),
    Part("cnnexp's callbacks with per-batch hooks (throughput, NaN stop, pace warning)", callbacks=OURS_PER_BATCH),
    Part(
        "cnnexp's other callbacks (interrupt checkpoint, pictures, header, log interval, record)", callbacks=OURS_OTHER
    ),
    Part("Lightning's callbacks (two checkpoints, LR monitor)", callbacks=LIGHTNINGS),
    Part("the progress bar", overrides=NO_BAR),
    Part("the logger", overrides=("~logger",)),
    Part("all of the above", True, OURS_PER_BATCH + OURS_OTHER + LIGHTNINGS, (*NO_BAR, "~logger")),
)


def _loss_only(self: Classifier, batch: tuple[torch.Tensor, torch.Tensor], *_: object) -> torch.Tensor:
    x, y = batch
    return self.loss_fn(self.net(x), y)


def _no_step_log(self: Classifier, loss: torch.Tensor) -> None:
    pass


@contextmanager
def module_work_off(off: bool) -> Iterator[None]:
    """The step computes the loss alone: no metric bookkeeping, no train/loss_step. (Patched on the class by
    name, so that the same parts apply to other versions of train/module.py.)"""
    saved = Classifier._step, Classifier._write_step_log
    if off:
        Classifier._step, Classifier._write_step_log = _loss_only, _no_step_log  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        Classifier._step, Classifier._write_step_log = saved  # type: ignore[method-assign]


def _plain(bench: Bench, cfg: DictConfig) -> tuple[PairedSteps, PreparedBatches, float]:
    """The plain loop's clock for one side, and the bare loop's batches and learning rate."""
    split = train_split(cfg)
    prep, lr = normaliser(split.mean, split.std, bench.device), float(cfg.optimizer.lr)
    iterations = plain_iterations(bench.net(cfg), split.images, split.labels, prep, bench.size.batch, lr, bench.seed)
    steps = bench.size.warmup + bench.size.steps + 1
    data = PreparedBatches(split.images, split.labels, prep, bench.size.batch, bench.seed + 1, steps)
    return PairedSteps(iterations, clock=time.process_time), data, lr


def cost(bench: Bench, part: Part | None, rep: int, model: str = "lenet5") -> tuple[float, float]:
    """Mean CPU seconds per iteration (runner, plain loop) with `part` off; part None: the bare Lightning loop."""
    size = bench.size
    steps = (f"trainer.max_steps={size.warmup + size.steps + 1}", "trainer.limit_val_batches=0")
    overrides = part.overrides if part else ()
    cfg = bench.cfg(f"part{PARTS.index(part) if part else 'bare'}_{rep}", f"model={model}", *steps, *overrides)
    clock, data, lr = _plain(bench, cfg)
    if part is None:
        bare_fit(bench.net(cfg), data, lr, [clock])
    else:
        exp = assemble(read_run(cfg))
        exp.trainer.callbacks[:] = [cb for cb in exp.trainer.callbacks if not isinstance(cb, part.callbacks)] + [clock]
        with module_work_off(part.module):
            exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    return clock.means(slice(size.warmup, size.warmup + size.steps))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="lenet5",
                        help="model=linear shows the framework's share alone, nearly free of the model's noisy compute")  # fmt: skip
    parser.add_argument(
        "--parts", type=int, default=len(PARTS), help="measure only the first N lines (1: the runner as is)"
    )
    parser.add_argument(
        "--data-root", type=Path, default=Path(os.environ.get("CNNEXP_DATA", Path(__file__).parents[1] / "data"))
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    quiet_lightning()
    # As in bench/run.py: every side with the allocator setting the runner makes, the bare loop's first fit
    # (run before any runner's) included.
    keep_freed_memory()
    size = replace(FULL, batch=args.batch, steps=args.steps, warmup=args.warmup)
    sides: list[Part | None] = [None, *PARTS[: max(1, args.parts)]]
    results: dict[int, list[tuple[float, float]]] = {i: [] for i in range(len(sides))}
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="cnnexp-where-") as scratch:
        bench = Bench(size, torch.device("cpu"), Path(scratch), args.data_root)
        for rep in range(args.repeats):  # sides in turns, reversed every other repeat: drift hits all alike
            for i in range(len(sides)) if rep % 2 == 0 else reversed(range(len(sides))):
                results[i].append(cost(bench, sides[i], rep, args.model))
    print(f"model={args.model}, batch {args.batch}, {args.steps} steps after {args.warmup} x {args.repeats} repeats, CPU time, "
          f"1 torch thread; load average {load} at the start")  # fmt: skip
    costs = {i: [(o - p) * 1e3 for o, p in results[i]] for i in results}
    floor = median(costs[0])
    print(
        "| switched off | cnnexp ms/step | plain loop ms/step | cost above the plain loop | above bare Lightning | saved |"
    )
    print("|---|---|---|---|---|---|")
    for i, part in enumerate(sides[1:], start=1):
        ours, peer = (median([pair[k] * 1e3 for pair in results[i]]) for k in (0, 1))
        above = median([c - b for c, b in zip(costs[i], costs[0])])
        saved = f"{median(costs[1]) - median(costs[i]):.3f}" if i > 1 else "—"
        print(f"| {part.text} | {ours:.3f} | {peer:.3f} | {median(costs[i]):.3f} | {above:.3f} | {saved} |")  # type: ignore[union-attr]
    ours, peer = (median([pair[k] * 1e3 for pair in results[0]]) for k in (0, 1))
    print(f"| (the bare Lightning loop) | {ours:.3f} | {peer:.3f} | {floor:.3f} | 0 | — |")
    return 0


if __name__ == "__main__":
    pl.seed_everything(0, verbose=False)
    sys.exit(main())
