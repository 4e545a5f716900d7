"""task=train (the default): fit (resumed, or from init_from= weights), test the best checkpoint, write metrics.json."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from lightning_fabric.utilities.rank_zero import rank_zero_only
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException

from cnnexp.checkpoint.finetune import freeze, init_from
from cnnexp.checkpoint.load import Checkpoint, read_checkpoint
from cnnexp.checkpoint.resume import check_resume, check_resume_state
from cnnexp.errors import ConfigError, TrainingFailed, closest
from cnnexp.run import Run
from cnnexp.rundir.claim import newest_checkpoint
from cnnexp.rundir.files import write_json
from cnnexp.sweep.pruning import Pruned, trial_pruning
from cnnexp.tasks.assemble import Experiment, assemble
from cnnexp.tasks.base import TASKS, check_optimized_metric, optimized
from cnnexp.tasks.outcome import announce, outcome
from cnnexp.tasks.stops import continue_command, interrupted
from cnnexp.train.faults import INTERRUPTED, CheckpointOnInterrupt
from cnnexp.train.gpu_slots import gpu_slot
from cnnexp.train.launch import Ranks, ddp_children, ddp_processes
from cnnexp.train.metrics import TOP5_ABOVE
from cnnexp.train.results import write_summary
from cnnexp.train.targets import named_targets

log = logging.getLogger(__name__)
# What the Classifier logs (train/module.py): loss and accuracy per stage, top-5 above 10 classes, the test
# images counted, the best val accuracy so far, and the training loss per step.
LOGGED = ("loss", "acc")
EXTRA_LOGGED = ("test/images", "val/acc_best", "train/loss_step")


@TASKS.register("train")
def train_task(run: Run) -> float:
    """Returns the figure named by `optimized_metric` (what a sweeper maximises), test accuracy by default."""
    check_optimized_metric(run)  # before training, not after it
    check_monitors(run)
    resume = _resumed(run)
    with (
        _own_gpu_in_parallel_sweeps(run) as run,
        ddp_children(ddp_processes(run.trainer.args), run.invocation) as ranks,
    ):
        return _train(run, resume, ranks)


def _resumed(run: Run) -> Checkpoint | None:
    """The checkpoint `ckpt_path` resumes, checked against this run before anything is built."""
    if run.options.ckpt_path is None:
        return None
    if run.options.init_from:
        raise ConfigError(
            "ckpt_path= and init_from= are both given: ckpt_path resumes a run (its weights, optimizer and epoch), "
            "init_from starts a new one from weights; give one of them."
        )
    ckpt = read_checkpoint(run.options.ckpt_path, vouched=named_targets(run.to_dict()))
    check_resume(run, ckpt)
    return ckpt.shapes_only()  # Lightning reads the file again to resume: no second copy of its tensors meanwhile


def _start_weights(exp: Experiment, resume: Checkpoint | None) -> None:
    """Frozen layers first (the optimizer's parameters follow them), then the resumed state or init_from's weights."""
    net, options, model = exp.module.net, exp.run.options, exp.run.model.name
    speak = _rank_zero()
    if options.freeze:
        frozen = freeze(net, options.freeze, model)
        count = sum(p.numel() for name, p in net.named_parameters() if name.rpartition(".")[0] in frozen)
        if speak:
            log.info(f"freeze: {', '.join(frozen)} ({count:,} parameters not trained)")
    if resume is not None:
        check_resume_state(exp.module, resume)
    elif options.init_from:
        loaded = init_from(net, options.init_from, model, named_targets(exp.run.to_dict()))
        if speak:
            log.info(loaded.text())


def _rank_zero() -> bool:
    """Lightning's rank of this process (set on its rank_zero_only decorator once the strategy knows it)."""
    return getattr(rank_zero_only, "rank", 0) == 0


@contextlib.contextmanager
def _own_gpu_in_parallel_sweeps(run: Run) -> Iterator[Run]:
    """Under launcher=local_parallel, a one-GPU job takes a GPU no other running job holds (train/gpu_slots.py):
    the Run it trains is the same run on that GPU."""
    args = run.trainer.args
    parallel = run.invocation.parallel
    one_gpu = args.get("accelerator") == "gpu" and args.get("devices") == 1
    if not (parallel and one_gpu and torch.cuda.device_count() > 1):
        yield run
        return
    with gpu_slot(torch.cuda.device_count()) as index:
        yield run.on_gpu(index)


def _train(run: Run, resume: Checkpoint | None, ranks: Ranks) -> float:
    exp = assemble(run, extra=trial_pruning())  # an Optuna trial with a pruner reports each epoch
    if _rank_zero():  # DDP children run this file too; only rank 0 writes and prints
        log.info(exp.summary.table())
        write_summary(exp.run_dir, exp.summary)
    _start_weights(exp, resume)
    path = str(resume.path) if resume else None
    start = time.perf_counter()
    try:
        exp.trainer.fit(exp.module, datamodule=exp.datamodule, ckpt_path=path)
        saving = exp.trainer.checkpoint_callback
        best = saving.best_model_path if isinstance(saving, ModelCheckpoint) else ""
        # The path itself, not "best": Lightning would warn that the run has two ModelCheckpoint callbacks.
        tested = exp.trainer.test(exp.module, datamodule=exp.datamodule, ckpt_path=best or None, verbose=False)
    except SIGTERMException:
        raise _stopped(exp) from None
    except Pruned as pruned:
        return _pruned(exp, str(pruned))
    except Exception as err:
        lost = ranks.lost(err)
        if not lost:
            raise
        raise _rank_lost(exp, lost) from None  # gloo's "Connection reset by peer" says nothing useful
    metrics = outcome(exp, tested[0], time.perf_counter() - start, best)
    metrics["best_val_acc"] = best_val_acc(exp.module.history)
    if exp.trainer.is_global_zero:
        announce(exp, metrics)
        _forget_interrupted(exp.run_dir, path)
    return optimized(run, metrics)


def _stopped(exp: Experiment) -> BaseException:
    """SIGTERM or Ctrl-C inside fit, validation or test: what to continue from, recorded and said."""
    callbacks = exp.trainer.callbacks  # type: ignore[attr-defined]  # set by Lightning's callback connector
    callback = next(cb for cb in callbacks if isinstance(cb, CheckpointOnInterrupt))
    # Nothing saved now (the sanity check, the test after training): the newest checkpoint already there is
    # what continues the run (last.ckpt once training has ended).
    checkpoint = callback.saved or newest_checkpoint(exp.run_dir) or exp.run.options.ckpt_path  # resumed: before a save
    where = f"{callback.phase or 'training'} at epoch {exp.trainer.current_epoch}, step {exp.trainer.global_step}"
    return interrupted(exp.run.invocation.overrides, exp.run_dir, where, checkpoint, exp.trainer.is_global_zero)


def _rank_lost(exp: Experiment, lost: str) -> TrainingFailed:
    found = newest_checkpoint(exp.run_dir)
    where = f"epoch {exp.trainer.current_epoch}, step {exp.trainer.global_step}"
    again = (
        f"continue from its last checkpoint with: {continue_command(exp.run.invocation.overrides, exp.run_dir, found)}"
        if found
        else f"start it again with: {continue_command(exp.run.invocation.overrides, exp.run_dir, None, 'overwrite=true')}"
    )
    return TrainingFailed(
        f"{lost} at {where}; the other ranks cannot go on without it, so training stopped. Find why in its log "
        f"({exp.run_dir}/rank*.log: out of memory? killed by the system?), then {again}"
    )


def _pruned(exp: Experiment, reason: str) -> float:
    """Stopped early by the Optuna pruner, as asked: the epochs it trained are recorded; NaN to the sweeper,
    which marks the trial pruned (not failed) from this metrics.json."""
    if exp.trainer.is_global_zero:
        history = {str(e): v for e, v in sorted(exp.module.history.items())}
        record = {
            "status": "pruned",
            "reason": reason,
            "model": exp.run.model.name,
            "epochs": exp.trainer.current_epoch,
        }
        write_json(
            exp.run_dir / "metrics.json",
            {**record, "best_val_acc": best_val_acc(exp.module.history), "history": history},
        )
        print(f"trial {reason}; run folder {exp.run_dir}", flush=True)
    return float("nan")


def _forget_interrupted(run_dir: Path, resumed: str | None) -> None:
    """The run continued from its interrupted.ckpt and finished: that checkpoint is stale now."""
    stale = run_dir / "checkpoints" / INTERRUPTED
    if resumed is not None and stale.is_file() and Path(resumed).resolve() == stale.resolve():
        stale.unlink()


def best_val_acc(history: dict[int, dict[str, float]]) -> float | None:
    """The best epoch's val accuracy, from the epoch figures (a resumed run has its earlier epochs there too)."""
    values = [epoch["val/acc"] for epoch in history.values() if "val/acc" in epoch]
    return max(values) if values else None


def logged_metrics(run: Run) -> list[str]:
    """Every name the run logs a figure under (LearningRateMonitor adds `lr-<Optimizer>`)."""
    kinds = [*LOGGED, *(["acc_top5"] if run.model.num_classes > TOP5_ABOVE else [])]
    rates = [f"lr-{run.optimizer.class_name}" for t in run.callbacks.values() if t.class_name == "LearningRateMonitor"]
    return sorted({*(f"{stage}/{kind}" for stage in ("train", "val", "test") for kind in kinds), *EXTRA_LOGGED, *rates})


def check_monitors(run: Run) -> None:
    """Every callback's `monitor` names a metric the run logs: checked before epoch 0, not after it."""
    logged = logged_metrics(run)
    for name, target in run.callbacks.items():
        monitor = target.args.get("monitor")
        if monitor is not None and monitor not in logged:
            raise ConfigError(
                f"callbacks.{name}.monitor={monitor}: the run logs no metric of that name.{closest(str(monitor), logged)} "
                f"Logged metrics: {', '.join(logged)}."
            )
