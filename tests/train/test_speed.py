"""train/speed.py: device-following defaults, and SpeedUp applying them to a real run."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest
import torch
from omegaconf import DictConfig
from torch import nn

from cnnexp.errors import ConfigError
from cnnexp.experiment import assemble
from cnnexp.run import read_run
from cnnexp.train.speed import SpeedUp, auto_precision, channels_last_for, resolve_precision

Tiny = Callable[..., DictConfig]


def test_precision_auto_is_full_precision_on_a_cpu() -> None:
    assert auto_precision("cpu") == "32-true"
    assert resolve_precision({"precision": "auto", "accelerator": "cpu"})["precision"] == "32-true"
    assert resolve_precision({"precision": "16-mixed"}) == {"precision": "16-mixed"}


def test_channels_last_follows_the_device_unless_chosen() -> None:
    assert channels_last_for("cuda") is True
    assert channels_last_for("cpu") is torch.backends.mkldnn.is_available()
    assert channels_last_for("cuda", False) is False
    assert channels_last_for("mps") is False


def test_a_switch_that_is_not_a_boolean_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"callbacks\.speed\.compile must be true, false or null"):
        SpeedUp(compile="yes")  # type: ignore[arg-type]


def test_compile_compiles_the_net_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[nn.Module] = []
    monkeypatch.setattr(nn.Module, "compile", lambda self, *a, **k: compiled.append(self))
    module = SimpleNamespace(net=nn.Linear(2, 2))
    trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")))
    speed = SpeedUp(channels_last=False, compile=True)
    speed.setup(trainer, module, "fit")  # type: ignore[arg-type]
    assert compiled == [module.net] and speed.applied == ["compile"]


def test_a_run_trains_in_channels_last(tiny_cfg: Tiny) -> None:
    exp = assemble(read_run(tiny_cfg("trainer.max_steps=2", "trainer.limit_val_batches=0", "callbacks.checkpoint=null")))
    speed = SpeedUp(channels_last=True)
    exp.trainer.callbacks.append(speed)
    exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    conv = next(m for m in exp.module.net.modules() if isinstance(m, nn.Conv2d))
    assert speed.applied == ["channels_last"]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert exp.trainer.global_step == 2
