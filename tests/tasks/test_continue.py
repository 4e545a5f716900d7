"""SIGTERM during task=test, predict or export: exit 143, the phase named for what ran, and a printed command that,
pasted as it is, runs the task again with its checkpoint and finishes (in-process, each stop at a known point)."""

from __future__ import annotations

import json
import os
import shlex
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
from PIL import Image
from support import TINY, Cli, Trained

import cnnexp.tasks.export as export_module
import cnnexp.tasks.predict as predict_module
import cnnexp.tasks.test as test_module
import cnnexp.tasks.train as train_module

QUIET = ("trainer.enable_progress_bar=false", "callbacks.progress=null")


def sigterm(*args: Any, **kwargs: Any) -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # the handler raises at the next bytecode: the stop lands here


class SigtermInTest(pl.Callback):
    """SIGTERM after the first test batch: inside the Trainer, where Lightning's own handler stops the loop."""

    def on_test_batch_end(self, *args: Any) -> None:
        sigterm()


Stop = Callable[[pytest.MonkeyPatch], None]  # patches the stop in


def interrupted_then_pasted(cli: Cli, stop: Stop, args: tuple[str, ...], phase: str, ckpt: Path) -> Path:
    """Run `args` with the stop patched in: exit 143, the message and the record; then paste the printed command
    with nothing patched: exit 0. Returns the run folder."""
    with pytest.MonkeyPatch.context() as patch:
        stop(patch)
        code, err = cli(*args)
    folder = Path(args[-1].removeprefix("hydra.run.dir="))
    given = [a for a in args[:-1] if not a.startswith("ckpt_path=")]
    again = shlex.join(["python", "-m", "cnnexp", *given, f"ckpt_path={ckpt}", f"hydra.run.dir={folder}"])
    assert code == 143
    assert err.endswith(
        f"cnnexp: interrupted during {phase}; it trains nothing, so it starts again with ckpt_path={ckpt}. Continue "
        f"this run with: {again}\n"
    )
    record = json.loads((folder / "metrics.json").read_text())
    assert (record["status"], record["phase"], record["checkpoint"], record["continue"]) == (
        "interrupted",
        phase,
        str(ckpt),
        again,
    )
    code, err = cli(*shlex.split(again)[3:])
    assert code == 0, err
    assert json.loads((folder / "metrics.json").read_text())["status"] == "ok"
    return folder


@pytest.mark.slow
def test_test_stopped_before_or_inside_its_trainer_continues(trained: Trained, cli: Cli, tmp_path: Path) -> None:
    ckpt = trained.checkpoint
    before: Stop = lambda patch: patch.setattr(test_module, "assemble", sigterm)  # noqa: E731  (data, model)
    interrupted_then_pasted(
        cli, before, ("task=test", f"ckpt_path={ckpt}", *QUIET, f"hydra.run.dir={tmp_path / 'a'}"), "test", ckpt
    )

    real = test_module.assemble
    inside: Stop = lambda patch: patch.setattr(  # noqa: E731
        test_module, "assemble", lambda run, extra=(), **kw: real(run, extra=[*extra, SigtermInTest()], **kw)
    )
    folder = interrupted_then_pasted(
        cli, inside, ("task=test", f"ckpt_path={ckpt}", *QUIET, f"hydra.run.dir={tmp_path / 'b'}"), "test", ckpt
    )
    assert json.loads((folder / "metrics.json").read_text())["test_images"] == trained.metrics["test_images"]


def test_predict_stopped_mid_way_continues(trained: Trained, cli: Cli, tmp_path: Path) -> None:
    image = tmp_path / "digit.png"
    Image.new("L", (28, 28), 40).save(image)
    args = (
        "task=predict",
        f"ckpt_path={trained.checkpoint}",
        f"input={image}",
        "top_k=2",
        f"hydra.run.dir={tmp_path / 'p'}",
    )
    stop: Stop = lambda patch: patch.setattr(predict_module, "_classify", sigterm)  # noqa: E731
    folder = interrupted_then_pasted(cli, stop, args, "prediction", trained.checkpoint)
    assert (
        (folder / "predictions.csv").read_text().startswith(f"path,class,probability,class_2,probability_2\n{image},")
    )


def test_export_stopped_after_writing_its_file_continues_over_it(trained: Trained, cli: Cli, tmp_path: Path) -> None:
    # Stopped between the model file and its sidecar: the file is the run's own (its record lists it), so the
    # continued run replaces it instead of refusing it as a file no run wrote.
    args = ("task=export", f"ckpt_path={trained.checkpoint}", "format=torchscript", f"hydra.run.dir={tmp_path / 'e'}")
    stop: Stop = lambda patch: patch.setattr(export_module, "describe", sigterm)  # noqa: E731
    folder = interrupted_then_pasted(cli, stop, args, "export", trained.checkpoint)
    assert json.loads((folder / "lenet5.pt.json").read_text())["file"] == "lenet5.pt"
    assert not list(folder.glob(".export-*"))  # the scratch folder the file was written in


def test_a_relative_ckpt_path_is_pasteable_from_anywhere(
    trained: Trained, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relative = Path(os.path.relpath(trained.checkpoint, tmp_path))  # cli runs in tmp_path
    monkeypatch.setattr(export_module, "_export_into", sigterm)
    code, err = cli("task=export", f"ckpt_path={relative}", "format=torchscript", f"hydra.run.dir={tmp_path / 'r'}")
    assert code == 143
    assert (
        f"so it starts again with ckpt_path={trained.checkpoint}. Continue this run with: python -m cnnexp task=export "
        f"format=torchscript ckpt_path={trained.checkpoint} hydra.run.dir=" in err
    )


def test_training_resumed_from_another_folder_and_stopped_before_its_trainer_keeps_that_checkpoint(
    trained: Trained, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(train_module, "assemble", sigterm)
    args = (*TINY, "model.activation=tanh", "trainer.max_epochs=2", f"ckpt_path={trained.checkpoint}")
    folder = f"hydra.run.dir={tmp_path / 'resumed'}"
    code, err = cli(*args, folder)
    assert code == 143
    assert err.endswith(
        f"cnnexp: interrupted during start-up; checkpoint {trained.checkpoint}. Continue this run with: "
        f"{shlex.join(['python', '-m', 'cnnexp', *args, folder])}\n"
    )
