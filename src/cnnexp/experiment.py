"""The edge: the one place where the composed config is read and turned into typed objects.

Everything past `assemble` (the nn.Module, the LightningModule, the data module, the Trainer) takes plain
typed arguments, so each part can be built and tested without Hydra.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from cnnexp import CONF_DIR
from cnnexp.data.folders import class_names, split_folders
from cnnexp.data.module import ImageDataModule
from cnnexp.data.spec import DataSpec, parse_data
from cnnexp.errors import ConfigError
from cnnexp.model.builder import build
from cnnexp.model.spec import ModelSpec, parse_model
from cnnexp.model.summary import Summary, summarize
from cnnexp.train.callbacks import Throughput, make_callbacks
from cnnexp.train.faults import AtomicCheckpointIO, CheckpointOnInterrupt, StopOnNonFinite
from cnnexp.train.instantiate import instantiate_target
from cnnexp.train.loss import LOSSES
from cnnexp.train.slurm import cluster_plugins
from cnnexp.train.module import Classifier
from cnnexp.train.optim import make_optimizer, make_schedule
from cnnexp.train.trainer import make_trainer


@dataclass
class Experiment:
    model: ModelSpec
    data: DataSpec
    summary: Summary
    datamodule: ImageDataModule
    module: Classifier
    trainer: pl.Trainer
    throughput: Throughput
    run_dir: Path


def plain(cfg: DictConfig, key: str) -> Any:
    """One config group as plain resolved data (dicts, lists, numbers, strings)."""
    node = OmegaConf.select(cfg, key)
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def model_spec(cfg: DictConfig) -> ModelSpec:
    return parse_model(plain(cfg, "model"))


def assemble(cfg: DictConfig) -> Experiment:
    """Seed, then build data, model, LightningModule and Trainer from the composed config."""
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    data = _with_class_count(cfg, parse_data(plain(cfg, "data")))
    spec = model_spec(cfg)
    _check_classes(spec, data)
    summary = summarize(spec)  # validates every layer before anything is allocated
    fitting = fitting_models(data.shape)[:3] if data.shape != spec.input_shape else []  # only for the error's hint
    datamodule = ImageDataModule(data, spec.input_shape, fitting, order_seed=int(cfg.seed))
    module = Classifier(
        build(spec), spec.num_classes, make_optimizer(plain(cfg, "optimizer")),
        make_schedule(plain(cfg, "scheduler")), LOSSES.get(str(cfg.loss.name), "loss.name"),
    )  # fmt: skip
    throughput = Throughput()
    run_dir = Path(str(cfg.output_dir))
    trainer = make_trainer(
        plain(cfg, "trainer"),
        logger=_logger(cfg),
        callbacks=[*make_callbacks(_callbacks(cfg)), throughput, *_fault_callbacks(run_dir)],
        plugins=[AtomicCheckpointIO(), *cluster_plugins()],
        default_root_dir=str(run_dir),
        use_distributed_sampler=False,  # the data module shards itself (see data/module.py)
    )
    return Experiment(spec, data, summary, datamodule, module, trainer, throughput, run_dir)


def _with_class_count(cfg: DictConfig, data: DataSpec) -> DataSpec:
    """data.num_classes: null (image folders) means one class per folder; the model's count follows it."""
    if data.num_classes is not None:
        return data
    cfg.data.num_classes = len(class_names(split_folders(data)["train"]))
    return parse_data(plain(cfg, "data"))


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


def _check_classes(spec: ModelSpec, data: DataSpec) -> None:
    if data.num_classes is not None and spec.num_classes != data.num_classes:
        raise ConfigError(
            f"model.num_classes={spec.num_classes} but data={data.name} has {data.num_classes} classes; "
            f"drop the model.num_classes override (it follows the data by default) or choose matching data."
        )


def _fault_callbacks(run_dir: Path) -> list[pl.Callback]:
    """Always on: stop on a non-finite loss, checkpoint on an interruption (train/faults.py)."""
    return [StopOnNonFinite(), CheckpointOnInterrupt(str(run_dir / "checkpoints"))]


def _callbacks(cfg: DictConfig) -> dict[str, Any]:
    entries = dict(plain(cfg, "callbacks") or {})
    if cfg.trainer.get("enable_progress_bar") is False:
        entries.pop("progress", None)  # Lightning refuses a progress bar callback when the bar is off
    return entries


def _logger(cfg: DictConfig) -> Any:
    node = plain(cfg, "logger")
    return instantiate_target(node, "logger") if node else False
