"""task=test | predict | export take the run from the checkpoint; the user's overrides apply where they fit."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig
from PIL import Image
from support import Trained, Typed

from cnnexp.app import run_job
from cnnexp.checkpoint.load import read_checkpoint
from cnnexp.checkpoint.match import checkpoint_run
from cnnexp.checkpoint.record import DataFacts, Record
from cnnexp.data.module import ImageDataModule
from cnnexp.errors import ConfigError
from cnnexp.run import Run, read_run

Tiny = Callable[..., DictConfig]
FACTS = DataFacts("digits", (1, 28, 28), (1, 28, 28), tuple("0123456789"), (0.13,), (0.31,))


def _record(tiny_cfg: Tiny, *overrides: str, run: str = "trained") -> Record:
    return Record(read_run(tiny_cfg(*overrides, run=run)), FACTS)


def _tested(tiny_cfg: Tiny, record: Record, *overrides: str, pictures: bool = False) -> Run:
    """The run task=test would use: this command's config, the record, and the overrides as typed."""
    return checkpoint_run(read_run(tiny_cfg(*overrides, pictures=pictures)), record, overrides)


def test_without_overrides_the_run_is_the_recorded_one(tiny_cfg: Tiny) -> None:
    record = _record(tiny_cfg, "model=alexnet_small", "model.activation=tanh", "loss=mse", "data.batch_size=20")
    run = _tested(tiny_cfg, record)
    assert run.model == record.run.model and run.loss.name == "mse" and run.data.batch_size == 20
    assert (run.data.mean, run.data.std) == ((0.13,), (0.31,))  # what the network was trained with


@pytest.mark.parametrize(
    "overrides",
    [("model.activation=tanh",), ("model=lenet5", "model.activation=tanh"), ("model.layers.conv1.F=5",),
     ("model.layers.conv1.filters=20", "model.layers.conv1.S=1")],
)  # fmt: skip
def test_model_overrides_that_agree_with_the_checkpoint_are_accepted(
    tiny_cfg: Tiny, overrides: tuple[str, ...]
) -> None:
    record = _record(tiny_cfg, "model.activation=tanh")
    assert _tested(tiny_cfg, record, *overrides).model == record.run.model


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("model.activation=relu",), r"^model\.activation=relu contradicts the checkpoint's model: it was trained with "
         r"model\.activation=tanh, and this override makes it relu\. Testing, predicting and exporting rebuild the "
         r"model from the checkpoint \(lenet5\); drop the override"),
        (("model=alexnet_small",), r"^model=alexnet_small contradicts the checkpoint's model: it was trained with "
         r"model=lenet5, and this override makes it alexnet_small\."),
        (("model.layers.conv1.F=3",), r"^model\.layers\.conv1\.F=3 contradicts the checkpoint's model: it was trained "
         r"with model\.layers\.conv1=\{type: conv, filters: 20, kernel_size: \[5,5\]\}, and this override makes it "
         r"\{type: conv, filters: 20, kernel_size: \[3,3\]\}\."),
        (("model.input.height=32", "data.adapt=true"), r"^model\.input\.height=32 contradicts .* model\.input\.height=28, "),
    ],
)  # fmt: skip
def test_model_overrides_that_contradict_the_checkpoint_name_the_key(
    tiny_cfg: Tiny, overrides: tuple[str, ...], message: str
) -> None:
    record = _record(tiny_cfg, "model.activation=tanh")
    with pytest.raises(ConfigError, match=message):
        _tested(tiny_cfg, record, *overrides)


def test_data_keys_apply_to_the_recorded_data(tiny_cfg: Tiny) -> None:
    record = _record(tiny_cfg, "data.test_size=200", "data.seed=3")
    run = _tested(tiny_cfg, record, "data.test_size=50", "data.batch_size=25")
    assert (run.data.test_size, run.data.batch_size, run.data.seed) == (50, 25, 3)  # seed: the record's, not 0


