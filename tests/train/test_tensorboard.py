"""What `tensorboard --logdir outputs` shows for a run: scalars, the hparams tab, the summary text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from cnnexp.app import run_job


def _events(run: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run / "tb"), size_guidance={"tensors": 0, "scalars": 0})
    return acc.Reload()


def test_run_logs_scalars_hparams_and_summary(tiny_cfg: Callable[..., DictConfig]) -> None:
    cfg = tiny_cfg("trainer.max_epochs=2", "trainer.log_every_n_steps=5", "optimizer=sgd", "scheduler=step")
    run_job(cfg)
    events = _events(Path(cfg.output_dir))
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss_step", "train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best", "test/acc",
            "lr-SGD", "hp/test_acc", "hp/best_val_acc"} <= scalars  # fmt: skip
    assert [e.value for e in events.Scalars("lr-SGD")] == pytest.approx([0.01, 0.007])  # StepLR: ×0.7 per epoch
    summary = events.Tensors("model/summary/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "fc1      linear" in summary and "176,050" in summary

    plugin = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(plugin["_hparams_/session_start_info"]).session_start_info
    hparams = {k: v.string_value or v.number_value for k, v in start.hparams.items()}
    assert hparams["model"] == "lenet5" and hparams["optimizer"] == "SGD" and hparams["activation"] == "relu"
    assert (hparams["lr"], hparams["batch_size"], hparams["params"]) == (0.01, 50, 176_050)
