"""Open sets of callbacks and loggers: presets, any Lightning class from the command line, several or none."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig
from support import one_paragraph

from cnnexp.app import run_job
from cnnexp.errors import ConfigError
from cnnexp.run import read_run
from cnnexp.tasks.assemble import assemble
from cnnexp.train import instantiate
from cnnexp.train.logger import read_logger

Tiny = Callable[..., DictConfig]
SWA = "+callbacks.swa._target_=pytorch_lightning.callbacks.StochasticWeightAveraging"


def _loggers(cfg: DictConfig) -> list[str]:
    return [type(logger).__name__ for logger in assemble(read_run(cfg)).trainer.loggers]


def _callbacks(cfg: DictConfig) -> list[str]:
    return [type(callback).__name__ for callback in assemble(read_run(cfg)).trainer.callbacks]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("logger=tensorboard", ["TensorBoardLogger"]),
        ("logger=csv", ["CSVLogger"]),
        ("logger=[tensorboard,csv]", ["TensorBoardLogger", "CSVLogger"]),
        ("logger=null", []),
    ],
)
def test_logger_presets_one_several_or_none(tiny_cfg: Tiny, choice: str, expected: list[str]) -> None:
    assert _loggers(tiny_cfg(choice)) == expected


@pytest.mark.slow
def test_csv_and_tensorboard_together_write_metrics_csv_and_events(tiny_cfg: Tiny) -> None:
    cfg = tiny_cfg("logger=[tensorboard,csv]", "trainer.log_every_n_steps=2", pictures=True)
    run_job(cfg)
    run = Path(cfg.output_dir)
    with (run / "csv" / "version_0" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {"epoch", "step", "train/loss_step", "val/acc", "train/acc"} <= set(rows[0])
    assert any(row["val/acc"] for row in rows) and any(row["train/loss_step"] for row in rows)
    assert list((run / "tb").glob("events.out.tfevents.*")), "TensorBoard, the pictures and HPARAMS still work"
    assert list((run / "pictures").glob("*.png"))


def test_no_logger_trains_and_switches_the_lr_monitor_off(tiny_cfg: Tiny, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="cnnexp")
    cfg = tiny_cfg("logger=null", pictures=True)
    assert "lr_monitor" not in read_run(cfg).callbacks
    assert "callbacks.lr_monitor: off, as there is no logger to write the learning rate to" in caplog.text
    run_job(cfg)
    metrics = json.loads((Path(cfg.output_dir) / "metrics.json").read_text())
    assert metrics["status"] == "ok" and list((Path(cfg.output_dir) / "pictures").glob("*.png"))


@pytest.mark.parametrize("name", ["wandb", "mlflow"])
def test_an_optional_logger_names_the_package_to_install(tiny_cfg: Tiny, name: str) -> None:
    if importlib.util.find_spec(name) is not None:
        pytest.skip(f"{name} is installed here")
    with pytest.raises(
        ConfigError,
        match=rf"logger\.{name}: \w+Logger needs the '{name}' package, which is not installed: pip install 'cnnexp\[{name}\]'",
    ):
        read_run(tiny_cfg(f"logger={name}"))


def test_a_logger_config_of_ones_own_may_be_one_flat_logger() -> None:
    flat = read_logger({"_target_": "pytorch_lightning.loggers.CSVLogger", "save_dir": "/tmp/x"})
    assert list(flat) == ["logger"] and flat["logger"].class_name == "CSVLogger"
    keyed = read_logger({"csv": {"_target_": "pytorch_lightning.loggers.CSVLogger"}, "off": None})
    assert list(keyed) == ["csv"]
    with pytest.raises(ConfigError, match=r"logger\.csv: needs a `_target_`"):
        read_logger({"csv": {"save_dir": "/tmp"}})


def test_callback_presets_add_to_the_default_set(tiny_cfg: Tiny) -> None:
    cfg = tiny_cfg("callbacks=[default,early_stopping,lr_finder]", "callbacks.early_stopping.patience=5", pictures=True)
    run = read_run(cfg)
    assert run.callbacks["early_stopping"].args["patience"] == 5 and "lr_finder" in run.callbacks
    assert {"ModelCheckpoint", "EarlyStopping", "FindLearningRate", "Pictures"} <= set(_callbacks(cfg))


def test_any_lightning_callback_from_the_command_line(tiny_cfg: Tiny) -> None:
    names = _callbacks(tiny_cfg(SWA, "+callbacks.swa.swa_lrs=0.01", "callbacks.lr_monitor=null"))
    assert "StochasticWeightAveraging" in names and "LearningRateMonitor" not in names


def test_early_stopping_stops(tiny_cfg: Tiny) -> None:
    # An improvement of 1.0 in accuracy never comes: patience 0 stops after the second epoch's check.
    cfg = tiny_cfg(
        "callbacks=[default,early_stopping]", "callbacks.early_stopping.patience=0",
        "callbacks.early_stopping.min_delta=1.0", "trainer.max_epochs=5",
    )  # fmt: skip
    run_job(cfg)
    assert json.loads((Path(cfg.output_dir) / "metrics.json").read_text())["epochs"] == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            (SWA, "+callbacks.swa.swa_lr=0.01"),
            r"callbacks\.swa\.swa_lr: StochasticWeightAveraging takes no argument 'swa_lr'\. Did you mean 'swa_lrs'\? Its arguments: swa_lrs, ",
        ),
        (("+callbacks.mine._target_=no.such.Callback",), r"callbacks\.mine: cannot build no\.such\.Callback: "),
        (("+callbacks.mine.patience=3",), r"callbacks\.mine: needs a `_target_` naming the class to build"),
    ],
)
def test_callback_mistakes_name_the_entry(tiny_cfg: Tiny, overrides: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        assemble(read_run(tiny_cfg(*overrides)))


@pytest.mark.parametrize(
    ("entry", "target", "message"),
    [
        ("callbacks.x", "shutil.copyfile", "shutil.copyfile is a function, not a pytorch_lightning Callback; name a "
         "Callback class there (e.g. pytorch_lightning.callbacks.StochasticWeightAveraging), or switch the entry off "
         "with callbacks.x=null."),
        ("callbacks.x", "collections.OrderedDict", "collections.OrderedDict is a class, not a pytorch_lightning "
         "Callback; name a Callback class there"),
        ("logger.x", "shutil.copyfile", "shutil.copyfile is a function, not a pytorch_lightning Logger; name a Logger "
         "class there (e.g. pytorch_lightning.loggers.CSVLogger), or choose logger= from conf/logger/."),
        ("logger.x", "pytorch_lightning.callbacks.EarlyStopping", "pytorch_lightning.callbacks.EarlyStopping is a "
         "class, not a pytorch_lightning Logger"),
    ],
)  # fmt: skip
def test_a_callback_or_logger_of_another_kind_is_refused_before_it_is_called(
    tiny_cfg: Tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str, target: str, message: str
) -> None:
    source, destination = tmp_path / "A", tmp_path / "B"
    source.write_text("theirs")
    destination.write_text("mine")
    built: list[str] = []
    real = instantiate.instantiate

    def spy(config: dict, **kwargs: object) -> object:
        built.append(config["_target_"])
        return real(config, **kwargs)

    monkeypatch.setattr(instantiate, "instantiate", spy)
    cfg = tiny_cfg(f"+{entry}._target_={target}", f"+{entry}._args_=[{source},{destination}]")
    with pytest.raises(ConfigError, match="^" + re.escape(f"{entry}._target_={target}: {message}")):
        assemble(read_run(cfg))
    assert destination.read_text() == "mine" and target not in built


def test_a_function_as_a_callback_is_one_paragraph_on_the_command_line(cli) -> None:  # noqa: ANN001
    code, err = cli(
        "+callbacks.x._target_=os.getcwd", "trainer.max_epochs=1", "data.train_size=700", "data.val_size=100"
    )
    assert code == 2 and one_paragraph(err).startswith(
        "callbacks.x._target_=os.getcwd: os.getcwd is a builtin_function_or_method, not a pytorch_lightning Callback;"
    )


def test_a_preset_entry_lists_every_argument_and_a_misspelled_one_fails_before_training(tiny_cfg: Tiny) -> None:
    assert tiny_cfg("callbacks.checkpoint.save_top_k=3").callbacks.checkpoint.save_top_k == 3  # no `+` needed
    with pytest.raises(Exception, match="save_top_kk"):
        tiny_cfg("callbacks.checkpoint.save_top_kk=3")  # not a key: Hydra asks for `+`
    with pytest.raises(
        ConfigError,
        match=r"callbacks\.checkpoint\.save_top_kk: ModelCheckpoint takes no argument 'save_top_kk'\. Did you mean 'save_top_k'\?",
    ):
        assemble(read_run(tiny_cfg("+callbacks.checkpoint.save_top_kk=3")))
