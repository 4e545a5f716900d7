"""task=train (the default): fit (resumed, or from init_from= weights), test the best checkpoint, write metrics.json;
task=test: evaluate a checkpoint as its record describes it."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from lightning_fabric.utilities.rank_zero import rank_zero_only
from pytorch_lightning.utilities.exceptions import SIGTERMException

from cnnexp.checkpoint.finetune import freeze, init_from
from cnnexp.checkpoint.load import Checkpoint, read_checkpoint
from cnnexp.checkpoint.match import checkpoint_for
from cnnexp.checkpoint.resume import check_resume, check_resume_state
from cnnexp.errors import ConfigError
from cnnexp.experiment import Experiment, assemble
from cnnexp.run import Run
from cnnexp.tasks.base import TASKS
from cnnexp.train.faults import INTERRUPTED, graceful_ctrl_c
from cnnexp.train.gpu_slots import gpu_slot
from cnnexp.train.launch import ddp_children, ddp_processes
from cnnexp.train.results import log_to_tensorboard, write_json, write_summary


@TASKS.register("train")
def train_task(run: Run) -> float:
    """Returns the figure named by `optimized_metric` (what a sweeper maximises), test accuracy by default."""
    done = _completed(run)
    if done is not None:
        return done
    resume = _resumed(run)
    with _own_gpu_in_parallel_sweeps(run) as run, ddp_children(ddp_processes(run.trainer.args)):
        return _train(run, resume)


def _resumed(run: Run) -> Checkpoint | None:
    """The checkpoint `ckpt_path` resumes, checked against this run before anything is built."""
    if run.options.ckpt_path is None:
        return None
    if run.options.init_from:
        raise ConfigError(
            f"ckpt_path= and init_from= are both given: ckpt_path resumes a run (its weights, optimizer and epoch), "
            f"init_from starts a new one from weights; give one of them."
        )
    ckpt = read_checkpoint(run.options.ckpt_path)
    check_resume(run, ckpt)
    return ckpt.shapes_only()  # Lightning reads the file again to resume: no second copy of its tensors meanwhile


def _start_weights(exp: Experiment, resume: Checkpoint | None) -> None:
    """Frozen layers first (the optimizer's parameters follow them), then the resumed state or init_from's weights."""
    net, options, model = exp.module.net, exp.run.options, exp.run.model.name
    speak = rank_zero_only.rank == 0
    if options.freeze:
        frozen = freeze(net, options.freeze, model)
        count = sum(p.numel() for name, p in net.named_parameters() if name.rpartition(".")[0] in frozen)
        if speak:
            print(f"freeze: {', '.join(frozen)} ({count:,} parameters not trained)", flush=True)
    if resume is not None:
        check_resume_state(exp.module, resume)
    elif options.init_from:
        loaded = init_from(net, options.init_from, model)
        if speak:
            print(loaded.text(), flush=True)


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


def _train(run: Run, resume: Checkpoint | None) -> float:
    exp = assemble(run)
    if rank_zero_only.rank == 0:  # DDP children run this file too; only rank 0 writes and prints
        print(exp.summary.table(), flush=True)
        write_summary(exp.run_dir, exp.summary)
    _start_weights(exp, resume)
    path = str(resume.path) if resume else None
    start = time.perf_counter()
    with graceful_ctrl_c():
        try:
            exp.trainer.fit(exp.module, datamodule=exp.datamodule, ckpt_path=path)
        except SIGTERMException:
            _interrupted(exp)
    best = exp.trainer.checkpoint_callback.best_model_path if exp.trainer.checkpoint_callback else ""
    best_val = exp.trainer.callback_metrics.get("val/acc_best")  # trainer.test() resets callback_metrics
    tested = exp.trainer.test(exp.module, datamodule=exp.datamodule, ckpt_path="best" if best else None, verbose=False)
    metrics = _metrics(exp, tested[0], time.perf_counter() - start, best)
    metrics["best_val_acc"] = float(best_val) if best_val is not None else None
    if exp.trainer.is_global_zero:
        _report(exp, metrics)
    return _optimized(run, metrics)


@TASKS.register("test")
def test_task(run: Run) -> float:
    """The checkpoint's model on the data it records (or data=... with the same classes); no overrides needed."""
    run, ckpt = checkpoint_for(run, "test")
    with ddp_children(ddp_processes(run.trainer.args)):
        return _test(run, ckpt)


def _test(run: Run, ckpt: Checkpoint) -> float:
    exp = assemble(run)
    ckpt.load_into(exp.module.net, "test it with the model and input size it was trained with (model=... data=...)")
    start = time.perf_counter()
    tested = exp.trainer.test(exp.module, datamodule=exp.datamodule, verbose=False)
    metrics = {**_metrics(exp, tested[0], time.perf_counter() - start, str(ckpt.path)), "epochs": None}
    if exp.trainer.is_global_zero:
        _other_class_names(exp, ckpt)
        _report(exp, metrics)
    return metrics["test_acc"]


def _other_class_names(exp: Experiment, ckpt: Checkpoint) -> None:
    """Same class count, other names (digits' '7' and MNIST's '7 - seven'): labels are matched by index; say so."""
    trained = list(ckpt.record.data.classes) if ckpt.record else []
    tested = list(exp.datamodule.class_names)
    if trained and tested != trained:
        pairs = ", ".join(f"{a} = {b}" for a, b in list(zip(trained, tested))[:4])
        print(f"note: data={exp.run.data.name} names its classes otherwise than the checkpoint's; they are matched by "
              f"position ({pairs}, ...)", file=sys.stderr, flush=True)  # fmt: skip


def _completed(run: Run) -> float | None:
    """With skip_completed=true, the figure of a job that already finished in this folder."""
    metrics = run.output_dir / "metrics.json"
    if not run.options.skip_completed or not metrics.is_file():
        return None
    done = json.loads(metrics.read_text())
    if done.get("status") != "ok":
        return None
    print(f"skipped: {metrics} says this job finished (test accuracy {done['test_acc']:.4f})", flush=True)
    return _optimized(run, done)


def _optimized(run: Run, metrics: dict[str, Any]) -> float:
    """The metrics.json figure named by `optimized_metric`: what a sweeper maximises or minimises."""
    key = run.options.optimized_metric
    if not isinstance(metrics.get(key), (int, float)):
        numbers = sorted(k for k, v in metrics.items() if isinstance(v, (int, float)))
        raise ConfigError(f"optimized_metric={key} is not a figure of metrics.json; choose one of {', '.join(numbers)}.")
    return float(metrics[key])


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
        "trainable_params": sum(p.numel() for p in exp.module.net.parameters() if p.requires_grad),  # freeze= counts
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
    print(
        f"test accuracy {metrics['test_acc']:.4f}  best val accuracy {_fmt(metrics['best_val_acc'])}  "
        f"epochs {metrics['epochs']}  {metrics['train_images_per_s']:.0f} images/s  run folder {exp.run_dir}",
        flush=True,
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
