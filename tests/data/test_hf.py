"""data=hf: Hugging Face datasets the tests build on the spot (Dataset.from_dict with PIL images, then save_to_disk
or parquet files): splits, class names, every mistake by message, and train / test / predict from the command
line. Nothing is downloaded: the Hub is switched off for every test here."""

from __future__ import annotations

import csv
import importlib.util
import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import datasets
import huggingface_hub.constants
import pytest
import torch
from helpers import batches, split_sizes

from cnnexp.data.module import ImageDataModule
from cnnexp.data.sources import resolve_data
from cnnexp.data.spec import DataSpec
from cnnexp.errors import ConfigError

SpecFor = Callable[..., DataSpec]
Prepared = Callable[..., ImageDataModule]
NAMES = ["owl", "cat", "dog"]  # a ClassLabel's order, which is kept (not sorted)
LABELS = {"classlabel": [0, 1, 2], "int": [10, 2, 7], "str": ["owl", "cat", "dog"]}  # row i has LABELS[kind][i % 3]
CLASSES = {"classlabel": NAMES, "int": ["2", "7", "10"], "str": ["cat", "dog", "owl"]}  # what cnnexp makes of them
SMALL = {"shape": (1, 8, 8), "num_classes": None, "val_size": 0.1, "train_size": None, "test_size": None,
         "batch_size": 4, "in_memory": False, "num_workers": 0, "image_column": "image", "label_column": "label"}  # fmt: skip


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches the Hub, whatever data.download says: the switches datasets and huggingface_hub read."""
    for module in (datasets.config, huggingface_hub.constants):
        monkeypatch.setattr(module, "HF_HUB_OFFLINE", True)


def features(kind: str) -> datasets.Features:
    dtype = {"int": "int64", "str": "string"}.get(kind, kind)
    label = datasets.ClassLabel(names=NAMES) if kind == "classlabel" else datasets.Value(dtype)
    return datasets.Features({"image": datasets.Image(), "label": label})


@pytest.fixture
def hf_set(tmp_path: Path, class_images: Any) -> Callable[..., Path]:
    """hf_set({"train": 12, "test": 6}, labels="classlabel") saves a DatasetDict of those splits (a Dataset when
    `whole`) into tmp_path/<name>; row i has label LABELS[labels][i % 3] and an image of that class's quadrant."""
    class_image, _ = class_images

    def write(splits: dict[str, int], labels: str = "classlabel", name: str = "saved", whole: bool = False) -> Path:
        parts, i = {}, 0
        for split, count in splits.items():
            rows: dict[str, list[Any]] = {"image": [], "label": []}
            for _ in range(count):
                value = LABELS[labels][i % 3]
                rows["image"].append(
                    class_image(CLASSES[labels].index(str(NAMES[value] if labels == "classlabel" else value)), i)
                )
                rows["label"].append(value)
                i += 1
            parts[split] = datasets.Dataset.from_dict(rows, features=features(labels))
        (parts["train"] if whole else datasets.DatasetDict(parts)).save_to_disk(str(tmp_path / name))
        return tmp_path / name

    return write


def hf_spec(spec_for: SpecFor, root: Path, **changes: Any) -> DataSpec:
    return resolve_data(spec_for("hf", root=root, **{**SMALL, **changes}))


@pytest.mark.parametrize("in_memory", [False, True], ids=["streamed", "in_memory"])
@pytest.mark.parametrize("channels", [1, 3])
def test_named_splits_and_the_classlabel_order(
    spec_for: SpecFor,
    prepared: Prepared,
    hf_set: Callable[..., Path],
    class_images: Any,
    channels: int,
    in_memory: bool,
) -> None:
    _, bright_quadrant = class_images
    root = hf_set({"train": 12, "validation": 3, "test": 6})
    dm = prepared(hf_spec(spec_for, root, shape=(channels, 8, 8), in_memory=in_memory))
    assert dm.class_names == NAMES
    assert split_sizes(dm, bright_quadrant, (channels, 8, 8)) == {"train": 12, "val": 3, "test": 6}
    assert dm.describe().startswith(f"data=hf {channels}×8×8, batch 4: 12 train / 3 val / 6 test images, 3 classes")


