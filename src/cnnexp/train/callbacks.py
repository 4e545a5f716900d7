"""conf/callbacks: an open set of Lightning callbacks, by name; their schemas, typed value, and the callbacks built.

Any callback class can be added or removed, from the command line or a config of one's own:
`+callbacks.swa._target_=pytorch_lightning.callbacks.StochasticWeightAveraging +callbacks.swa.swa_lrs=0.01`,
`callbacks.lr_monitor=null`, or presets as a list, `callbacks=[default,early_stopping]`. The classes that
shipped presets configure have schemas (`/schema/callback_KEY`), so their every argument can be overridden
without a `+` and a misspelled one fails at compose time; an entry of any other class is checked against its
constructor when it is built.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cnnexp.train.instantiate import Target, build_subclass, preset_schemas, read_target

if TYPE_CHECKING:
    import pytorch_lightning as pl

log = logging.getLogger(__name__)
# The classes conf/callbacks' presets configure, by schema key (`/schema/callback_KEY`). Named, not imported:
# reading a run must not import Lightning (or viz/, which train/ never imports).
PRESET_CLASSES = {
    "model_checkpoint": "pytorch_lightning.callbacks.ModelCheckpoint",
    "lr_monitor": "pytorch_lightning.callbacks.LearningRateMonitor",
    "early_stopping": "pytorch_lightning.callbacks.EarlyStopping",
    "progress_bar": "cnnexp.train.console.ProgressBar",
    "lr_finder": "cnnexp.train.lr_find.FindLearningRate",
    "pictures": "cnnexp.viz.callback.Pictures",
    "speed": "cnnexp.train.speed.SpeedUp",
}


def callback_schemas() -> dict[str, type]:
    """One schema per preset class, listing its constructor's arguments (imports the classes)."""
    return preset_schemas("callback", PRESET_CLASSES)


def read_callbacks(
    raw: Mapping[str, Any] | None, trainer: Mapping[str, Any], has_logger: bool = True
) -> dict[str, Target]:
    """The callbacks switched on (an entry set to null is off), by key; `has_logger`: whether the run has one."""
    entries = {str(name): read_target(entry, f"callbacks.{name}") for name, entry in (raw or {}).items() if entry}
    if trainer.get("enable_progress_bar") is False:
        entries.pop("progress", None)  # Lightning refuses a progress bar callback when the bar is off
    if not has_logger:
        # Lightning refuses a LearningRateMonitor without a logger to write to (logger=null).
        for name in [n for n, t in entries.items() if t.class_name == "LearningRateMonitor"]:
            log.info(f"callbacks.{name}: off, as there is no logger to write the learning rate to (logger=null)")
            del entries[name]
    return entries


def make_callbacks(entries: Mapping[str, Target]) -> list[pl.Callback]:
    return [make_callback(name, target) for name, target in entries.items()]


def make_callback(name: str, target: Target) -> pl.Callback:
    """The callback `callbacks.NAME` names, once its class is known to be a Lightning Callback (nothing else is
    called)."""
    import pytorch_lightning as pl

    fix = (
        f"name a Callback class there (e.g. pytorch_lightning.callbacks.StochasticWeightAveraging), or switch the "
        f"entry off with callbacks.{name}=null."
    )
    return build_subclass(target, f"callbacks.{name}", pl.Callback, fix)
