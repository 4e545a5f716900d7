"""train/hooks.py: a callback's idle per-batch hooks are not dispatched; every hook that does something still is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint

from cnnexp.run import read_run
from cnnexp.tasks.assemble import assemble
from cnnexp.train.hooks import PER_BATCH, idle_hooks, skip_idle_hooks

Tiny = Callable[..., DictConfig]


class Counter(pl.Callback):
    """Overrides two per-batch hooks and one other; counts the calls."""

    def __init__(self) -> None:
        self.calls = {"on_train_batch_end": 0, "on_before_backward": 0, "on_train_epoch_end": 0}

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, *_: Any) -> None:
        self.calls["on_train_batch_end"] += 1

    def on_before_backward(self, trainer: pl.Trainer, module: pl.LightningModule, loss: Any) -> None:
        self.calls["on_before_backward"] += 1

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.calls["on_train_epoch_end"] += 1


def test_only_the_per_batch_hooks_a_class_leaves_as_they_are_go_idle() -> None:
    counter = Counter()
    assert idle_hooks(counter) == [h for h in PER_BATCH if h not in ("on_train_batch_end", "on_before_backward")]
    skip_idle_hooks([counter])
    assert all(getattr(counter, hook) is None for hook in idle_hooks(Counter()))
    assert callable(counter.on_train_batch_end) and callable(counter.on_before_backward)
    # Hooks that are not per batch are left alone, even empty ones: Lightning calls some of them directly.
    assert callable(counter.on_save_checkpoint) and callable(counter.setup) and callable(counter.on_exception)


def test_a_hook_set_on_the_instance_is_left_alone() -> None:
    counter = Counter()
    counter.on_validation_batch_end = lambda *args: None  # type: ignore[method-assign]  # a test's stand-in
    skip_idle_hooks([counter])
    assert callable(counter.on_validation_batch_end)


def test_lightnings_checkpoint_and_lr_monitor_go_idle_only_where_their_settings_make_them_so() -> None:
    assert "on_train_batch_end" in idle_hooks(ModelCheckpoint(monitor="val/acc"))
    assert "on_train_batch_end" not in idle_hooks(ModelCheckpoint(every_n_train_steps=5))
    assert "on_train_batch_end" not in idle_hooks(ModelCheckpoint(train_time_interval=timedelta(minutes=5)))
    assert "on_train_batch_start" in idle_hooks(LearningRateMonitor(logging_interval="epoch"))
    assert "on_train_batch_start" not in idle_hooks(LearningRateMonitor(logging_interval="step"))
    assert "on_train_batch_start" not in idle_hooks(LearningRateMonitor())  # None: logged every step

    class Saving(ModelCheckpoint):  # a subclass's own override is never judged idle
        def on_train_batch_end(self, *args: Any, **kwargs: Any) -> None:
            pass

    assert "on_train_batch_end" not in idle_hooks(Saving())


def test_a_run_dispatches_every_hook_that_does_something(tiny_cfg: Tiny) -> None:
    counter = Counter()
    exp = assemble(read_run(tiny_cfg("trainer.limit_train_batches=5", "trainer.limit_val_batches=1")), extra=[counter])
    checkpoints = [cb for cb in exp.trainer.callbacks if isinstance(cb, ModelCheckpoint)]  # type: ignore[attr-defined]
    assert len(checkpoints) == 2 and all(cb.on_train_batch_end is None for cb in checkpoints)
    assert counter.on_train_batch_start is None  # type: ignore[comparison-overlap]
    exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    assert counter.calls == {"on_train_batch_end": 5, "on_before_backward": 5, "on_train_epoch_end": 1}
    assert all(cb.last_model_path or cb.best_model_path for cb in checkpoints)  # they still save, at epoch end
