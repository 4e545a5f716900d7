"""train/speed.py: device-following defaults, and SpeedUp applying them to a real run."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch import nn

from cnnexp.errors import ConfigError, TrainingFailed
from cnnexp.run import read_run
from cnnexp.tasks.assemble import assemble
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
    exp = assemble(
        read_run(tiny_cfg("trainer.max_steps=2", "trainer.limit_val_batches=0", "callbacks.checkpoint=null"))
    )
    speed = SpeedUp(channels_last=True)
    exp.trainer.callbacks.append(speed)
    exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    conv = next(m for m in exp.module.net.modules() if isinstance(m, nn.Conv2d))
    assert speed.applied == ["channels_last"]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert exp.trainer.global_step == 2


class SeenSwitches(pl.Callback):
    """Records the process-wide TF32 switches while the model trains and while it is tested."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seen.append((torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32))

    on_test_start = on_train_start


def test_tf32_is_set_either_way_and_restored_after_each_run_of_a_sweep(tiny_cfg: Tiny) -> None:
    original = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    for tf32, expected in ((True, ("high", True)), (False, ("highest", False))):
        exp = assemble(read_run(tiny_cfg(f"callbacks.speed.tf32={str(tf32).lower()}", "trainer.max_steps=1",
                                "trainer.limit_val_batches=0", "callbacks.checkpoint=null", run=f"tf32_{tf32}")))  # fmt: skip
        seen = SeenSwitches()
        exp.trainer.callbacks.append(seen)
        exp.trainer.fit(exp.module, datamodule=exp.datamodule)
        exp.trainer.test(exp.module, datamodule=exp.datamodule, verbose=False)
        assert seen.seen == [expected, expected]  # fit and test both ran with the setting asked for
        assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32) == original


def test_tf32_is_restored_when_a_run_fails(tiny_cfg: Tiny) -> None:
    original = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    exp = assemble(
        read_run(
            tiny_cfg("callbacks.speed.tf32=true", "optimizer=sgd", "optimizer.lr=1e6", "trainer.limit_val_batches=0")
        )
    )
    with pytest.raises(TrainingFailed, match="training diverged"):
        exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32) == original
