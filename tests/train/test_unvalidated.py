"""A training run without validation (data.val_size=0, trainer.limit_val_batches=0): the best-epoch checkpoint
keeps nothing and says so, the test evaluates the last epoch, and a callback that would wait for a val/ figure is
a config mistake named by its key (train/unvalidated.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import TINY, Cli, one_paragraph

# Lightning's words when a monitor never sees its figure, and when the validation split is empty.
NOISE = ("could not find the monitored key", "across ranks is zero")
TWO_EPOCHS = (*TINY, "trainer.max_epochs=2")


def _run(cli: Cli, tmp_path: Path, *overrides: str) -> tuple[int, str, Path]:
    """(exit code, stderr, run folder) of a two-epoch tiny run; cli.out holds its stdout."""
    run = tmp_path / "run"
    code, err = cli(*TWO_EPOCHS, *overrides, f"hydra.run.dir={run}")
    return code, err, run


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("data.val_size=0", "0 validation images, data.val_size=0"),
        ("trainer.limit_val_batches=0", "trainer.limit_val_batches=0"),
    ],
)
def test_without_validation_the_last_epoch_is_tested_and_lightning_does_not_ask_for_a_log_call(
    cli: Cli, tmp_path: Path, setting: str, reason: str
) -> None:
    code, err, run = _run(cli, tmp_path, setting)
    printed = err + cli.out  # type: ignore[attr-defined]  # cli.out: the run's stdout
    assert code == 0, printed[-3000:]
    assert (
        f"no validation ({reason}): callbacks.checkpoint keeps no best epoch by val/acc; the test evaluates the "
        "last epoch, which checkpoints/last.ckpt holds." in printed
    )
    assert not [line for line in printed.splitlines() if any(text in line for text in NOISE)]  # as the run prints them
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["status"], metrics["epochs"], metrics["best_val_acc"], metrics["checkpoint"]) == ("ok", 2, None, "")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.ckpt"]


def test_early_stopping_without_validation_names_its_key_and_the_ways_out(cli: Cli, tmp_path: Path) -> None:
    code, err, _ = _run(cli, tmp_path, "data.val_size=0", "callbacks=[default,early_stopping]")
    assert code == 2
    assert one_paragraph(err) == (
        "callbacks.early_stopping (EarlyStopping) monitors val/acc, but this run has no validation (0 validation "
        "images, data.val_size=0), so val/acc is never logged; keep some images for validation "
        "(data.val_size=0.1), monitor a training figure (callbacks.early_stopping.monitor=train/loss "
        "callbacks.early_stopping.mode=min), or switch it off: callbacks.early_stopping=null."
    )
    assert "keeps no best epoch" not in err + cli.out  # type: ignore[attr-defined]  # the mistake alone is said


def test_a_run_that_validates_is_left_as_it_was(cli: Cli, tmp_path: Path) -> None:
    code, err, run = _run(cli, tmp_path, "callbacks=[default,early_stopping]")
    assert code == 0, err[-3000:]
    assert "keeps no best epoch" not in err + cli.out  # type: ignore[attr-defined]
    assert len(list((run / "checkpoints").glob("epoch*-val_acc*.ckpt"))) == 1  # the best epoch, kept
