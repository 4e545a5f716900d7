"""task=export and task=predict never replace a file that no run wrote: refused before any work, exit 2, the file
as it was; overwrite=true replaces it (a link itself, never the file it points to)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from support import Cli, Trained, one_paragraph

import cnnexp.tasks.predict as predict_module
from cnnexp.checkpoint.load import Checkpoint

MINE = b"a file of the user's own"
ELSEWHERE = "choose another folder for the run (hydra.run.dir=...)."


def exists(task: str, path: Path) -> str:
    return (
        f"task={task} writes {path}, but a file of that name is there already and no run in this folder wrote it; "
        f"cnnexp never replaces a file it did not write. Add overwrite=true to replace it, or {ELSEWHERE}"
    )


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building the network or reading an image fails the test: a refusal must come before either."""

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("work started before the output was checked")

    monkeypatch.setattr(Checkpoint, "network", never)
    monkeypatch.setattr(predict_module, "decode_batches", never)


def export_args(trained: Trained, folder: Path, *extra: str) -> tuple[str, ...]:
    return ("task=export", f"ckpt_path={trained.checkpoint}", "format=torchscript", f"hydra.run.dir={folder}", *extra)


def predict_args(trained: Trained, folder: Path, image: Path, *extra: str) -> tuple[str, ...]:
    return ("task=predict", f"ckpt_path={trained.checkpoint}", f"input={image}", f"hydra.run.dir={folder}", *extra)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "digit.png"
    Image.new("L", (28, 28), 40).save(path)
    return path


@pytest.mark.parametrize("name", ["lenet5.pt", "lenet5.pt.json"])
def test_export_refuses_a_file_no_run_wrote(
    trained: Trained, cli: Cli, tmp_path: Path, no_work: None, name: str
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / name).write_bytes(MINE)
    code, err = cli(*export_args(trained, folder))
    assert (code, one_paragraph(err)) == (2, exists("export", folder / name))
    assert (folder / name).read_bytes() == MINE
    assert sorted(p.name for p in folder.glob("lenet5*")) == [name]  # nor the other file written


def test_predict_refuses_a_file_no_run_wrote(
    trained: Trained, cli: Cli, tmp_path: Path, image: Path, no_work: None
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "predictions.csv").write_bytes(MINE)
    code, err = cli(*predict_args(trained, folder, image))
    assert (code, one_paragraph(err)) == (2, exists("predict", folder / "predictions.csv"))
    assert (folder / "predictions.csv").read_bytes() == MINE


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_in_the_way_is_refused_even_with_overwrite(
    trained: Trained, cli: Cli, tmp_path: Path, no_work: None, overwrite: bool
) -> None:
    folder = tmp_path / "mine"
    (folder / "lenet5.pt").mkdir(parents=True)
    (folder / "lenet5.pt" / "keep.txt").write_bytes(MINE)
    code, err = cli(*export_args(trained, folder, *(["overwrite=true"] if overwrite else [])))
    assert (code, one_paragraph(err)) == (
        2,
        f"task=export writes {folder / 'lenet5.pt'}, but that path is a folder; cnnexp does not replace a folder, not "
        f"even with overwrite=true. Move the folder away, or {ELSEWHERE}",
    )
    assert (folder / "lenet5.pt" / "keep.txt").read_bytes() == MINE


def test_overwrite_replaces_the_file_and_a_link_but_not_what_the_link_points_to(
    trained: Trained, cli: Cli, tmp_path: Path, image: Path
) -> None:
    folder, elsewhere = tmp_path / "mine", tmp_path / "elsewhere.pt"
    folder.mkdir()
    (folder / "lenet5.pt").write_bytes(MINE)
    elsewhere.write_bytes(MINE)
    (folder / "lenet5.pt.json").symlink_to(elsewhere)
    assert cli(*export_args(trained, folder, "overwrite=true"))[0] == 0
    assert torch.jit.load(str(folder / "lenet5.pt"))(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert json.loads((folder / "lenet5.pt.json").read_text())["file"] == "lenet5.pt"
    assert not (folder / "lenet5.pt.json").is_symlink() and elsewhere.read_bytes() == MINE
    assert json.loads((folder / "metrics.json").read_text())["outputs"] == ["lenet5.pt", "lenet5.pt.json"]

    other = tmp_path / "other"
    other.mkdir()
    (other / "predictions.csv").write_bytes(MINE)
    assert cli(*predict_args(trained, other, image, "overwrite=true"))[0] == 0
    assert (other / "predictions.csv").read_text().startswith("path,class,probability,class_2,")


@pytest.mark.slow
def test_a_run_replacing_a_finished_export_removes_the_files_it_wrote_and_keeps_the_users(
    trained: Trained, cli: Cli, tmp_path: Path, image: Path
) -> None:
    folder = tmp_path / "run"
    assert cli(*export_args(trained, folder))[0] == 0
    (folder / "notes.txt").write_bytes(MINE)
    before = (folder / "lenet5.pt").read_bytes()
    code, err = cli(*predict_args(trained, folder, image))
    assert code == 2 and one_paragraph(err).startswith(f"{folder} holds a finished run with other settings (format: ")
    assert (folder / "lenet5.pt").read_bytes() == before
    assert cli(*predict_args(trained, folder, image, "overwrite=true"))[0] == 0
    assert sorted(p.name for p in folder.glob("[!.]*") if p.is_file()) == [
        "cnnexp.log",
        "metrics.json",
        "notes.txt",
        "predictions.csv",
    ]
    assert (folder / "notes.txt").read_bytes() == MINE


def test_output_puts_the_export_where_the_user_wants_it_and_says_so_first(
    trained: Trained, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[str] = []  # what goes to stdout, in order (the cli fixture keeps stderr only)
    printed = print
    monkeypatch.setattr(
        "builtins.print", lambda *a, **k: printed(*a, **k) if "file" in k else said.append(" ".join(map(str, a)))
    )
    wanted, run = tmp_path / "models" / "digits.pt", tmp_path / "run"
    assert cli(*export_args(trained, run, f"output={wanted}"))[0] == 0
    assert said[0] == f"task=export: writing {wanted} and digits.pt.json (torchscript)"  # before the work
    assert torch.jit.load(str(wanted))(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert json.loads((wanted.parent / "digits.pt.json").read_text())["file"] == "digits.pt"
    assert sorted(p.name for p in wanted.parent.iterdir()) == ["digits.pt", "digits.pt.json"]  # no metrics.json there
    code, err = cli(*export_args(trained, tmp_path / "run2", f"output={wanted}"))
    assert (code, one_paragraph(err)) == (2, exists("export", wanted))


def test_output_of_another_kind_names_the_suffix_to_use(
    trained: Trained, cli: Cli, tmp_path: Path, no_work: None
) -> None:
    code, err = cli(*export_args(trained, tmp_path / "run", f"output={tmp_path / 'model.onnx'}"))
    assert (code, one_paragraph(err)) == (
        2,
        f"output={tmp_path / 'model.onnx'}: task=export writes a .pt file here (lenet5.pt); give a path that ends in "
        f".pt, e.g. output={tmp_path / 'model.pt'}.",
    )


def test_output_puts_the_predictions_where_the_user_wants_them(
    trained: Trained, cli: Cli, tmp_path: Path, image: Path
) -> None:
    wanted = tmp_path / "table.csv"
    assert cli(*predict_args(trained, tmp_path / "run", image, f"output={wanted}"))[0] == 0
    assert wanted.read_text().startswith("path,class,probability,")
    assert not (tmp_path / "run" / "predictions.csv").exists()
