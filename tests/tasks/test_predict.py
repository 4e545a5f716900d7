"""task=predict: image files classified as the network saw its training images; unreadable files skipped."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig
from PIL import Image
from support import Cli, Trained

from cnnexp.app import run_job
from cnnexp.checkpoint.load import read_checkpoint
from cnnexp.data.module import ImageDataModule
from cnnexp.errors import ConfigError
from cnnexp.run import read_run
from cnnexp.tasks import task_named

Typed = Callable[..., DictConfig]


def _digits(trained: Trained, folder: Path, count: int) -> tuple[ImageDataModule, list[Path]]:
    """The first `count` test images of the checkpoint's data, written as PNG files."""
    record = read_checkpoint(trained.checkpoint).record
    datamodule = ImageDataModule(record.run.data, record.run.model.input_shape)
    datamodule.prepare_data()
    datamodule.setup("test")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        raw, label = datamodule.sample("test", i)
        paths.append(folder / f"{i:02d}_{label}.png")
        Image.fromarray(raw[0].numpy()).save(paths[-1])
    return datamodule, paths


def test_predictions_are_the_networks_outputs_on_its_own_test_path(
    trained: Trained, typed: Typed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    datamodule, paths = _digits(trained, tmp_path / "digits", 6)
    cfg, started = typed("task=predict", f"ckpt_path={trained.checkpoint}", f"input={tmp_path / 'digits'}", "top_k=3")
    found = run_job(cfg, started)
    # What the Trainer's test loop computes for the same stored images: decode, normalise, adapt, forward.
    net = read_checkpoint(trained.checkpoint).network(read_checkpoint(trained.checkpoint).record.run.model)
    with torch.no_grad():
        expected = [net(datamodule.as_model_input(datamodule.sample("test", i)[0], torch.device("cpu"))).softmax(1)[0]
                    for i in range(6)]  # fmt: skip
    assert [p.path for p in found] == [str(p) for p in paths]
    for p, probs in zip(found, expected):
        top = probs.topk(3)
        assert p.classes == tuple(str(i) for i in top.indices.tolist())
        assert p.probabilities == pytest.approx(top.values.tolist(), abs=1e-6)
    rows = list(csv.reader((Path(cfg.output_dir) / "predictions.csv").open()))
    assert rows[0] == ["path", "class", "probability", "class_2", "probability_2", "class_3", "probability_3"]
    assert [r[0] for r in rows[1:]] == [str(p) for p in paths] and rows[1][1] == found[0].classes[0]
    out = capsys.readouterr().out
    assert f"{paths[0]}: {found[0].classes[0]} {found[0].probabilities[0]:.4f}, " in out
    assert f"predicted 6 image(s) with lenet5 on cpu; wrote {Path(cfg.output_dir) / 'predictions.csv'}" in out


def test_any_size_and_mode_is_decoded_as_the_training_data(trained: Trained, typed: Typed, tmp_path: Path) -> None:
    _, (path,) = _digits(trained, tmp_path / "one", 1)
    big = tmp_path / "colour.jpg"
    Image.open(path).convert("RGB").resize((84, 84), Image.Resampling.NEAREST).save(big, quality=100)
    [grey], [colour] = (
        run_job(*typed("task=predict", f"ckpt_path={trained.checkpoint}", f"input={p}", run=p.stem))
        for p in (path, big)
    )
    assert colour.classes[0] == grey.classes[0]  # an RGB 84×84 JPEG of the digit: the same answer


def test_unreadable_files_are_listed_and_skipped(
    trained: Trained, typed: Typed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _digits(trained, tmp_path / "mixed", 2)
    (tmp_path / "mixed" / "broken.png").write_bytes(b"not an image")
    (tmp_path / "mixed" / "notes.txt").write_text("not an image file name: never read")
    found = run_job(*typed("task=predict", f"ckpt_path={trained.checkpoint}", f"input={tmp_path / 'mixed'}"))
    assert len(found) == 2
    err = capsys.readouterr().err
    assert f"cnnexp: skipped 1 unreadable file(s): {tmp_path / 'mixed' / 'broken.png'} (UnidentifiedImageError: " in err


def test_a_glob_selects_files(trained: Trained, typed: Typed, tmp_path: Path) -> None:
    _, paths = _digits(trained, tmp_path / "g", 4)
    # Quoted for Hydra, whose override grammar reads [...] as a list (the shell needs its own quotes around that).
    found = run_job(*typed("task=predict", f"ckpt_path={trained.checkpoint}", f"input='{tmp_path / 'g'}/0[13]_*.png'"))
    assert [p.path for p in found] == [str(paths[1]), str(paths[3])]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (None, r"^task=predict needs input=PATH: an image file, a folder of images, or a glob"),
        ("nowhere", r"^input=nowhere: no such file or folder; give an image file, a folder of images, or a glob"),
        ("nothing/*.png", r"^input=nothing/\*\.png: the pattern matches no file\.$"),
    ],
)
def test_input_mistakes(trained: Trained, typed: Typed, given: str | None, message: str) -> None:
    run = read_run(*typed("task=predict", f"ckpt_path={trained.checkpoint}", *([f"input={given}"] if given else [])))
    with pytest.raises(ConfigError, match=message):
        task_named("predict")(run)


def test_nothing_readable_is_exit_code_2(cli: Cli, trained: Trained, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    code, err = cli(
        "task=predict", f"ckpt_path={trained.checkpoint}", f"input={bad}", f"hydra.run.dir={tmp_path / 'run'}"
    )
    assert code == 2
    assert err.startswith(f"cnnexp: error: input={bad}: none of the 1 file(s) could be read as an image: {bad} (")
    assert "Traceback" not in err
