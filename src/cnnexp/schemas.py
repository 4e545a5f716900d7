"""All config-group schemas, registered in Hydra's ConfigStore so that a misspelled key in a YAML file or an
override fails at compose time.

They live in a group of their own, `schema`, so they never show up as choices of the groups they check. A
group's YAML file starts with `defaults: [/schema/GROUP@_here_, _self_]` (`/schema/GROUP_OPTION@_here_` where
each option configures a different class, as optimizers do)."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from cnnexp.data.schema import DataConf
from cnnexp.model.schema import ModelConf
from cnnexp.train import schema as ts
from cnnexp.viz.schema import KernelsConf


def register_schemas() -> None:
    """Store every schema; safe to call more than once."""
    nodes: dict[str, type] = {
        "model": ModelConf,
        "data": DataConf,
        "loss": ts.LossConf,
        "trainer": ts.trainer_schema(),
        "callbacks": ts.callbacks_schema(),
        "logger_tensorboard": ts.logger_schema(),
        "scheduler_none": ts.NoSchedulerConf,
        "kernels": KernelsConf,
    }
    for name, cls in ts.OPTIMIZERS.items():
        nodes[f"optimizer_{name}"] = ts.signature_schema(cls, f"{cls.__name__}Conf", True, ("params",))
    for name, cls in ts.SCHEDULERS.items():
        nodes[f"scheduler_{name}"] = ts.scheduler_schema(cls, f"{cls.__name__}Conf")
    store = ConfigStore.instance()
    for name, node in nodes.items():
        store.store(group="schema", name=name, node=node)
