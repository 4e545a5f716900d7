"""Callbacks' per-batch hooks that would do nothing are not dispatched at all.

Lightning calls every hook on every callback: six per training step (batch start and end, before and after
backward, before the optimiser step and zero_grad), each call wrapped in its profiler's context and a string
naming the callback (ModelCheckpoint builds that name from a repr of its settings). A run's dozen callbacks
made that about 0.4 ms per step on the development CPU, nearly all of what cnnexp added to Lightning's own
loop (docs/benchmarks.md), for hooks most of which are the base class's empty methods.

Lightning skips a hook whose attribute is not callable (`if callable(fn)` in its dispatch), so a callback's
idle per-batch hooks are set to None on the instance: the class keeps its methods, nothing else changes. Only
per-batch hooks: Lightning dispatches those through that one check, while some others (on_save_checkpoint)
it calls directly. A hook is idle when the callback's class does not override it, or when one of Lightning's
callbacks is configured so that its override returns at once (`IDLE`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytorch_lightning as pl
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint

PER_BATCH = (
    "on_train_batch_start", "on_train_batch_end", "on_before_backward", "on_after_backward",
    "on_before_optimizer_step", "on_before_zero_grad", "on_validation_batch_start", "on_validation_batch_end",
    "on_test_batch_start", "on_test_batch_end", "on_predict_batch_start", "on_predict_batch_end",
)  # fmt: skip


def _checkpoint_idle(callback: pl.Callback) -> bool:
    """ModelCheckpoint saves from on_train_batch_end only with every_n_train_steps or train_time_interval set."""
    steps = getattr(callback, "_every_n_train_steps", 1)  # read as Lightning 2.6 keeps them; unknown: not idle
    return isinstance(steps, int) and steps < 1 and getattr(callback, "_train_time_interval", 0) is None


# Lightning's callbacks whose override of a per-batch hook returns at once under some settings.
IDLE: dict[tuple[type[pl.Callback], str], Callable[[pl.Callback], bool]] = {
    (ModelCheckpoint, "on_train_batch_end"): _checkpoint_idle,
    (LearningRateMonitor, "on_train_batch_start"): lambda cb: getattr(cb, "logging_interval", None) == "epoch",
}


def idle_hooks(callback: pl.Callback) -> list[str]:
    """The per-batch hooks of `callback` that would do nothing."""
    idle = []
    for name in PER_BATCH:
        method = getattr(type(callback), name, None)
        if method is getattr(pl.Callback, name):
            idle.append(name)
            continue
        for (cls, hook), is_idle in IDLE.items():
            if hook == name and isinstance(callback, cls) and method is getattr(cls, name) and is_idle(callback):
                idle.append(name)
    return idle


def skip_idle_hooks(callbacks: Iterable[pl.Callback]) -> None:
    """Set each callback's idle per-batch hooks to None, so that Lightning does not dispatch them."""
    for callback in callbacks:
        for name in idle_hooks(callback):
            if name not in vars(callback):  # an instance's own hook (a test's stand-in) is left alone
                setattr(callback, name, None)
