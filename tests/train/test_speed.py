"""train/speed.py: device-following defaults, and SpeedUp applying them to a real run."""

from __future__ import annotations

import logging
import sys
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
from cnnexp.train import allocator
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
    speed = SpeedUp(channels_last=False, compile=True, keep_memory=False)
    speed.setup(trainer, module, "fit")  # type: ignore[arg-type]
    assert compiled == [module.net] and speed.applied == ["compile"]


def test_a_run_trains_in_channels_last(tiny_cfg: Tiny) -> None:
    exp = assemble(
        read_run(tiny_cfg("trainer.max_steps=2", "trainer.limit_val_batches=0", "callbacks.checkpoint=null"))
    )
    speed = SpeedUp(channels_last=True, keep_memory=False)
    exp.trainer.callbacks.append(speed)
    exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    conv = next(m for m in exp.module.net.modules() if isinstance(m, nn.Conv2d))
    assert speed.applied == ["channels_last"]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert exp.trainer.global_step == 2


REAL_GLIBC = allocator._glibc


class FakeLibc:
    """glibc's mallopt, recorded (1: accepted, as glibc answers)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return 1


@pytest.fixture
def libc(monkeypatch: pytest.MonkeyPatch) -> FakeLibc:
    """A fresh process as far as train/allocator.py knows, on glibc, with no allocator tuning of the user's."""
    fake = FakeLibc()
    monkeypatch.setattr(allocator, "_done", None)
    monkeypatch.setattr(allocator, "_glibc", lambda: fake)
    for name in (*allocator.USER_TUNING, "LD_PRELOAD"):
        monkeypatch.delenv(name, raising=False)
    return fake


def _set_up(speed: SpeedUp, device: str) -> list[str] | None:
    trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))
    speed.setup(trainer, SimpleNamespace(net=nn.Linear(2, 2)), "fit")  # type: ignore[arg-type]
    return speed.applied


def test_keep_memory_follows_the_device_and_is_set_once_per_process(libc: FakeLibc) -> None:
    assert _set_up(SpeedUp(channels_last=False), "cuda") == ["tf32"] and libc.calls == []  # null: CPUs only
    assert _set_up(SpeedUp(channels_last=False, keep_memory=False), "cpu") == [] and libc.calls == []
    assert _set_up(SpeedUp(channels_last=False), "cpu") == ["keep_memory"]
    assert libc.calls == [(-3, 32 << 20), (-1, 1 << 30)]  # M_MMAP_THRESHOLD 32 MiB, then M_TRIM_THRESHOLD 1 GiB
    assert _set_up(SpeedUp(channels_last=False), "cpu") == ["keep_memory"]  # the next run of a sweep: still set
    assert _set_up(SpeedUp(channels_last=False, tf32=False, keep_memory=True), "cuda") == ["keep_memory"]
    assert len(libc.calls) == 2  # made once


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MALLOC_TRIM_THRESHOLD_", "0"), ("GLIBC_TUNABLES", "glibc.malloc.arena_max=2"),
     ("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")],
)  # fmt: skip
def test_the_users_own_allocator_choice_is_left_alone(
    libc: FakeLibc, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    assert _set_up(SpeedUp(channels_last=False), "cpu") == [] and libc.calls == []


def test_keep_memory_asked_for_and_not_in_effect_says_why(
    libc: FakeLibc, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    with caplog.at_level(logging.WARNING, logger="cnnexp.train.speed"):
        assert _set_up(SpeedUp(channels_last=False), "cpu") == []  # null: nothing asked, nothing said
        assert caplog.messages == []
        assert _set_up(SpeedUp(channels_last=False, keep_memory=True), "cpu") == []
    assert caplog.messages == [
        "callbacks.speed.keep_memory=true is not in effect: you chose the allocator (MALLOC_TRIM_THRESHOLD_)."
    ]
    assert libc.calls == []


def test_another_c_library_is_left_alone(libc: FakeLibc, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: SimpleNamespace())  # no gnu_get_libc_version: musl
    monkeypatch.setattr(allocator, "_glibc", REAL_GLIBC)  # the fixture's fresh process, with the real lookup
    assert allocator._glibc() is None
    assert allocator.keep_freed_memory() is False and allocator.why_not() == "the C library is not glibc"


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's allocator: Linux")
def test_this_machines_glibc_takes_the_settings() -> None:
    # The real call, as a run on a Linux CPU makes it (glibc refuses an mmap threshold above 32 MiB: 0).
    libc = allocator._glibc()
    assert libc is not None and allocator._set(libc) is True


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
