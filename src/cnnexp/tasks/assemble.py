"""From a typed Run to the objects that train: data module, network, LightningModule, Trainer.

Nothing here reads the config: the Run (cnnexp/run.py) was read once at the edge, and every part below takes
plain typed arguments, so each can be built and tested without Hydra.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import OmegaConf

from cnnexp import CONF_DIR
from cnnexp.checkpoint.callback import RecordRun
from cnnexp.checkpoint.carry import CarryBestOnResume
from cnnexp.config.logs import quiet_known_noise
from cnnexp.data.module import ImageDataModule
from cnnexp.data.transforms import adaptation_line
from cnnexp.errors import ConfigError
from cnnexp.model.builder import build
from cnnexp.model.summary import Summary, summarize
from cnnexp.run import Run
from cnnexp.rundir.claim import CHECKPOINTS
from cnnexp.train.callbacks import make_callbacks
from cnnexp.train.console import FitLogInterval
from cnnexp.train.faults import AtomicCheckpointIO, CheckpointOnInterrupt, StopOnNonFinite
from cnnexp.train.logger import make_loggers
from cnnexp.train.memory import check_fits
from cnnexp.train.module import Classifier
from cnnexp.train.notices import PaceWarning, RunHeader
from cnnexp.train.optim import make_optimizer, make_schedule
from cnnexp.train.slurm import cluster_plugins
from cnnexp.train.throughput import Throughput
from cnnexp.train.trainer import make_trainer
from cnnexp.train.unvalidated import WithoutValidation

log = logging.getLogger(__name__)


@dataclass
class Experiment:
    run: Run
    summary: Summary
    datamodule: ImageDataModule
    module: Classifier
    trainer: pl.Trainer
    throughput: Throughput

    @property
    def run_dir(self) -> Path:
        return self.run.output_dir


def assemble(run: Run, extra: Sequence[pl.Callback] = (), fit: bool = True) -> Experiment:
    """Seed, then build data, model, LightningModule and Trainer (with the `extra` callbacks a task adds). The
    optimizer and schedule only when the run will `fit` (or tune): an evaluation builds neither, so the classes a
    checkpoint's record names for them are never built by testing it."""
    pl.seed_everything(run.options.seed, workers=True, verbose=False)
    _check_classes(run)
    summary = summarize(run.model)  # validates every layer before anything is allocated
    training = run.options.task == "train"
    check_fits(run.model.name, summary.params, summary.trainable, run.optimizer, run.trainer.args, training)
    datamodule = make_datamodule(run)
    optimizer, schedule = (make_optimizer(run.optimizer), make_schedule(run.scheduler)) if fit else (None, None)
    module = Classifier(build(run.model), run.model.num_classes, optimizer, schedule, run.loss.fn)
    quiet_known_noise(synced=module.epoch_names(), continued_in=_continued_in(run))
    throughput = Throughput()
    named = dict(zip(run.callbacks, make_callbacks(run.callbacks)))
    trainer = make_trainer(
        run.trainer,
        logger=make_loggers(run.logger) or False,
        callbacks=[
            *named.values(),
            throughput,
            RunHeader(),
            WithoutValidation(named),  # after the header: its line reads as a note on that run
            PaceWarning(run.model.name),
            *_fault_callbacks(run.output_dir),
            FitLogInterval(),
            RecordRun(run),
            CarryBestOnResume(),
            *extra,
        ],
        plugins=[AtomicCheckpointIO(), *cluster_plugins()],
        default_root_dir=str(run.output_dir),
        use_distributed_sampler=False,  # the data module shards itself (see data/module.py)
    )
    return Experiment(run, summary, datamodule, module, trainer, throughput)


def _check_classes(run: Run) -> None:
    """The model's outputs against the data's classes (a summary needs no data, so this is checked here)."""
    model, data = run.model, run.data
    if data.num_classes is not None and model.num_classes != data.num_classes:
        raise ConfigError(
            f"model.num_classes={model.num_classes} but data={data.name} has {data.num_classes} classes; "
            f"drop the model.num_classes override (it follows the data by default) or choose matching data."
        )


def make_datamodule(run: Run) -> ImageDataModule:
    """The data shaped for the run's model (one line says how, when it is adapted); the models that would fit the
    data as they are, for the error's hint."""
    data, model = run.data, run.model
    fitting = fitting_models(data.shape)[:3] if data.shape != model.input_shape else []
    datamodule = ImageDataModule(data, model.input_shape, fitting, order_seed=run.options.seed)
    if data.shape != model.input_shape:
        log.info(adaptation_line(data.shape, model.input_shape, data.name, model.name))
    return datamodule


def fitting_models(shape: tuple[int, int, int]) -> list[str]:
    """Shipped models whose input follows the data's shape (for the hint when a model does not fit)."""
    names = []
    for path in sorted(CONF_DIR.glob("model/*.yaml")):
        declared = OmegaConf.to_container(OmegaConf.load(path), resolve=False).get("input", {})  # type: ignore[union-attr]
        # An interpolation such as ${data.height} follows any data; a number must equal the data's.
        if all(str(declared.get(k, "")).startswith("${data.") or declared.get(k) == v
               for k, v in zip(("channels", "height", "width"), shape)):  # fmt: skip
            names.append(path.stem)
    return names


def _continued_in(run: Run) -> str | None:
    """The run's checkpoints/ folder (its real path, as Lightning names it) when the run continues from a
    checkpoint in its own folder (interrupted.ckpt, last.ckpt, a SLURM requeue's hpc_ckpt_N.ckpt); None for a new
    run or a resume into a new folder."""
    ckpt = run.options.ckpt_path
    if ckpt is None or not Path(ckpt).resolve().is_relative_to(Path(run.output_dir).resolve()):
        return None
    return os.path.realpath(Path(run.output_dir) / CHECKPOINTS)


def _fault_callbacks(run_dir: Path) -> list[pl.Callback]:
    """Always on: stop on a non-finite loss, checkpoint on an interruption (train/faults.py)."""
    return [StopOnNonFinite(), CheckpointOnInterrupt(str(run_dir / CHECKPOINTS))]
