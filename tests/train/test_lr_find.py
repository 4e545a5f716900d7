"""The learning-rate finder: task=lr_find alone, and the preset that trains at the suggestion."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from cnnexp.app import run_job
from cnnexp.errors import ConfigError
from cnnexp.run import read_run
from cnnexp.tasks import task_named
from cnnexp.tasks.assemble import assemble
from cnnexp.train.lr_find import FindLearningRate

Tiny = Callable[..., DictConfig]
QUICK = ("callbacks=[default,lr_finder]", "callbacks.lr_finder.num_training_steps=25", "data.train_size=1500")


def test_task_lr_find_prints_the_suggestion_and_writes_the_plot(
    tiny_cfg: Tiny, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="cnnexp")
    cfg = tiny_cfg("task=lr_find", *QUICK)
    lr = run_job(cfg)
    assert isinstance(lr, float) and 1e-6 <= lr <= 1.0
    assert (
        f"lr_find: suggested optimizer.lr={lr:.3g} (steepest fall of the loss over 25 steps from 1e-06 to 1)"
        in caplog.text
    )
    assert (Path(cfg.output_dir) / "lr_find.png").stat().st_size > 10_000
    assert not (Path(cfg.output_dir) / "checkpoints").exists(), "the test alone: nothing is trained"


@pytest.mark.slow
def test_the_preset_trains_at_the_suggested_rate(tiny_cfg: Tiny) -> None:
    exp = assemble(read_run(tiny_cfg(*QUICK, "scheduler=step")))
    exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    finder = next(c for c in exp.trainer.callbacks if isinstance(c, FindLearningRate))
    assert finder.suggested is not None and not math.isclose(finder.suggested, 1e-3)  # Adam's lr in conf/optimizer
    group = exp.trainer.optimizers[0].param_groups[0]
    assert group["initial_lr"] == finder.suggested  # the step schedule scales from it
    assert exp.trainer.lr_scheduler_configs[0].scheduler.base_lrs == [finder.suggested]


def test_task_lr_find_needs_cnnexps_finder_under_the_preset_key(tiny_cfg: Tiny) -> None:
    cfg = tiny_cfg("task=lr_find", "+callbacks.lr_finder._target_=pytorch_lightning.callbacks.LearningRateFinder")
    with pytest.raises(
        ConfigError, match=r"callbacks\.lr_finder must be cnnexp\.train\.lr_find\.FindLearningRate for task=lr_find"
    ):
        task_named("lr_find")(read_run(cfg))
