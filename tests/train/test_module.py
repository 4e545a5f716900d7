"""train/module.py: the loss arrives as a callable, and train/loss_step reaches the logger as if logged every step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from pytorch_lightning.loggers import Logger

from cnnexp.run import read_run
from cnnexp.tasks.assemble import assemble
from cnnexp.train.loss import quadratic
from cnnexp.train.module import Classifier

Tiny = Callable[..., DictConfig]


class Recorder(Logger):
    """Keeps what Lightning writes: (step, name, value)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[tuple[int, str, float]] = []

    @property
    def name(self) -> str:
        return "recorder"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.written += [(int(step or 0), k, float(v)) for k, v in metrics.items()]

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass


class LogsEveryStep(Classifier):
    """The plain Lightning way: `self.log` in every step, Lightning decides which steps to write."""

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = self._step(batch, self.train_metrics)
        self.log("train/loss_step", loss.detach(), on_step=True, on_epoch=False)
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        pass  # Lightning writes what training_step logged


class Monitor(pl.Callback):
    """Reads train/loss_step as a monitoring callback does (ModelCheckpoint, EarlyStopping), after every step."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, *_: Any) -> None:
        self.seen.append(float(trainer.callback_metrics["train/loss_step"]))


def _written(exp: Any, module: pl.LightningModule) -> tuple[list[tuple[int, str, float]], list[float]]:
    """What the loggers received, and what a monitor read after each step."""
    recorder, monitor = Recorder(), Monitor()
    exp.trainer.loggers = [recorder]
    exp.trainer.callbacks.append(monitor)
    exp.trainer.fit(module, datamodule=exp.datamodule)
    return recorder.written, monitor.seen


@pytest.mark.parametrize(
    ("extra", "steps_written", "batches"),
    [
        ((), [4, 9, 14, 19], 24),  # 12 batches per epoch, 24 steps
        (("trainer.accumulate_grad_batches=2",), [4, 9], 24),  # 6 optimizer steps per epoch: none while accumulating
        (("trainer.max_steps=7",), [4], 7),  # max_steps is not a stop Lightning writes at
    ],
)
@pytest.mark.slow
def test_train_loss_step_is_written_where_and_as_lightning_writes_it(
    tiny_cfg: Tiny, extra: tuple[str, ...], steps_written: list[int], batches: int
) -> None:
    overrides = (
        "trainer.max_epochs=2",
        "trainer.log_every_n_steps=5",
        "callbacks.checkpoint=null",
        "callbacks.last=null",
        *extra,
    )
    ours = assemble(read_run(tiny_cfg(*overrides, run="ours")))
    written, seen = _written(ours, ours.module)
    every = assemble(read_run(tiny_cfg(*overrides, run="every")))
    module = every.module
    reference = LogsEveryStep(module.net, 10, module.optimizer_factory, module.schedule, module.loss_fn)
    expected, seen_by_reference = _written(every, reference)
    steps = [(step, value) for step, name, value in written if name == "train/loss_step"]
    assert steps == [(step, value) for step, name, value in expected if name == "train/loss_step"]
    assert [step for step, _ in steps] == steps_written
    assert written == expected  # the epoch figures and "epoch" too
    # What a monitor of train/loss_step reads (a checkpoint, early stopping, pruning): each step's own loss.
    assert len(seen) == batches and seen == seen_by_reference


def test_the_loss_is_the_callable_given(tiny_cfg: Tiny) -> None:
    exp = assemble(read_run(tiny_cfg("loss=mse")))
    assert exp.module.loss_fn is quadratic
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    assert torch.equal(exp.module._step((x, y), exp.module.val_metrics), quadratic(exp.module(x), y))


def test_an_evaluation_builds_no_optimizer_and_cannot_be_trained(tiny_cfg: Tiny) -> None:
    exp = assemble(read_run(tiny_cfg("task=test", "scheduler=cosine")), fit=False)
    assert exp.module.optimizer_factory is None and exp.module.schedule is None
    with pytest.raises(RuntimeError, match="^this Classifier was built to evaluate only \\(no optimizer\\)"):
        exp.module.configure_optimizers()
