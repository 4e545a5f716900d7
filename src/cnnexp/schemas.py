"""Every config group's schema, registered in Hydra's ConfigStore so that a misspelled key or a wrong type in a
YAML file or an override fails at compose time.

Each schema is derived from the class that reads the group (cnnexp/groups.py `schema_of`) or from the class
the group configures (its constructor's arguments), never written a second time. They live in a group of their
own, `schema`, so they never show up as choices of the groups they check. A group's YAML file starts with
`defaults: [/schema/GROUP@_here_, _self_]` (`/schema/GROUP_OPTION@_here_` where each option configures a
different class, as optimizers do)."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from pytorch_lightning import callbacks as plc

from cnnexp.data.spec import DataSpec
from cnnexp.groups import schema_of
from cnnexp.model.schema import ModelConf
from cnnexp.train.callbacks import callbacks_schema
from cnnexp.train.logger import logger_schemas
from cnnexp.train.loss import LossSpec
from cnnexp.train.optim import schemas as optim_schemas
from cnnexp.train.speed import SpeedUp
from cnnexp.train.trainer import trainer_schema
from cnnexp.viz.schema import KernelsSpec


def callback_classes() -> dict[str, type]:
    """The callback keys conf/callbacks knows, and the class each configures."""
    from cnnexp.viz.callback import Pictures  # here, not at the top: it pulls in matplotlib and the data module

    return {
        "checkpoint": plc.ModelCheckpoint,
        "last": plc.ModelCheckpoint,
        "lr_monitor": plc.LearningRateMonitor,
        "early_stopping": plc.EarlyStopping,
        "progress": plc.TQDMProgressBar,
        "pictures": Pictures,
        "speed": SpeedUp,
    }


def register_schemas() -> None:
    """Store every schema; safe to call more than once."""
    nodes: dict[str, type] = {
        "model": ModelConf,
        "data": schema_of(DataSpec),
        "loss": schema_of(LossSpec),
        "trainer": trainer_schema(),
        "callbacks": callbacks_schema(callback_classes()),
        "kernels": schema_of(KernelsSpec),
        **logger_schemas(),
        **optim_schemas(),
    }
    store = ConfigStore.instance()
    for name, node in nodes.items():
        store.store(group="schema", name=name, node=node)