@pytest.mark.parametrize("labels", ["int", "str"])
def test_labels_without_a_classlabel_are_sorted(
    spec_for: SpecFor, prepared: Prepared, hf_set: Callable[..., Path], class_images: Any, labels: str
) -> None:
    _, bright_quadrant = class_images
    dm = prepared(hf_spec(spec_for, hf_set({"train": 9, "test": 3}, labels=labels)))
    assert dm.class_names == CLASSES[labels]  # numbers as numbers (2 before 10), text as folder names sort
    for stage in ("train", "test"):
        images, found = batches(getattr(dm, f"{stage}_dataloader")())
        assert torch.equal(bright_quadrant(images), found)


def test_missing_splits_are_held_out_and_unread_ones_named(
    spec_for: SpecFor, prepared: Prepared, hf_set: Callable[..., Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="cnnexp")
    root = hf_set({"train": 30, "extra": 2})
    dm = prepared(hf_spec(spec_for, root))
    assert {stage: dm.count(stage) for stage in ("train", "val", "test")} == {"train": 24, "val": 3, "test": 3}
    said = [
        m
        for m in caplog.messages
        if m == f"data=hf: data.root={root} has split(s) extra, not read (cnnexp reads train, validation, test)"
    ]
    assert len(said) == 1, "said once, by the load every process does"
    whole = prepared(
        hf_spec(spec_for, hf_set({"train": 20}, name="whole", whole=True))
    )  # a Dataset: its rows are train
    assert {stage: whole.count(stage) for stage in ("train", "val", "test")} == {"train": 16, "val": 2, "test": 2}


def test_a_dataset_by_name_is_loaded_into_the_root(
    spec_for: SpecFor, prepared: Prepared, hf_set: Callable[..., Path], tmp_path: Path
) -> None:
    """load_dataset(name) as the Hub would serve it, from a local folder of parquet files (no network here)."""
    saved = datasets.load_from_disk(str(hf_set({"train": 9, "test": 3})))
    files = tmp_path / "hub" / "data"
    files.mkdir(parents=True)
    for split, part in saved.items():
        part.to_parquet(str(files / f"{split}-00000-of-00001.parquet"))
    cache = tmp_path / "cache"
    spec = hf_spec(spec_for, cache, dataset=str(tmp_path / "hub"))
    assert spec.num_classes == 3, "the ClassLabel travels in the parquet files"
    dm = prepared(spec)
    assert (dm.class_names, dm.count("train") + dm.count("val"), dm.count("test")) == (NAMES, 9, 3)
    assert any(cache.iterdir()), "load_dataset keeps its files in data.root"
    offline = prepared(replace(spec, download=False))
    assert offline.count("test") == 3


def _float_labels(write: Callable[..., Path]) -> Path:
    root = write({"train": 3})
    train = datasets.load_from_disk(str(root))["train"].cast_column("label", datasets.Value("float32"))
    datasets.DatasetDict(train=train).save_to_disk(str(root.parent / "float"))
    return root.parent / "float"


def _unlabelled_test(write: Callable[..., Path]) -> Path:
    root = write({"train": 6, "test": 2})
    saved = datasets.load_from_disk(str(root))
    test = saved["test"].map(lambda row: {"label": -1})
    datasets.DatasetDict(train=saved["train"], test=test).save_to_disk(str(root.parent / "unlabelled"))
    return root.parent / "unlabelled"


def _other_classlabel(write: Callable[..., Path]) -> Path:
    root = write({"train": 6, "test": 2})
    saved = datasets.load_from_disk(str(root))
    test = saved["test"].cast_column("label", datasets.ClassLabel(names=["owl", "cat", "emu"]))
    datasets.DatasetDict(train=saved["train"], test=test).save_to_disk(str(root.parent / "other"))
    return root.parent / "other"


def _unlabelled_column(write: Callable[..., Path]) -> Path:
    root = write({"train": 6, "test": 2})
    saved = datasets.load_from_disk(str(root))
    datasets.DatasetDict(train=saved["train"], test=saved["test"].remove_columns("label")).save_to_disk(
        str(root.parent / "nolabel")
    )
    return root.parent / "nolabel"


def _unknown_text_label(write: Callable[..., Path]) -> Path:
    root = write({"train": 6, "test": 2}, labels="str")
    saved = datasets.load_from_disk(str(root))
    test = saved["test"].map(lambda row, i: {"label": "emu" if i == 1 else row["label"]}, with_indices=True)
    datasets.DatasetDict(train=saved["train"], test=test).save_to_disk(str(root.parent / "emu"))
    return root.parent / "emu"


# (case, what to build from hf_set, spec changes, the message; {root} is the dataset's folder)
HF_ERRORS = [
    (
        "no_dataset",
        lambda write: write({"train": 3}).parent / "empty",
        {},
        r"^data\.root={root} holds no dataset written by save_to_disk \(FileNotFoundError: .*\); give data\.root=<the folder save_to_disk wrote>, or data\.dataset=NAME for a dataset load_dataset finds by name \(data\.root then holds its download\)\.$",
    ),
    (
        "no_train_split",
        lambda write: write({"training": 3, "test": 3}),
        {},
        r"^data=hf: data\.root={root} has no split named train \(its splits: training, test\); cnnexp trains on the train split\.$",
    ),
    (
        "image_column",
        lambda write: write({"train": 3}),
        {"image_column": "img"},
        r"^data\.image_column=img: data\.root={root} has no column 'img'\. Did you mean 'image'\? Its columns: image, label\.$",
    ),
    (
        "not_images",
        lambda write: write({"train": 3}),
        {"image_column": "label"},
        r"^data\.image_column=label: column 'label' of data\.root={root} holds ClassLabel\(names=\['owl', 'cat', 'dog'\]\), not images \(a datasets\.Image feature\); set data\.image_column to the column of images\.$",
    ),
    (
        "label_column",
        lambda write: write({"train": 3}),
        {"label_column": "class"},
        r"^data\.label_column=class: data\.root={root} has no column 'class'\. Its columns: image, label\.$",
    ),
    (
        "test_column",
        _unlabelled_column,
        {},
        r"^data\.label_column=label: data\.root={root} has no column 'label' \(in its test split\)\. Its columns: image\.$",
    ),
    (
        "float_labels",
        _float_labels,
        {},
        r"^data\.label_column=label: column 'label' of data\.root={root} holds Value\('float32'\); cnnexp classifies: a ClassLabel, whole numbers or text\.$",
    ),
    (
        "unlabelled",
        _unlabelled_test,
        {},
        r"^data=hf: 2 row\(s\) of the test split of data\.root={root} have no label of a train class: row 0 \(-1\); row 1 \(-1\) \(the classes: owl, cat, dog\); cnnexp needs a known label on every row \(-1 or None is a row without one\)\.$",
    ),
    (
        "other_classlabel",
        _other_classlabel,
        {},
        r"^data=hf: the test split of data\.root={root} has other classes than its train split \(ClassLabel\(names=\['owl', 'cat', 'emu'\]\) against ClassLabel\(names=\['owl', 'cat', 'dog'\]\)\); every split needs the same ClassLabel\.$",
    ),
    (
        "unknown_text_label",
        _unknown_text_label,
        {},
        r"^data=hf: 1 row\(s\) of the test split of data\.root={root} have no label of a train class: row 1 \('emu'\) \(the classes: cat, dog, owl\)",
    ),
    (
        "no_such_name",
        lambda write: write({"train": 3}),
        {"dataset": "nobody/nothing-here", "download": False},
        r"^data\.dataset=nobody/nothing-here: load_dataset could not load it into data\.root={root} \(ConnectionError: Couldn't reach 'nobody/nothing-here' on the Hub \(OfflineModeIsEnabled\)\); data\.download=false reads only what is cached in data\.root\. Check the name \(huggingface\.co/datasets\) and the network, or save the dataset with save_to_disk and give that folder as data\.root with data\.dataset=null\.$",
    ),
]


@pytest.mark.parametrize(("case", "build", "changes", "message"), HF_ERRORS, ids=[c for c, *_ in HF_ERRORS])
def test_dataset_mistakes_stop_before_training(
    spec_for: SpecFor,
    hf_set: Callable[..., Path],
    case: str,
    build: Callable[..., Path],
    changes: dict[str, Any],
    message: str,
) -> None:
    root = build(hf_set)
    spec = spec_for("hf", root=root, **{**SMALL, "num_classes": 3, **changes})
    message = message.replace("{root}", re.escape(str(root)))
    with pytest.raises(ConfigError, match=message):
        resolve_data(replace(spec, num_classes=None))  # counting the classes opens the dataset
    dm = ImageDataModule(spec, (1, 8, 8))
    with pytest.raises(ConfigError, match=message):
        dm.prepare_data()
    with pytest.raises(ConfigError, match=message):
        dm.setup("fit")


def test_an_image_that_does_not_decode_is_named_before_training(
    spec_for: SpecFor, tmp_path: Path, class_images: Any
) -> None:
    class_image, _ = class_images
    rows = {"image": [class_image(i % 3, i) for i in range(6)], "label": [i % 3 for i in range(6)]}
    rows["image"][4] = {"bytes": b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4, "path": None}
    datasets.DatasetDict(train=datasets.Dataset.from_dict(rows, features=features("classlabel"))).save_to_disk(
        str(tmp_path / "bad")
    )
    dm = ImageDataModule(hf_spec(spec_for, tmp_path / "bad", num_classes=3), (1, 8, 8))
    with pytest.raises(
        ConfigError,
        match=rf"^data=hf: 1 image\(s\) cannot be read: row 4 of the train split of data\.root={re.escape(str(tmp_path / 'bad'))} \(OSError: Truncated File Read\)\. Remove or replace them\.$",
    ):
        dm.prepare_data()


def test_without_the_package_one_line_says_what_to_install(
    spec_for: SpecFor, hf_set: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = hf_set({"train": 3})
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *args: None if name == "datasets" else find_spec(name, *args)
    )
    with pytest.raises(
        ConfigError,
        match=r"^data=hf needs the package datasets, which is not installed: pip install 'cnnexp\[hf\]' \(or pip install datasets\)\.$",
    ):
        hf_spec(spec_for, root, num_classes=3)


@pytest.mark.slow
def test_train_test_and_predict_from_the_command_line(
    cli: Callable[..., tuple[int, str]], hf_set: Callable[..., Path], tmp_path: Path
) -> None:
    root = hf_set({"train": 24, "validation": 6, "test": 6})
    pictures = tmp_path / "pictures"  # the test split as image files, for task=predict
    pictures.mkdir()
    for i, row in enumerate(datasets.load_from_disk(str(root))["test"]):
        row["image"].save(pictures / f"{i}_{NAMES[row['label']]}.png")
    data = ("data=hf", f"data.root={root}", "data.channels=1", "data.height=8", "data.width=8", "data.num_workers=0",
            "data.batch_size=4", "model=linear", "optimizer.lr=0.05", "trainer.max_epochs=2", "logger=null",
            "trainer.enable_progress_bar=false", "callbacks.progress=null", "callbacks.pictures=null")  # fmt: skip
    code, err = cli(*data, f"hydra.run.dir={tmp_path / 'train'}")
    assert code == 0, err[-3000:]
    trained = json.loads((tmp_path / "train" / "metrics.json").read_text())
    assert (trained["data"], trained["train_images"], trained["val_images"], trained["test_images"]) == ("hf", 24, 6, 6)
    assert (
        "data=hf 1×8×8, batch 4: 24 train / 6 val / 6 test images, 3 classes"
        in (tmp_path / "train" / "cnnexp.log").read_text()
    )
    code, err = cli(
        "task=test", f"ckpt_path={trained['checkpoint']}", "logger=null", f"hydra.run.dir={tmp_path / 'test'}"
    )
    assert code == 0, err[-3000:]
    tested = json.loads((tmp_path / "test" / "metrics.json").read_text())
    assert (tested["test_acc"], tested["test_images"]) == (trained["test_acc"], 6), (
        "the record alone gives the same test"
    )
    code, err = cli(
        "task=predict",
        f"ckpt_path={trained['checkpoint']}",
        f"input={pictures}",
        f"hydra.run.dir={tmp_path / 'predict'}",
    )
    assert code == 0, err[-3000:]
    predicted = list(csv.DictReader((tmp_path / "predict" / "predictions.csv").open()))
    right = sum(Path(r["path"]).stem.split("_")[1] == r["class"] for r in predicted)
    assert (len(predicted), right / len(predicted)) == (6, pytest.approx(tested["test_acc"])), (
        "predict decodes as training did"
    )
