"""task=lr_find: Lightning's learning-rate range test alone, on the run's model and data; nothing is trained.

Prints the suggested optimizer.lr and writes lr_find.png (loss against lr) into the run folder. The test's
settings are those of `callbacks.lr_finder` when the run has that preset (callbacks=[default,lr_finder]),
else its defaults: 100 steps from 1e-6 to 1, exponentially.
"""

from __future__ import annotations

from dataclasses import replace

from pytorch_lightning.tuner import Tuner

from cnnexp.errors import ConfigError
from cnnexp.run import Run
from cnnexp.tasks.assemble import assemble
from cnnexp.tasks.base import TASKS
from cnnexp.train.callbacks import make_callback
from cnnexp.train.lr_find import FindLearningRate, report

FINDER = "lr_finder"  # the preset's key in conf/callbacks/lr_finder.yaml


@TASKS.register("lr_find")
def lr_find_task(run: Run) -> float | None:
    """Returns the suggested learning rate (None when too few steps ran to suggest one)."""
    preset = run.callbacks.get(FINDER)
    finder = make_callback(FINDER, preset) if preset else FindLearningRate()
    if not isinstance(finder, FindLearningRate):
        got = preset.target if preset else type(finder).__name__
        raise ConfigError(
            f"callbacks.{FINDER} must be cnnexp.train.lr_find.FindLearningRate for task=lr_find, got {got}."
        )
    # Tuner.lr_find adds a finder callback of its own, and refuses a trainer that already has one.
    exp = assemble(replace(run, callbacks={k: v for k, v in run.callbacks.items() if k != FINDER}))
    found = Tuner(exp.trainer).lr_find(exp.module, datamodule=exp.datamodule, update_attr=False, **finder.settings())
    if found is None:
        return None  # fast_dev_run: Lightning skips the test and says so
    return report(found, exp.run_dir, exp.trainer.is_global_zero)
