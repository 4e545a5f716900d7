"""SIGTERM at every phase of a run, in-process: during validation, during the test after training, before training.

Each stop ends with exit 143 and metrics.json saying where; the run continued from what it names ends with the
figures and epoch curves of an uninterrupted run. The data are an image folder streamed by a DataLoader and the
model has dropout, so a random state restored one draw off would show in the figures.
"""

from __future__ import annotations

import json
import os
import signal
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
from omegaconf import DictConfig
from PIL import Image

import cnnexp.tasks.train as train_task
from cnnexp.app import run_job
from cnnexp.train.signals import Interrupted, stop_on_signals

KEYS = ("test_acc", "test_loss", "best_val_acc", "epochs", "history", "checkpoint")


class SigtermAt(pl.Callback):
    """Sends this process SIGTERM after batch `batch` of `stage` ("val" in fit, or "test"), once."""

    def __init__(self, stage: str, batch: int) -> None:
        self.stage, self.batch, self.sent = stage, batch, False

    def _maybe(self, trainer: pl.Trainer, idx: int) -> None:
        if not self.sent and idx == self.batch and not trainer.sanity_checking:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.stage == "val" and trainer.current_epoch == 0:
            self._maybe(trainer, args[3])

    def on_test_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.stage == "test":
            self._maybe(trainer, args[3])


def image_tree(root: Path, per_class: int = 24) -> Path:
    """Three classes of 16×16 grey PNGs with noise, so that training moves the weights; train, val and test."""
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("val", per_class // 3), ("test", per_class // 3)):
        for label in range(3):
            folder = root / split / f"c{label}"
            folder.mkdir(parents=True)
            for k in range(count):
                pixels = np.clip(rng.normal(60 + 70 * label, 40, (16, 16)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{k}.png")
    return root


@pytest.fixture
def folder_cfg(tiny_cfg: Callable[..., DictConfig], tmp_path: Path) -> Callable[..., DictConfig]:
    root = image_tree(tmp_path / "images")
    common = (
        "data=image_folder", f"data.root={root}", "data.num_classes=3", "data.channels=1", "data.height=28",
        "data.width=28", "data.train_size=null", "data.test_size=null", "data.batch_size=8", "data.num_workers=0",
        "model=lenet5_dropout", "trainer.max_epochs=2", "seed=4", "callbacks.pictures=null",
    )  # fmt: skip

    def make(*extra: str, run: str) -> DictConfig:
        return tiny_cfg(*common, *extra, run=run)

    return make


def interrupt(monkeypatch: pytest.MonkeyPatch, cfg: DictConfig, stage: str, batch: int) -> dict[str, Any]:
    monkeypatch.setattr(train_task, "trial_pruning", lambda: [SigtermAt(stage, batch)])
    with pytest.raises(SystemExit) as ended:
        run_job(cfg)
    monkeypatch.undo()
    assert ended.value.code == 143
    return metrics(cfg)


def metrics(cfg: DictConfig) -> dict[str, Any]:
    return json.loads((Path(cfg.output_dir) / "metrics.json").read_text())


def figures(cfg: DictConfig) -> dict[str, Any]:
    found = {k: metrics(cfg)[k] for k in KEYS}
    found["checkpoint"] = Path(found["checkpoint"]).name  # the same file name in another folder
    return found


def test_sigterm_during_validation_or_test_then_continue_ends_as_if_uninterrupted(
    folder_cfg: Callable[..., DictConfig], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = folder_cfg(run="whole")
    run_job(whole)
    assert sorted(figures(whole)["history"]) == ["0", "1"]

    in_val = folder_cfg(run="in_val")
    stopped = interrupt(monkeypatch, in_val, "val", 1)
    ckpt = Path(in_val.output_dir) / "checkpoints" / "interrupted.ckpt"
    assert stopped["status"] == "interrupted" and stopped["phase"] == "validation at epoch 0, step 9"
    assert stopped["checkpoint"] == str(ckpt) and ckpt.is_file()
    assert (
        f"Continue this run with: python -m cnnexp ckpt_path={ckpt} hydra.run.dir={in_val.output_dir}"
        in capsys.readouterr().err
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_job(folder_cfg(f"ckpt_path={ckpt}", run="in_val"))
    assert figures(in_val) == figures(whole)  # epoch 0's validation, best checkpoint and curves are all there
    # Lightning's "Checkpoint directory ... exists and is not empty": the run's own folder, continued, holds its own.
    assert [str(w.message) for w in caught if "Checkpoint directory" in str(w.message)] == []
    assert not ckpt.exists()  # stale once the run finished

    in_test = folder_cfg(run="in_test")
    stopped = interrupt(monkeypatch, in_test, "test", 1)
    last = Path(in_test.output_dir) / "checkpoints" / "last.ckpt"
    assert stopped["phase"] == "test at epoch 2, step 18" and stopped["checkpoint"] == str(last)
    run_job(folder_cfg(f"ckpt_path={last}", run="in_test"))
    assert figures(in_test) == figures(whole)


def test_sigterm_before_training_is_recorded_and_exits_143(
    tiny_cfg: Callable[..., DictConfig], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def killed(*args: Any, **kwargs: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # while the data and model are being built: no Trainer runs yet

    monkeypatch.setattr(train_task, "assemble", killed)
    cfg = tiny_cfg()
    with pytest.raises(SystemExit) as ended:
        run_job(cfg)
    assert ended.value.code == 143
    assert metrics(cfg)["status"] == "interrupted" and metrics(cfg)["phase"] == "start-up"
    assert metrics(cfg)["checkpoint"] is None
    assert capsys.readouterr().err.endswith(
        f"no checkpoint (nothing trained yet): it starts again. Continue this run with: python -m cnnexp "
        f"hydra.run.dir={cfg.output_dir}\n"
    )


def test_ctrl_c_outside_a_trainer_is_an_interruption_too() -> None:
    # Python's own handler, whatever an earlier test left (Lightning ignores SIGINT after a KeyboardInterrupt).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with stop_on_signals(), pytest.raises(Interrupted) as stopped:
        os.kill(os.getpid(), signal.SIGINT)
        signal.sigtimedwait([], 0.5)  # let the handler run
    assert stopped.value.code == 143
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back as it was
