"""task=train (the default): fit, test the best checkpoint, write metrics.json; task=test: evaluate a checkpoint."""

from __future__ import annotations

import contextlib
import json
import logging
import pickle
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from lightning_fabric.utilities.rank_zero import rank_zero_only
from pytorch_lightning.utilities.exceptions import SIGTERMException

from cnnexp.errors import ConfigError
from cnnexp.experiment import Experiment, assemble
from cnnexp.run import Run
from cnnexp.tasks.base import TASKS
from cnnexp.train.faults import INTERRUPTED, graceful_ctrl_c
from cnnexp.train.gpu_slots import gpu_slot
from cnnexp.train.launch import ddp_children, ddp_processes
from cnnexp.train.results import log_to_tensorboard, write_json, write_summary

log = logging.getLogger(__name__)


@TASKS.register("train")
def train_task(run: Run) -> float:
    """Returns the figure named by `optimized_metric` (what a sweeper maximises), test accuracy by default."""
    done = _completed(run)
    if done is not None:
        return done
    resume = _checkpoint(run.options.ckpt_path) if run.options.ckpt_path else None
    with _own_gpu_in_parallel_sweeps(run) as run, ddp_children(ddp_processes(run.trainer.args)):
        return _train(run, resume)


def _interrupted(exp: Experiment) -> None:
    """Report where the checkpoint went and how to continue; exit 143, as a process ended by SIGTERM."""
    path = exp.run_dir / "checkpoints" / INTERRUPTED
    if exp.trainer.is_global_zero:
        write_json(exp.run_dir / "metrics.json", {"status": "interrupted", "checkpoint": str(path),
                                                  "epoch": exp.trainer.current_epoch, "step": exp.trainer.global_step})  # fmt: skip
        print(
            f"cnnexp: interrupted at epoch {exp.trainer.current_epoch}, step {exp.trainer.global_step}; checkpoint "
            f"{path}. Continue this run with: python -m cnnexp <the same overrides> ckpt_path={path} "
            f"'hydra.run.dir={exp.run_dir}'",
            file=sys.stderr,
            flush=True,
        )
    sys.exit(143)


@contextlib.contextmanager
def _own_gpu_in_parallel_sweeps(run: Run) -> Iterator[Run]:
    """Under launcher=local_parallel, a one-GPU job takes a GPU no other running job holds (train/gpu_slots.py):
    the Run it trains is the same run on that GPU."""
    args = run.trainer.args
    parallel = HydraConfig.initialized() and HydraConfig.get().runtime.choices.get("hydra/launcher") == "joblib"
    one_gpu = args.get("accelerator") == "gpu" and args.get("devices") == 1
    if not (parallel and one_gpu and torch.cuda.device_count() > 1):
        yield run
        return
    with gpu_slot(torch.cuda.device_count()) as index:
        yield run.on_gpu(index)


def _train(run: Run, resume: str | None) -> float:
    exp = assemble(run)
    if rank_zero_only.rank == 0:  # DDP children run this file too; only rank 0 writes and prints
        log.info(exp.summary.table())
        write_summary(exp.run_dir, exp.summary)
    start = time.perf_counter()
    with graceful_ctrl_c():
        try:
            exp.trainer.fit(exp.module, datamodule=exp.datamodule, ckpt_path=resume)
        except SIGTERMException:
            _interrupted(exp)
    best = exp.trainer.checkpoint_callback.best_model_path if exp.trainer.checkpoint_callback else ""
    best_val = exp.trainer.callback_metrics.get("val/acc_best")  # trainer.test() resets callback_metrics
    # The path itself, not "best": Lightning would warn that the run has two ModelCheckpoint callbacks (best, last).
    tested = exp.trainer.test(exp.module, datamodule=exp.datamodule, ckpt_path=best or None, verbose=False)
    metrics = _metrics(exp, tested[0], time.perf_counter() - start, best)
    metrics["best_val_acc"] = float(best_val) if best_val is not None else None
    if exp.trainer.is_global_zero:
        _report(exp, metrics)
    return _optimized(run, metrics)


@TASKS.register("test")
def test_task(run: Run) -> float:
    if run.options.ckpt_path is None:
        raise ConfigError("task=test needs ckpt_path=PATH (a .ckpt file from a run's checkpoints/ folder).")
    path = _checkpoint(run.options.ckpt_path)
    with ddp_children(ddp_processes(run.trainer.args)):
        return _test(run, path)


def _test(run: Run, path: str) -> float:
    exp = assemble(run)
    _load_weights(exp, path)
    start = time.perf_counter()
    tested = exp.trainer.test(exp.module, datamodule=exp.datamodule, verbose=False)
    metrics = {**_metrics(exp, tested[0], time.perf_counter() - start, path), "epochs": None}
    if exp.trainer.is_global_zero:
        _report(exp, metrics)
    return metrics["test_acc"]


