"""What a run says unasked: the line at its start, the adaptation it does, and the warning for a slow CPU run."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest
import torch
from omegaconf import DictConfig

from cnnexp.app import run_job
from cnnexp.run import read_run
from cnnexp.tasks.assemble import make_datamodule
from cnnexp.train import notices
from cnnexp.train.notices import PaceWarning, slow_message

Tiny = Callable[..., DictConfig]


def test_the_slow_run_message_gives_the_estimate_and_the_ways_out() -> None:
    assert slow_message(430 * 21.3, 21.3, 430, 128, "alexnet") == (
        "slow run: on this CPU a training batch of 128 images takes 21.3 s (6.0 images/s), so one epoch of 430 "
        "batches takes about 2.5 h. For a quick run: trainer.limit_train_batches=2 (about 1 min per epoch), or "
        "model=alexnet_small (AlexNet's shape made for 28×28 to 32×32 inputs); or train on a GPU."
    )
    assert "about 12 min" in slow_message(720.0, 0.5, 1440, 64, "lenet5")
    assert "model=lenet5, model=alexnet_small" in slow_message(720.0, 0.5, 1440, 64, "mine")


def _train(pace: PaceWarning, trainer: SimpleNamespace, batch: tuple, batches: int) -> None:
    """Start and end `batches` training batches as Lightning dispatches them: a hook set to None is skipped."""
    for idx in range(batches):
        for hook, args in (("on_train_batch_start", (batch, idx)), ("on_train_batch_end", (None, batch, idx))):
            if callable(getattr(pace, hook)):
                getattr(pace, hook)(trainer, None, *args)


def _fake_trainer(device: str, batches: int = 430) -> SimpleNamespace:
    strategy = SimpleNamespace(root_device=torch.device(device))
    return SimpleNamespace(strategy=strategy, num_training_batches=batches, is_global_zero=True)


@pytest.mark.parametrize(("device", "warned"), [("cpu", True), ("cuda", False)])
def test_the_second_batch_is_timed_and_a_long_cpu_epoch_is_announced_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, device: str, warned: bool
) -> None:
    clock = iter([100.0, 121.3])  # batch 1 starts at 100 s and ends at 121.3 s
    monkeypatch.setattr(notices.time, "perf_counter", lambda: next(clock))
    pace, trainer, batch = PaceWarning("alexnet"), _fake_trainer(device), (torch.zeros(128, 3, 2, 2), None)
    _train(pace, trainer, batch, 4)  # batch 0 is not timed; batch 1 is; later ones change nothing
    assert pace.estimate_s == pytest.approx(430 * 21.3)
    assert pace.on_train_batch_start is None and pace.on_train_batch_end is None  # type: ignore[comparison-overlap]
    assert caplog.text.count("slow run: on this CPU a training batch of 128 images takes 21.3 s") == int(warned)


def test_a_fast_run_says_nothing(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    clock = iter([0.0, 0.01])
    monkeypatch.setattr(notices.time, "perf_counter", lambda: next(clock))
    pace, trainer, batch = PaceWarning("lenet5"), _fake_trainer("cpu", 430), (torch.zeros(128), None)
    _train(pace, trainer, batch, 2)
    assert pace.estimate_s == pytest.approx(4.3) and "slow run" not in caplog.text


def test_a_real_run_announces_itself_and_its_pace(
    tiny_cfg: Tiny, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notices, "EPOCH_LIMIT_S", 0.0)  # any epoch is "long": the warning path runs for real
    caplog.set_level("INFO", logger="cnnexp")
    cfg = tiny_cfg()
    run_job(cfg)
    assert (
        f"run {cfg.output_dir} on cpu ({torch.get_num_threads()} threads), precision 32-true; data=digits 1×28×28"
        in caplog.text
    )
    assert "slow run: on this CPU a training batch of 50 images takes " in caplog.text
    assert "one epoch of 12 batches takes about 0 min" in caplog.text


def test_a_model_with_a_fixed_input_gets_the_data_adapted_and_says_so(
    tiny_cfg: Tiny, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="cnnexp")
    datamodule = make_datamodule(read_run(tiny_cfg("model=alexnet")))
    assert datamodule.model_input == (3, 227, 227)
    assert (
        "data.adapt: model=alexnet takes 3×227×227, data=digits gives 1×28×28: each batch is adapted (resize to "
        "227×227 and repeat the grey channel 3 times); data.adapt=false refuses instead."
    ) in caplog.text
