"""The pictures callback in a real tiny run: TensorBoard image tags, PNG files, confusion counts, curves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image
from support import TINY_PICTURES, Compose
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from cnnexp.app import run_job
from cnnexp.errors import ConfigError
from cnnexp.train.instantiate import Target
from cnnexp.train.module import Classifier
from cnnexp.train.optim import make_optimizer
from cnnexp.viz import pictures as pic
from cnnexp.viz.callback import Pictures

NETWORK = ["kernels", "feature_maps/input", "feature_maps/conv1", "feature_maps/conv2"]
PASS = ["confusion_matrix", "misclassified"]
FILES = ["kernels", "feature_maps_input", "feature_maps_conv1", "feature_maps_conv2", *PASS, "curves"]


@pytest.fixture(scope="module")
def run(compose_cfg: Compose, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """LeNet5, 3 epochs, pictures every 2nd epoch: one drawing at the end of epoch 2, then the test's."""
    base = tmp_path_factory.getbasetemp()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNEXP_DATA", str(base / "data"))  # the digits cache the other tests share
        cfg = compose_cfg(*TINY_PICTURES, "trainer.max_epochs=3", "callbacks.pictures.every_n_epochs=2",
                          f"output_dir={base / 'pictures_run'}")  # fmt: skip
        run_job(cfg)
        yield Path(cfg.output_dir)


def _events(run: Path) -> EventAccumulator:
    return EventAccumulator(str(run / "tb"), size_guidance={"images": 0}).Reload()


def test_image_tags_are_in_the_event_files(run: Path) -> None:
    events = _events(run)
    expected = {f"pictures/{k}" for k in NETWORK} | {f"pictures/{k}/{s}" for k in PASS for s in ("val", "test")}
    assert set(events.Tags()["images"]) == expected
    # every_n_epochs=2 over 3 epochs: one validation drawing, after epoch 2 (600 images, 12 batches an epoch)
    assert [e.step for e in events.Images("pictures/confusion_matrix/val")] == [24]
    assert [e.step for e in events.Images("pictures/confusion_matrix/test")] == [36]
    assert [e.step for e in events.Images("pictures/kernels")] == [24, 36]  # and the tested weights


def test_pngs_are_images_of_the_expected_size(run: Path) -> None:
    folder, events = run / "pictures", _events(run)
    assert sorted(p.stem for p in folder.glob("*.png")) == sorted(FILES)
    sizes = {}
    for name in FILES:
        with Image.open(folder / f"{name}.png") as img:
            assert img.format == "PNG"
            img.load()  # decodes every pixel: a truncated file fails here
            sizes[name] = img.size
    # conv1 of LeNet5: 20 kernels 5×5 in a 4×5 mosaic
    width, height = pic.mosaic_inches(4, 5, (5, 5))
    assert sizes["kernels"] == (round(width * pic.DPI), round(height * pic.DPI))
    # The same figure in TensorBoard and in the run folder has the same size.
    for tag, name in [("feature_maps/conv1", "feature_maps_conv1"), ("confusion_matrix/test", "confusion_matrix")]:
        logged = events.Images(f"pictures/{tag}")[-1]
        assert sizes[name] == (logged.width, logged.height)
    assert sizes["curves"] == (900, 350)  # two panels, loss and accuracy, 4.5 × 3.5 inches each


def test_confusion_matrix_counts_add_up_to_the_test_set(run: Path) -> None:
    table = json.loads((run / "pictures" / "confusion_matrix.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    counts = torch.tensor(table["counts"])
    assert counts.shape == (10, 10) and table["classes"] == [str(i) for i in range(10)]
    assert counts.sum() == metrics["test_images"] == 200
    assert counts.trace() / 200 == pytest.approx(metrics["test_acc"])


def test_checkpoints_keep_the_curves_for_a_resumed_run(run: Path) -> None:
    history = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["history"]
    assert sorted(history) == [0, 1, 2] and set(history[2]) == {"train/loss", "train/acc", "val/loss", "val/acc"}
    # the curves show the figures that were logged: their best val accuracy is metrics.json's
    metrics = json.loads((run / "metrics.json").read_text())
    assert max(values["val/acc"] for values in history.values()) == pytest.approx(metrics["best_val_acc"])


def test_testing_an_older_best_checkpoint_keeps_every_epoch_of_the_curves() -> None:
    module = Classifier(nn.Linear(2, 2), 2, make_optimizer(Target("torch.optim.SGD", {"lr": 0.1}, partial=True)))
    module.history = {0: {"val/acc": 0.5}, 1: {"val/acc": 0.4}}
    module.on_load_checkpoint({"history": {0: {"val/acc": 0.5}}})  # what the best checkpoint (epoch 0) holds
    assert module.history == {0: {"val/acc": 0.5}, 1: {"val/acc": 0.4}}


def test_the_smoke_mode_draws_nothing(compose_cfg: Compose) -> None:
    assert compose_cfg("debug=fdr").callbacks.pictures is None
    assert compose_cfg().callbacks.pictures.every_n_epochs == 1


@pytest.mark.parametrize("key", ["every_n_epochs", "max_images", "max_maps"])
def test_a_negative_count_names_its_key(key: str) -> None:
    with pytest.raises(ConfigError, match=f"callbacks.pictures.{key}"):
        Pictures(**{key: -1})
