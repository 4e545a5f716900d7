"""cnnexp's side of the in-process rows: the real conf/ composed as the command line composes it, the real
`assemble` and `trainer.fit`, with a clock callback added to the Trainer's callbacks.

Everything the runner does by default stays on (its metrics, logger, checkpoints, progress bar, throughput
meter): the figures are those of `python -m cnnexp`, not of a stripped-down copy.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from cnnexp import CONF_DIR
from cnnexp.experiment import Experiment, assemble
from cnnexp.schemas import register_schemas


def compose_cfg(*overrides: str) -> DictConfig:
    """The composed config of `python -m cnnexp OVERRIDES...` (output_dir must be among the overrides)."""
    register_schemas()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def quiet_lightning() -> None:
    """Lightning's per-run info lines ('GPU available: ...') would bury the table; warnings still show."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.WARNING)


def fit(cfg: DictConfig, clocks: list[pl.Callback]) -> Experiment:
    """assemble + trainer.fit with the clocks added (speed settings come from the config, as in a run)."""
    exp = assemble(cfg)
    exp.trainer.callbacks.extend(clocks)
    exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    return exp


def run_dir(tmp: Path, name: str) -> str:
    return f"output_dir={tmp / 'runs' / name}"
