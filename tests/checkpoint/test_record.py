"""Every checkpoint describes its run as plain data that loads with weights only; run.json holds the same."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from PIL import Image
from support import Trained

import cnnexp
from cnnexp.app import run_job
from cnnexp.checkpoint import record as rec
from cnnexp.checkpoint.load import read_checkpoint
from cnnexp.data.module import ImageDataModule
from cnnexp.data.transforms import channel_stats
from cnnexp.errors import ConfigError
from cnnexp.run import Run, read_run

Tiny = Callable[..., DictConfig]


def test_the_checkpoint_holds_the_run_as_plain_data(trained: Trained, tiny_cfg: Tiny) -> None:
    content = torch.load(trained.checkpoint, map_location="cpu", weights_only=True)  # plain data only, or this fails
    record = rec.Record.from_dict(content["cnnexp"], "test")
    assert record.run == read_run(tiny_cfg("model.activation=tanh", f"output_dir={trained.folder}"))
    assert record.run.model.activation == "tanh" and len(record.run.model.to_dict()["layers"]) == 10
    assert record.data.classes == tuple(str(d) for d in range(10))
    assert (record.data.shape, record.data.model_input, record.data.adapt) == ((1, 28, 28), (1, 28, 28), [])
    versions = record.origin["versions"]
    assert (versions["cnnexp"], versions["torch"], versions["lightning"]) == (
        cnnexp.__version__,
        torch.__version__,
        pl.__version__,
    )
    assert record.origin["command"] == {"argv": sys.argv, "overrides": []}  # composed by the fixture: no Hydra run


def test_the_recorded_mean_and_std_are_the_ones_measured_on_the_train_split(trained: Trained) -> None:
    record = read_checkpoint(trained.checkpoint).record
    assert record is not None
    datamodule = ImageDataModule(record.run.data, record.run.model.input_shape)
    datamodule.prepare_data()
    datamodule.setup("fit")
    assert (record.data.mean, record.data.std) == channel_stats(datamodule.parts["train"].images)


def test_run_json_is_the_checkpoints_record(trained: Trained) -> None:
    written = json.loads((trained.folder / "run.json").read_text())
    assert written == torch.load(trained.checkpoint, map_location="cpu", weights_only=True)["cnnexp"]
    assert Run.from_dict(written["run"]).model.activation == "tanh"


def test_an_image_folder_run_records_its_classes_not_null(tiny_cfg: Tiny, tmp_path: Path) -> None:
    root = tmp_path / "pets"
    for split in ("train", "test"):
        for label, colour in (("cat", 40), ("dog", 200), ("emu", 120)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(4):
                Image.new("L", (30 + i, 28), colour + i).save(folder / f"{i}.png")
    overrides = ("data=image_folder", f"data.root={root}", "data.channels=1", "data.height=28", "data.width=28",
                 "data.val_size=2", "data.train_size=null", "data.test_size=null", "data.batch_size=4", "data.num_workers=0",
                 "debug=fdr")  # fmt: skip
    cfg = tiny_cfg(*overrides)
    assert cfg.data.num_classes is None  # what .hydra/config.yaml says
    run_job(cfg)
    written = json.loads((Path(cfg.output_dir) / "run.json").read_text())
    assert written["run"]["data"]["num_classes"] == written["run"]["model"]["num_classes"] == 3
    assert written["data"]["classes"] == ["cat", "dog", "emu"]
    assert written["data"]["mean"] == [0.5] and written["data"]["std"] == [0.5]  # streamed: no pass to measure


def test_git_commit_is_the_checkouts_or_none() -> None:
    found = rec.git_commit.__wrapped__()
    source_is_a_checkout = (Path(cnnexp.__file__).resolve().parents[2] / ".git").exists()
    if source_is_a_checkout:
        assert found is not None and re.fullmatch(r"[0-9a-f]{40}", found["commit"]) and isinstance(found["dirty"], bool)
    else:
        assert found is None


def test_no_git_is_no_commit_and_no_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    assert rec.git_commit.__wrapped__() is None


def test_a_record_that_does_not_read_names_both_versions(trained: Trained) -> None:
    plain = torch.load(trained.checkpoint, map_location="cpu", weights_only=True)["cnnexp"]
    plain["run"]["model"]["colour"] = "blue"  # a key a later cnnexp might add
    plain["versions"]["cnnexp"] = "9.0"
    with pytest.raises(ConfigError, match=r"^X: the run recorded in this checkpoint \(written by cnnexp 9\.0\) does not read "
                       rf"with cnnexp {re.escape(cnnexp.__version__)}: model: unknown key 'colour'"):  # fmt: skip
        rec.Record.from_dict(plain, "X")
