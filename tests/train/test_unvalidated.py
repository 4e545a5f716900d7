"""A training run without validation (data.val_size=0, trainer.limit_val_batches=0, validation every 3 epochs of
2): the best-epoch checkpoint keeps nothing and says so, the test evaluates the last epoch, which last.ckpt holds,
and a callback that would wait for a val/ figure is a config mistake named by its key (train/unvalidated.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
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
    ("setting", "reason", "epochs"),
    [
        ("data.val_size=0", "0 validation images, data.val_size=0", 2),
        ("trainer.limit_val_batches=0", "trainer.limit_val_batches=0", 2),
        (
            "trainer.check_val_every_n_epoch=3",  # no validation epoch in two: before, not a checkpoint was written
            "trainer.check_val_every_n_epoch=3 is more than trainer.max_epochs=2",
            2,
        ),
        (
            "trainer.max_steps=3",  # 12 steps an epoch (600 images, batch 50): it ends before the first validation
            "trainer.max_steps=3 ends the fit before its first validation, after step 12",
            1,
        ),
    ],
)
def test_without_validation_the_last_epoch_is_tested_and_lightning_does_not_ask_for_a_log_call(
    cli: Cli, tmp_path: Path, setting: str, reason: str, epochs: int
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
    assert (metrics["status"], metrics["epochs"], metrics["best_val_acc"], metrics["checkpoint"]) == (
        "ok",
        epochs,
        None,
        "",
    )
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.ckpt"]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == epochs - 1  # the last


def test_a_run_with_two_reasons_says_the_first_once(cli: Cli, tmp_path: Path) -> None:
    code, err, _ = _run(cli, tmp_path, "data.val_size=0", "trainer.max_steps=3")
    printed = err + cli.out  # type: ignore[attr-defined]
    assert code == 0, printed[-3000:]
    assert [line.split(":")[0] for line in printed.splitlines() if line.startswith("no validation")] == [
        "no validation (0 validation images, data.val_size=0)"
    ]


@pytest.mark.parametrize(
    ("setting", "reason", "remedy"),
    [
        (
            "data.val_size=0",
            "0 validation images, data.val_size=0",
            "keep some images for validation (data.val_size=0.1)",
        ),
        (
            "trainer.check_val_every_n_epoch=3",
            "trainer.check_val_every_n_epoch=3 is more than trainer.max_epochs=2",
            "validate within the epochs (trainer.check_val_every_n_epoch=1)",
        ),
        (  # before, Lightning's RuntimeError with a traceback and exit 1 at the end of the third step
            "trainer.max_steps=3",
            "trainer.max_steps=3 ends the fit before its first validation, after step 12",
            "train up to it (trainer.max_steps=12 or more)",
        ),
    ],
)
def test_early_stopping_without_validation_names_its_key_and_the_ways_out(
    cli: Cli, tmp_path: Path, setting: str, reason: str, remedy: str
) -> None:
    code, err, _ = _run(cli, tmp_path, setting, "callbacks=[default,early_stopping]")
    assert code == 2
    assert one_paragraph(err) == (
        f"callbacks.early_stopping (EarlyStopping) monitors val/acc, but this run has no validation ({reason}), so "
        f"val/acc is never logged; {remedy}, monitor a training figure (callbacks.early_stopping.monitor=train/loss "
        "callbacks.early_stopping.mode=min), or switch it off: callbacks.early_stopping=null."
    )
    assert "keeps no best epoch" not in err + cli.out  # type: ignore[attr-defined]  # the mistake alone is said


@pytest.mark.parametrize("steps", ["trainer.max_steps=-1", "trainer.max_steps=12"])  # 12: it validates at its end
def test_a_run_that_validates_is_left_as_it_was(cli: Cli, tmp_path: Path, steps: str) -> None:
    code, err, run = _run(cli, tmp_path, "callbacks=[default,early_stopping]", steps)
    assert code == 0, err[-3000:]
    assert "keeps no best epoch" not in err + cli.out  # type: ignore[attr-defined]
    assert len(list((run / "checkpoints").glob("epoch*-val_acc*.ckpt"))) == 1  # the best epoch, kept
