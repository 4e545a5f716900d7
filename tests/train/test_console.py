"""train/console.py: the progress bar writes to stderr, off a terminal a line per epoch, and a logging interval
no longer than the epoch (no Lightning warning on small runs)."""

from __future__ import annotations

import logging
import math

import pytest
import pytorch_lightning as pl
import torch
from support import TINY
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from cnnexp.train.console import FitLogInterval, ProgressBar, epoch_line, limited


class Tiny(pl.LightningModule):
    """A one-layer model whose epoch figures land in `history`, as the Classifier's do."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 2)
        self.history: dict[int, dict[str, float]] = {}

    def training_step(self, batch: list[torch.Tensor], index: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.cross_entropy(self.layer(x), y)
        self.history.setdefault(self.current_epoch, {})["train/loss"] = float(loss)
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(bar: ProgressBar, epochs: int = 2) -> None:
    data = TensorDataset(torch.randn(32, 4), torch.randint(0, 2, (32,)))
    trainer = pl.Trainer(
        max_epochs=epochs, callbacks=[bar], logger=False, enable_checkpointing=False, enable_model_summary=False,
        accelerator="cpu", devices=1,
    )  # fmt: skip
    trainer.fit(Tiny(), DataLoader(data, batch_size=8))


def test_the_bar_draws_on_stderr_and_leaves_stdout_to_cnnexps_lines(capsys: pytest.CaptureFixture[str]) -> None:
    _fit(ProgressBar(refresh_rate=1, terminal=True))
    out, err = capsys.readouterr()
    assert "\r" not in out and "Epoch 1" not in out
    assert "\r" in err and "Epoch 1" in err  # tqdm's frames, on stderr


def test_off_a_terminal_each_epoch_is_one_line_and_no_frame(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="cnnexp.train.console"):
        _fit(ProgressBar(refresh_rate=1, terminal=False), epochs=3)
    lines = [r.getMessage() for r in caplog.records if r.name == "cnnexp.train.console"]
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("train/loss " in line and line.endswith(" s)") for line in lines)
    out, err = capsys.readouterr()
    assert "\r" not in out + err


def test_the_terminal_is_detected_from_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert ProgressBar().terminal and not ProgressBar().is_disabled
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert not ProgressBar().terminal and ProgressBar().is_disabled


def test_an_epoch_line_shows_the_figures_it_has_in_a_fixed_order() -> None:
    figures = {"val/acc": 0.98125, "train/loss": 0.123456, "val/loss": 0.2, "test/acc": 0.5}
    assert epoch_line(1, 3, figures, 12.34) == "epoch 2/3  train/loss 0.1235  val/loss 0.2000  val/acc 0.9812  (12.3 s)"
    assert epoch_line(0, -1, {"train/acc": 0.5}, math.nan) == "epoch 1  train/acc 0.5000"


def test_a_small_run_logs_every_step_of_its_short_epoch_and_lightning_does_not_warn(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # 700 train images (70 of them val) at batch 50: 13 batches, under the default interval of 50.
    code, err = cli(*TINY, "logger=csv", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 0, err
    assert "logging interval" not in err
    logged = (tmp_path / "run" / "csv" / "version_0" / "metrics.csv").read_text()
    assert "train/loss_step" in logged.splitlines()[0]


@pytest.mark.parametrize(("limit", "expected"), [(None, 13), (1.0, 13), (0.5, 6), (5, 5), (40, 13)])
def test_the_interval_follows_the_batches_lightning_will_count(limit: int | float | None, expected: int) -> None:
    assert limited(13, limit) == expected


def test_a_data_module_that_is_not_cnnexps_keeps_the_interval() -> None:
    trainer = pl.Trainer(logger=False, accelerator="cpu", devices=1)
    FitLogInterval().on_fit_start(trainer, Tiny())
    assert trainer.log_every_n_steps == 50


def test_off_a_terminal_the_bar_stays_off_and_costs_no_hook_per_step() -> None:
    bar = ProgressBar(terminal=False)
    bar.enable()  # as Lightning's learning-rate finder does after its search
    assert bar.is_disabled and bar.on_train_batch_end is None  # type: ignore[comparison-overlap]
    on_terminal = ProgressBar(terminal=True)
    on_terminal.disable()
    on_terminal.enable()
    assert on_terminal.is_enabled and callable(on_terminal.on_train_batch_end)