def _completed(run: Run) -> float | None:
    """With skip_completed=true, the figure of a job that already finished in this folder."""
    metrics = run.output_dir / "metrics.json"
    if not run.options.skip_completed or not metrics.is_file():
        return None
    done = json.loads(metrics.read_text())
    if done.get("status") != "ok":
        return None
    log.info(f"skipped: {metrics} says this job finished (test accuracy {done['test_acc']:.4f})")
    return _optimized(run, done)


def _optimized(run: Run, metrics: dict[str, Any]) -> float:
    """The metrics.json figure named by `optimized_metric`: what a sweeper maximises or minimises."""
    key = run.options.optimized_metric
    if not isinstance(metrics.get(key), (int, float)):
        numbers = sorted(k for k, v in metrics.items() if isinstance(v, (int, float)))
        raise ConfigError(f"optimized_metric={key} is not a figure of metrics.json; choose one of {', '.join(numbers)}.")
    return float(metrics[key])


def _checkpoint(value: Path) -> str:
    if not value.is_file():
        raise ConfigError(f"ckpt_path={value}: no such file; give the path of a .ckpt file, e.g. outputs/runs/<run>/checkpoints/last.ckpt.")
    _weights_only(value)
    return str(value)


def _weights_only(path: Path) -> None:
    """A checkpoint is data: one that needs arbitrary unpickling (code) to load is refused, never run."""
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        message = str(err)
        # torch names a refused class "GLOBAL module.name"; without it the bytes are no checkpoint at all.
        found = next((line.strip() for line in message.splitlines() if "GLOBAL" in line), "")
        if not found:
            raise ConfigError(f"ckpt_path={path}: not a readable checkpoint; is the file complete?") from None
        raise ConfigError(
            f"ckpt_path={path}: refused: it holds pickled objects that only code could rebuild ({found}). "
            f"cnnexp loads checkpoints with weights only; use a checkpoint written by cnnexp."
        ) from None
    except (RuntimeError, EOFError, OSError) as err:
        raise ConfigError(f"ckpt_path={path}: not a readable checkpoint ({err}); is the file complete?") from None


def _load_weights(exp: Experiment, path: str) -> None:
    # weights_only: a checkpoint is data, never code to unpickle.
    state = torch.load(path, map_location="cpu", weights_only=True).get("state_dict", {})
    missing, unexpected = exp.module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(
            f"ckpt_path={path} does not fit model={exp.run.model.name}: {len(missing)} weights missing, "
            f"{len(unexpected)} unexpected (e.g. {(missing or unexpected)[0]}); pass the model the checkpoint was trained with."
        )


def _metrics(exp: Experiment, tested: dict[str, float], seconds: float, checkpoint: str) -> dict[str, Any]:
    return {
        "status": "ok",
        "model": exp.run.model.name,
        "data": exp.run.data.name,
        "test_acc": float(tested["test/acc"]),
        "test_loss": float(tested["test/loss"]),
        "test_images": int(tested["test/images"]),
        **({"test_acc_top5": float(tested["test/acc_top5"])} if "test/acc_top5" in tested else {}),
        "best_val_acc": None,
        "epochs": exp.trainer.current_epoch,
        "params": exp.summary.params,
        "trainable_params": exp.summary.trainable,
        "wall_time_s": round(seconds, 3),
        "train_images_per_s": round(exp.throughput.images_per_second, 1),
        "world_size": exp.trainer.world_size,
        "checkpoint": checkpoint,
        # The epoch figures (train/val loss and accuracy) the curves and the sweep report are drawn from.
        "history": {str(epoch): values for epoch, values in sorted(exp.module.history.items())},
    }


def _report(exp: Experiment, metrics: dict[str, Any]) -> None:
    write_json(exp.run_dir / "metrics.json", metrics)
    run = exp.run
    choices = {
        "optimizer": run.optimizer.class_name,
        "lr": float(run.optimizer.args.get("lr", float("nan"))),
        "batch_size": run.data.batch_size,
        "loss": run.loss.name,
        "data": run.data.name,
        "seed": run.options.seed,
    }
    final = {k: metrics[k] for k in ("test_acc", "best_val_acc") if metrics.get(k) is not None}
    log_to_tensorboard(exp.trainer, exp.summary, choices, final)
    log.info(
        f"test accuracy {metrics['test_acc']:.4f}  best val accuracy {_fmt(metrics['best_val_acc'])}  "
        f"epochs {metrics['epochs']}  {metrics['train_images_per_s']:.0f} images/s  run folder {exp.run_dir}"
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
