"""The Python API (cnnexp/api.py): the command line's configs, checks and runs, from a notebook or a script."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from torch import nn

from cnnexp import api
from cnnexp.errors import ConfigError

TINY = ("data.train_size=600", "data.val_size=100", "data.test_size=100", "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false")  # fmt: skip
LAYERS = {"flatten": {"type": "flatten"}, "fc": {"type": "linear", "out": "${model.num_classes}"}}


@pytest.fixture(autouse=True)
def _shared_digits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNEXP_DATA", str(tmp_path.parent / "data"))


def test_compose_is_the_command_lines_config() -> None:
    cfg = api.compose("model=alexnet_small", "data=cifar10", "logger=null")
    assert (cfg.model.name, cfg.data.name, "logger" in cfg) == ("alexnet_small", "cifar10", False)
    assert re.fullmatch(r"outputs/runs/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_alexnet_small", cfg.output_dir)
    run = api.read(cfg)
    assert run.model.input_shape == (3, 32, 32) and run.options.output_dir == Path(cfg.output_dir)


def test_build_a_shipped_model() -> None:
    net, summary = api.build_model("alexnet", "model.num_classes=1000")
    assert isinstance(net, nn.Sequential) and summary.params == 60_965_224
    assert sum(p.numel() for p in net.parameters()) == 60_965_224


def test_build_from_a_yaml_file_following_the_data(tmp_path: Path) -> None:
    path = tmp_path / "flat.yaml"
    path.write_text(
        "name: flat\ninput: {channels: '${data.channels}', height: '${data.height}', width: '${data.width}'}\n"
        "num_classes: ${data.num_classes}\nlayers:\n  flatten: {type: flatten}\n  fc: {type: linear, out: '${model.num_classes}'}\n"
    )
    assert api.build_model(path).summary.params == 28 * 28 * 10 + 10
    assert api.build_model(str(path), "data=cifar10").summary.params == 3 * 32 * 32 * 10 + 10


def test_build_from_a_dict() -> None:
    model = {"name": "d", "input": {"channels": 1, "height": 8, "width": 8}, "num_classes": 3, "layers": LAYERS}
    net, summary = api.build_model(model)
    assert summary.params == 64 * 3 + 3 and summary.spec.num_classes == 3
    assert net.fc.out_features == 3


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("no_such_model", r"model=no_such_model|no_such_model"),
        ("missing.yaml", r"model file missing\.yaml: no such file"),
        ({"name": "d", "input": {"channels": 1, "height": 8, "width": 8}, "num_classes": 3, "layers": {}},
         r"model\.layers must be a non-empty mapping"),
    ],
)  # fmt: skip
def test_mistakes_raise_with_the_command_lines_message(source: object, message: str) -> None:
    with pytest.raises(Exception, match=message):
        api.build_model(source)  # type: ignore[arg-type]


@pytest.mark.slow
def test_train_returns_the_metrics_and_goes_through_the_command_lines_lifecycle(
    tmp_path: Path,
    cli,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    """The metrics, printed as the command line prints them, and the same run folder as `python -m cnnexp`
    writes: the claim's lock released, the record, the config, the stamp with the config's hash; a second run
    into it is refused, as at the command line. (One training pins both.)"""
    root = logging.getLogger()  # as in a fresh notebook: no logging set up (earlier tests may have set some)
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
    folder = tmp_path / "api"
    metrics = api.train(*TINY, "callbacks.pictures=null", output_dir=folder)
    assert metrics == json.loads((folder / "metrics.json").read_text())
    assert metrics["status"] == "ok" and 0 <= metrics["test_acc"] <= 1 and metrics["test_images"] == 100
    out = capsys.readouterr().out
    assert "model lenet5  (activation relu)" in out and "test accuracy " in out  # what the command line prints
    code, _ = cli(*TINY, "callbacks.pictures=null", f"hydra.run.dir={tmp_path / 'cli'}")
    assert code == 0

    def files(root: Path) -> set[str]:
        kept = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
        return {
            re.sub(r"events\.out\.tfevents\..*", "events", re.sub(r"epoch\d+-val_acc[\d.]+", "epoch-best", n))
            for n in kept
        }

    # Hydra's own config and its job log come with a Hydra run; in Python, logging is the caller's (api.py).
    assert files(folder) == files(tmp_path / "cli") - {".hydra/hydra.yaml", "cnnexp.log"}
    assert {".hydra/config.yaml", ".hydra/overrides.yaml", ".hydra/resolved.yaml", "run.json", "metrics.json"} <= files(
        folder
    )
    assert not any(name.endswith(".lock") for name in files(folder))  # released at the end
    assert metrics["task"] == "train" and len(metrics["config_hash"]) == 16
    overrides = (folder / ".hydra" / "overrides.yaml").read_text()
    assert "data.train_size=600" in overrides and f"output_dir={folder}" in overrides
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(folder))} holds "):
        api.train(*TINY, output_dir=folder)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epoch=3", r"^trainer\.max_epoch: trainer has no key max_epoch\. Did you mean 'max_epochs'\?"),
        ("model=lenet", r"^model=lenet: conf/model/ has no lenet\.yaml\. Did you mean 'lenet5'\? Choose one of: "),
        (
            "data.batch_size=[",
            r"^Error parsing override 'data\.batch_size=\[': no viable alternative at input '\['\. Quote ",
        ),
    ],
)
def test_compose_mistakes_are_config_errors_in_the_command_lines_words(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        api.compose(override)


def test_train_refuses_ddp_with_a_reason(tmp_path: Path) -> None:
    ddp = ("trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp")
    with pytest.raises(
        ConfigError, match=r"the Python API trains in this one process: for trainer\.strategy=ddp use the command line"
    ):
        api.train(*TINY, *ddp, output_dir=tmp_path / "run")


def test_cnnexp_lines_are_printed_though_a_logger_had_found_info_off(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python caches, per logger, whether a level is on: a cnnexp line logged before (INFO off, as in a fresh
    # notebook) left "off" cached, and api.train's lines from that logger were lost after other runs in the process.
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
    logger = logging.getLogger("cnnexp.tasks.outcome")
    logger.info("before a run: not shown")
    with api._printing():
        logger.info("test accuracy 0.5")
    assert capsys.readouterr().out == "test accuracy 0.5\n"