def test_other_data_with_other_classes_is_refused(tiny_cfg: Tiny, tmp_path: Path) -> None:
    root = _folder(tmp_path, ["a", "b", "c"])
    with pytest.raises(ConfigError, match=r"^data=image_folder has 3 classes but the checkpoint's network has 10 outputs "
                       r"\(trained on data=digits: 0, 1, 2, 3, 4, \.\.\.\); use data with the same 10 classes"):  # fmt: skip
        _tested(tiny_cfg, _record(tiny_cfg), "data=image_folder", f"data.root={root}")


def test_trainer_and_options_are_this_runs(tiny_cfg: Tiny, tmp_path: Path) -> None:
    record = _record(tiny_cfg, "trainer.max_epochs=7", "seed=4")
    run = _tested(tiny_cfg, record, "task=test", "trainer.max_epochs=2", pictures=True)
    assert run.trainer.args["max_epochs"] == 2 and run.options.task == "test" and run.options.seed == 0
    assert run.output_dir == tmp_path / "run" and str(tmp_path / "run") in run.callbacks["pictures"].args["dirpath"]


# --- the task, from a real checkpoint --------------------------------------------------------------------------


def test_task_test_needs_nothing_but_the_checkpoint(
    trained: Trained, typed: Callable[..., Typed], caplog: pytest.LogCaptureFixture
) -> None:
    # The config's lenet5 says relu; the checkpoint's is tanh. Testing the relu network gave 0.224 in the issue.
    cfg, started = typed("task=test", f"ckpt_path={trained.checkpoint}")
    assert cfg.model.activation == "relu"
    with caplog.at_level(logging.INFO):
        assert run_job(cfg, started) == trained.metrics["test_acc"]
    said = f"test accuracy {trained.metrics['test_acc']:.4f} on {trained.metrics['test_images']:,} images  run folder "
    assert said in caplog.text and "epochs" not in caplog.text  # nothing was trained
    written = json.loads((Path(cfg.output_dir) / "run.json").read_text())
    assert written["run"]["model"]["activation"] == "tanh"
    assert f"ckpt_path={trained.checkpoint}" in written["command"]["overrides"]


def test_task_test_on_another_set_with_the_same_classes(
    trained: Trained, typed: Callable[..., Typed], tmp_path: Path
) -> None:
    # The digits' test images written as an image folder: another data source, the same images and classes.
    record = read_checkpoint(trained.checkpoint).record
    datamodule = ImageDataModule(record.run.data, (1, 28, 28))
    datamodule.prepare_data()
    datamodule.setup("test")
    root = tmp_path / "folder"
    for split, part in (("train", "train"), ("test", "test")):
        images, labels = datamodule.parts[part].images, datamodule.parts[part].labels
        for i, (image, label) in enumerate(zip(images, labels)):
            folder = root / split / str(int(label))
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image[0].numpy()).save(folder / f"{i}.png")
    other = ("data=image_folder", f"data.root={root}", "data.channels=1", "data.height=28", "data.width=28",
             "data.val_size=10", "data.num_workers=0", "data.train_size=null", "data.test_size=null")  # fmt: skip
    cfg, started = typed("task=test", f"ckpt_path={trained.checkpoint}", *other)
    assert run_job(cfg, started) == trained.metrics["test_acc"]  # the recorded normalisation, the same images
    assert json.loads((Path(cfg.output_dir) / "metrics.json").read_text())["data"] == "image_folder"


def _folder(tmp_path: Path, classes: list[str]) -> Path:
    root = tmp_path / "images"
    for split in ("train", "test"):
        for name in classes:
            (root / split / name).mkdir(parents=True)
            Image.new("L", (28, 28), 100).save(root / split / name / "0.png")
    return root


def test_the_overrides_are_read_as_typed(typed: Callable[..., Typed]) -> None:
    """An interpolation inside an override stays as typed (reading Hydra's list would resolve it, or fail)."""
    _, started = typed("model.name=net${seed}", "+note=${nosuch}")
    assert started.overrides[-2:] == ("model.name=net${seed}", "+note=${nosuch}")
