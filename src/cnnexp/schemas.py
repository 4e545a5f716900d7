"""All config-group schemas, registered in Hydra's ConfigStore so that a misspelled key in a YAML file or an
override fails at compose time. A group's YAML files start with `defaults: [schema, _self_]` (or
`schema_NAME` where each option configures a different class)."""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from cnnexp.data.schema import DataConf
from cnnexp.model.schema import ModelConf
from cnnexp.train import schema as ts


def register_schemas() -> None:
    """Store every schema; safe to call more than once."""
    store = ConfigStore.instance()
    store.store(group="model", name="schema", node=ModelConf)
    store.store(group="data", name="schema", node=DataConf)
    store.store(group="loss", name="schema", node=ts.LossConf)
    store.store(group="trainer", name="schema", node=ts.trainer_schema())
    store.store(group="callbacks", name="schema", node=ts.callbacks_schema())
    store.store(group="logger", name="schema_tensorboard", node=ts.logger_schema())
    store.store(group="scheduler", name="schema_none", node=ts.NoSchedulerConf)
    for name, cls in ts.OPTIMIZERS.items():
        store.store(group="optimizer", name=f"schema_{name}", node=ts.signature_schema(cls, f"{cls.__name__}Conf", True, ("params",)))
    for name, cls in ts.SCHEDULERS.items():
        store.store(group="scheduler", name=f"schema_{name}", node=ts.scheduler_schema(cls, f"{cls.__name__}Conf"))
