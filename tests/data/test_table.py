"""data=csv: a table of image paths and classes, from tiny tables the tests write: batches, splits, classes,
every mistake in the table by message, and train / test / predict from the command line."""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers import split_sizes
from PIL import Image

from cnnexp.data.module import ImageDataModule
from cnnexp.data.sources import resolve_data
from cnnexp.data.spec import DataSpec
from cnnexp.errors import ConfigError

SpecFor = Callable[..., DataSpec]
Prepared = Callable[..., ImageDataModule]
CLASSES = ("owl", "cat", "dog")  # in the order rows name them; sorted: cat, dog, owl
SMALL = {"shape": (1, 8, 8), "num_classes": None, "val_size": 0.1, "train_size": None, "test_size": None,
         "batch_size": 4, "in_memory": False, "num_workers": 0}  # fmt: skip


def write_csv(path: Path, header: list[str], rows: Iterable[Iterable[Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def table(tmp_path: Path, class_images: Any) -> Callable[..., Path]:
    """table({"train": 12, "test": 6}, split=True) writes images img/<i>.png, class CLASSES[i % 3], and
    labels.csv with columns image,label[,split]; `absolute` names every second image by its absolute path."""
    class_image, _ = class_images

    def write(counts: dict[str, int], split: bool = True, absolute: bool = False, name: str = "set") -> Path:
        root, rows, i = tmp_path / name, [], 0
        (root / "img").mkdir(parents=True)
        for stage, count in counts.items():
            for _ in range(count):
                label = i % 3
                class_image(sorted(CLASSES).index(CLASSES[label]), i).save(root / "img" / f"{i}.png")
                path = str(root / "img" / f"{i}.png") if absolute and i % 2 else f"img/{i}.png"
                rows.append([path, CLASSES[label], *([stage] if split else [])])
                i += 1
        return write_csv(root / "labels.csv", ["image", "label", *(["split"] if split else [])], rows)

    return write


def table_spec(spec_for: SpecFor, root: Path, **changes: Any) -> DataSpec:
    columns = {"image_column": "image", "label_column": "label", "split_column": "split"}
    return resolve_data(spec_for("csv", root=root, **{**SMALL, **columns, **changes}))


@pytest.mark.parametrize("in_memory", [False, True], ids=["streamed", "in_memory"])
@pytest.mark.parametrize("channels", [1, 3])
def test_the_split_column_gives_the_splits_and_labels_follow_sorted_classes(
    spec_for: SpecFor, prepared: Prepared, table: Callable[..., Path], class_images: Any, channels: int, in_memory: bool
) -> None:
    _, bright_quadrant = class_images
    root = table({"train": 12, "val": 3, "test": 6}, absolute=True)
    dm = prepared(table_spec(spec_for, root, shape=(channels, 8, 8), in_memory=in_memory))
    assert dm.class_names == ["cat", "dog", "owl"]
    assert split_sizes(dm, bright_quadrant, (channels, 8, 8)) == {"train": 12, "val": 3, "test": 6}
    assert dm.describe().startswith(f"data=csv {channels}×8×8, batch 4: 12 train / 3 val / 6 test images, 3 classes")


def test_without_a_split_column_val_and_test_are_held_out_of_train(
    spec_for: SpecFor, prepared: Prepared, table: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="cnnexp")
    root = table({"train": 30}, split=False)
    dm = prepared(table_spec(spec_for, root))
    assert {stage: dm.count(stage) for stage in ("train", "val", "test")} == {"train": 24, "val": 3, "test": 3}
    assert (
        f"data=csv: {root} has no column 'split': every row is a train image, and the val and test images are held "
        f"out of them (data.split_column=null says so without this line)"
    ) in caplog.messages
    caplog.clear()
    prepared(table_spec(spec_for, root, split_column=None))
    assert not any("has no column" in message for message in caplog.messages)


def test_split_values_of_hugging_face_and_ludwig_are_read(
    spec_for: SpecFor, prepared: Prepared, table: Callable[..., Path]
) -> None:
    root = table({"train": 9, "val": 3, "test": 3})
    rows = list(csv.reader(root.open()))
    spelled = {"train": ["Train", "0"], "val": ["validation", "1"], "test": [" TEST", "2"]}
    for k, row in enumerate(rows[1:]):
        row[2] = spelled[row[2]][k % 2]
    write_csv(root, rows[0], rows[1:])
    dm = prepared(table_spec(spec_for, root))
    assert {stage: dm.count(stage) for stage in ("train", "val", "test")} == {"train": 9, "val": 3, "test": 3}


def test_other_column_names_a_spreadsheets_utf8_and_a_file_named_twice(
    spec_for: SpecFor, prepared: Prepared, table: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="cnnexp")
    root = table({"train": 9, "test": 3})
    rows = list(csv.reader(root.open()))
    rows = [["file", "class", "fold"], *rows[1:], ["./" + rows[1][0], *rows[1][1:]]]  # line 2's file again
    root.write_text(
        "\n".join(", ".join(row) for row in rows) + "\n", encoding="utf-8-sig"
    )  # a BOM, spaces after commas
    dm = prepared(table_spec(spec_for, root, image_column="file", label_column="class", split_column="fold"))
    assert (dm.count("train") + dm.count("val"), dm.count("test")) == (9, 3), "the repeated row is read once"
    assert (
        f"data=csv: 1 row(s) of {root} repeat an earlier row (its file, class and split): read once" in caplog.messages
    )


def test_the_class_count_comes_from_the_train_rows(spec_for: SpecFor, table: Callable[..., Path]) -> None:
    spec = table_spec(spec_for, table({"train": 9, "test": 3}))
    assert spec.num_classes == 3, "data.num_classes: null is the number of the train rows' classes"
    assert resolve_data(replace(spec, num_classes=3)) == replace(spec, num_classes=3)
    with pytest.raises(ConfigError, match=r"^data\.channels must be 1 \(grey\) or 3 \(RGB\) for data=csv, got 2\.$"):
        resolve_data(replace(spec, channels=2))
    with pytest.raises(
        ConfigError, match=r"^data\.num_classes=5 but .*labels\.csv has 3 classes in column 'label' \(cat, dog, owl\)"
    ):
        ImageDataModule(replace(spec, num_classes=5), (1, 8, 8)).setup("fit")


def _rewrite(root: Path, change: Callable[[list[list[str]]], list[list[str]]]) -> None:
    rows = change(list(csv.reader(root.open())))
    write_csv(root, rows[0], rows[1:])


def _cell(line: int, column: int, value: str) -> Callable[[list[list[str]]], list[list[str]]]:
    """Set one cell: `line` as the file numbers it (the header is line 1)."""

    def change(rows: list[list[str]]) -> list[list[str]]:
        rows[line - 1][column] = value
        return rows

    return change


# (case, damage to a table of 6 train and 3 test rows, the message that names it, read: found by reading the
# table alone, as counting its classes does, or only once the files are checked). {set} is the table's folder.
TABLE_ERRORS = [
    (
        "no_table",
        lambda root: root.unlink(),
        r"^data\.root={set}/labels\.csv: no such table\. data=csv reads a CSV file with a header row and one row per image \(e\.g\. image,label,split\), its image paths relative to the table's folder or absolute\.$",
        True,
    ),
    (
        "a_folder",
        lambda root: (root.parent / "x.csv").write_text("image,label\n"),
        r"^data\.root={set} is a folder \(it holds labels\.csv, x\.csv\); data=csv reads one table: give the CSV file's path, e\.g\. data\.root={set}/labels\.csv\.$",
        True,
    ),
    (
        "empty",
        lambda root: root.write_text(""),
        r"^data=csv: {set}/labels\.csv is empty; a table starts with a header row naming its columns, e\.g\. image,label\.$",
        True,
    ),
    (
        "header_only",
        lambda root: root.write_text("image,label,split\n\n"),
        r"^data=csv: {set}/labels\.csv has a header \(image, label, split\) but no rows; add a row per image\.$",
        True,
    ),
    (
        "not_utf8",
        lambda root: root.write_bytes("image,label\nimg/0.png,caf\xe9\n".encode("latin-1")),
        r"^data=csv: {set}/labels\.csv is not UTF-8 text \(invalid continuation byte\); save it as UTF-8 CSV\.$",
        True,
    ),
    (
        "image_column",
        lambda root: _rewrite(root, _cell(1, 0, "img")),
        r"^data\.image_column=image: {set}/labels\.csv has no column 'image'\. Did you mean 'img'\? Its columns: img, label, split; set data\.image_column to the one that holds the image paths\.$",
        True,
    ),
    (
        "label_column",
        lambda root: _rewrite(root, _cell(1, 1, "class")),
        r"^data\.label_column=label: {set}/labels\.csv has no column 'label'\. Its columns: image, class, split; set data\.label_column to the one that holds the classes\.$",
        True,
    ),
    (
        "split_value",
        lambda root: _rewrite(root, _cell(3, 2, "trian")),
        r"^data=csv: 1 row\(s\) of {set}/labels\.csv cannot be used: line 3: split 'trian' in column 'split' is not train, val or test \(did you mean 'train'\?\)\.$",
        True,
    ),
    (
        "empty_cells",
        lambda root: _rewrite(root, lambda rows: [*_cell(2, 1, " ")(rows)[:4], ["", "cat", "test"]]),
        r"^data=csv: 2 row\(s\) of {set}/labels\.csv cannot be used: line 2 has no class \(column 'label' is empty\); line 5 has no image path \(column 'image' is empty\)\.$",
        True,
    ),
    (
        "test_only_class",
        lambda root: _rewrite(root, _cell(9, 1, "emu")),
        r"^data=csv: 1 class\(es\) of {set}/labels\.csv appear in val or test rows only: 'emu' \(line 9\); the model learns the classes of the train rows \(cat, dog, owl\): add train rows of those classes, or remove their rows\.$",
        True,
    ),
    (
        "no_train",
        lambda root: _rewrite(root, lambda rows: [rows[0], *([r[0], r[1], "test"] for r in rows[1:])]),
        r"^data=csv: {set}/labels\.csv has no train rows \(column 'split' says val or test on every row\); mark some rows train\.$",
        True,
    ),
    (
        "missing_file",
        lambda root: [(root.parent / "img" / f"{i}.png").unlink() for i in (1, 7)],
        r"^data=csv: 2 image file\(s\) named in {set}/labels\.csv do not exist: line 3: {set}/img/1\.png; line 9: {set}/img/7\.png\. Paths are relative to the table's folder {set}, or absolute; fix them or remove those rows\.$",
        False,
    ),
    (
        "two_classes",
        lambda root: _rewrite(root, lambda rows: [*rows, ["img/0.png", "cat", "train"]]),
        r"^data=csv: 1 row\(s\) of {set}/labels\.csv name a file that cannot be used: line 11: {set}/img/0\.png \(cat, train\) is the file of line 2 \(owl, train\)\. A file is one image of one class in one split \(a train image in val or test would be scored on what the model learned\); remove or fix those rows\.$",
        False,
    ),
    (
        "train_in_test",
        lambda root: _rewrite(root, lambda rows: [*rows, ["../set/img/0.png", "owl", "test"]]),
        r"line 11: {set}/\.\./set/img/0\.png \(owl, test\) is the file of line 2 \(owl, train\)\.",
        False,
    ),
]


@pytest.mark.parametrize(("case", "damage", "message", "read"), TABLE_ERRORS, ids=[c for c, *_ in TABLE_ERRORS])
def test_table_mistakes_stop_before_training(
    spec_for: SpecFor, table: Callable[..., Path], case: str, damage: Callable[[Path], Any], message: str, read: bool
) -> None:
    root = table({"train": 6, "test": 3})
    damage(root)
    message = message.replace("{set}", re.escape(str(root.parent)))
    given = root.parent if case == "a_folder" else root
    columns = {"image_column": "image", "label_column": "label", "split_column": "split"}
    spec = spec_for("csv", root=given, **{**SMALL, **columns, "num_classes": 3})
    if read:
        with pytest.raises(ConfigError, match=message):
            resolve_data(replace(spec, num_classes=None))  # counting the classes reads the table
    dm = ImageDataModule(spec, (1, 8, 8))
    with pytest.raises(ConfigError, match=message):
        dm.prepare_data()
    with pytest.raises(ConfigError, match=message):
        dm.setup("fit")


def test_a_fifo_or_an_undecodable_file_is_named_with_its_line(spec_for: SpecFor, table: Callable[..., Path]) -> None:
    root = table({"train": 6, "test": 3})
    os.unlink(root.parent / "img" / "2.png")
    os.mkfifo(root.parent / "img" / "2.png")  # opening it would block the run forever: it is never opened
    dm = ImageDataModule(table_spec(spec_for, root, num_classes=3), (1, 8, 8))
    with pytest.raises(ConfigError, match=rf"line 4: {root.parent}/img/2\.png \(a FIFO, not a regular file\)"):
        dm.prepare_data()
    os.unlink(root.parent / "img" / "2.png")
    (root.parent / "img" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    Image.new("L", (3, 3)).save(root.parent / "img" / "5.png", format="JPEG")  # any format PIL reads is fine
    with pytest.raises(
        ConfigError,
        match=rf"^data=csv: 1 image file\(s\) named in {root} cannot be read: line 4: {root.parent}/img/2\.png \(.*\)\. Remove or replace them \(or their rows\)\.$",
    ):
        dm.prepare_data()


@pytest.mark.slow
def test_train_test_and_predict_from_the_command_line(
    cli: Callable[..., tuple[int, str]], table: Callable[..., Path], tmp_path: Path
) -> None:
    root = table({"train": 24, "val": 6, "test": 6})
    data = ("data=csv", f"data.root={root}", "data.channels=1", "data.height=8", "data.width=8", "data.num_workers=0",
            "data.batch_size=4", "model=linear", "optimizer.lr=0.05", "trainer.max_epochs=2", "logger=null",
            "trainer.enable_progress_bar=false", "callbacks.progress=null", "callbacks.pictures=null")  # fmt: skip
    code, err = cli(*data, f"hydra.run.dir={tmp_path / 'train'}")
    assert code == 0, err[-3000:]
    trained = json.loads((tmp_path / "train" / "metrics.json").read_text())
    assert (trained["data"], trained["train_images"], trained["val_images"], trained["test_images"]) == (
        "csv",
        24,
        6,
        6,
    )
    assert (
        "data=csv 1×8×8, batch 4: 24 train / 6 val / 6 test images, 3 classes"
        in (tmp_path / "train" / "cnnexp.log").read_text()
    )
    ckpt = trained["checkpoint"]
    code, err = cli("task=test", f"ckpt_path={ckpt}", "logger=null", f"hydra.run.dir={tmp_path / 'test'}")
    assert code == 0, err[-3000:]
    tested = json.loads((tmp_path / "test" / "metrics.json").read_text())
    assert (tested["test_acc"], tested["test_images"]) == (trained["test_acc"], 6), (
        "the record alone gives the same test"
    )
    rows = list(csv.DictReader(root.open()))
    code, err = cli(
        "task=predict", f"ckpt_path={ckpt}", f"input={root.parent / 'img'}", f"hydra.run.dir={tmp_path / 'predict'}"
    )
    assert code == 0, err[-3000:]
    predicted = {
        Path(r["path"]).name: r["class"] for r in csv.DictReader((tmp_path / "predict" / "predictions.csv").open())
    }
    test_rows = [r for r in rows if r["split"] == "test"]
    right = sum(predicted[Path(r["image"]).name] == r["label"] for r in test_rows)
    assert right / len(test_rows) == pytest.approx(tested["test_acc"]), "predict decodes the files as training did"
    assert set(predicted.values()) <= set(CLASSES)
