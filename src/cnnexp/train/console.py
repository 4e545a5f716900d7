"""What a run shows while it trains: Lightning's progress bar on stderr, or off a terminal one line per epoch.

cnnexp's own lines (the run line, the summary, the closing figures) go to stdout, so `python -m cnnexp > out.txt`
holds them and nothing else: Lightning's bar writes its frames (`\\r`) to stdout, and this bar writes them to
stderr instead. Where stderr is no terminal either (a log file, a cluster job), frames would only fill the file:
the bar is off and each epoch ends with one line of its figures.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Mapping
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar

from cnnexp.data.module import ImageDataModule

log = logging.getLogger(__name__)
# The figures of an epoch's line, in this order, where the epoch has them.
EPOCH_FIGURES = ("train/loss", "train/acc", "val/loss", "val/acc")


class ProgressBar(TQDMProgressBar):
    """TQDMProgressBar writing to stderr; `terminal` None: on when stderr is a terminal, else a line per epoch."""

    def __init__(
        self, refresh_rate: int = 50, process_position: int = 0, leave: bool = False, terminal: bool | None = None
    ) -> None:
        super().__init__(refresh_rate=refresh_rate, process_position=process_position, leave=leave)
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        if not self.terminal:
            self.disable()
            # Off a terminal the bar never draws: its per-step hook would only find that out, every step
            # (Lightning does not dispatch a hook that is None; train/hooks.py).
            self.on_train_batch_end = None  # type: ignore[assignment,method-assign]
        self._epoch_start: float | None = None
        self._next = 0  # the first epoch whose line is not said yet (a resumed run's earlier epochs were said)

    def enable(self) -> None:
        """Off a terminal the bar stays off: Lightning's learning-rate finder disables the bar and enables it after."""
        if self.terminal:
            super().enable()

    # Lightning's bars take `file=sys.stdout` when made: made while stdout is stderr, they write there.
    def init_sanity_tqdm(self) -> Any:
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_sanity_tqdm()

    def init_train_tqdm(self) -> Any:
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_train_tqdm()

    def init_validation_tqdm(self) -> Any:
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_validation_tqdm()

    def init_test_tqdm(self) -> Any:
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_test_tqdm()

    def init_predict_tqdm(self) -> Any:
        with contextlib.redirect_stdout(sys.stderr):
            return super().init_predict_tqdm()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._next = trainer.current_epoch
        super().on_train_start(trainer, pl_module)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # The previous epoch's figures are complete now: the module logs its train figures after every callback's
        # on_train_epoch_end, so the line for epoch e is said when epoch e + 1 starts (or when training ends).
        self._say_finished(trainer, pl_module)
        self._epoch_start = time.perf_counter()
        super().on_train_epoch_start(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._say_finished(trainer, pl_module)
        super().on_train_end(trainer, pl_module)

    def _say_finished(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """The line of each epoch that has its figures and has not been said (an interrupted epoch has none)."""
        history: Mapping[int, Mapping[str, float]] = getattr(pl_module, "history", {})
        done = sorted(epoch for epoch in history if epoch >= self._next)
        if self.terminal or not done or not trainer.is_global_zero:
            return
        seconds = time.perf_counter() - self._epoch_start if self._epoch_start is not None else math.nan
        for epoch in done:
            log.info(epoch_line(epoch, trainer.max_epochs, history[epoch], seconds))
        self._next = done[-1] + 1


def epoch_line(epoch: int, max_epochs: int | None, figures: Mapping[str, float], seconds: float) -> str:
    """`epoch 2/3  train/loss 0.1234  ...  val/acc 0.9812  (12.3 s)`; epochs counted from 1, as the bar counts."""
    of = f"/{max_epochs}" if max_epochs and max_epochs > 0 else ""
    shown = "  ".join(f"{name} {figures[name]:.4f}" for name in EPOCH_FIGURES if name in figures)
    took = f"  ({seconds:.1f} s)" if math.isfinite(seconds) else ""
    return f"epoch {epoch + 1}{of}  {shown}{took}"


class FitLogInterval(pl.Callback):
    """trainer.log_every_n_steps no longer than an epoch: a small run (43 batches) still logs its training steps,
    and Lightning does not warn that cnnexp's default of 50 exceeds the epoch."""

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        batches = _train_batches(trainer)
        if batches is not None and 0 < batches < trainer.log_every_n_steps:  # type: ignore[attr-defined]
            trainer.log_every_n_steps = batches  # type: ignore[attr-defined]  # set by Lightning's connector


def _train_batches(trainer: pl.Trainer) -> int | None:
    """Training batches per epoch on this rank, as Lightning will count them (limit_train_batches applied);
    None for a data module that cannot say before its loader is made (not cnnexp's)."""
    datamodule = getattr(trainer, "datamodule", None)  # set by Lightning's data connector
    if not isinstance(datamodule, ImageDataModule):
        return None
    return limited(datamodule.train_batches(trainer.world_size), trainer.limit_train_batches)


def limited(batches: int, limit: int | float | None) -> int:
    """Lightning's count under trainer.limit_train_batches: a number of batches, or a share of them."""
    if isinstance(limit, int):
        return min(batches, limit)
    return int(batches * float(limit)) if limit is not None else batches
