"""data=image_folder: batches from tiny PNG trees written by the tests, and every layout mistake by message."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from cnnexp.data.folders import Decode
from cnnexp.data.module import ImageDataModule
from cnnexp.data.sources import resolve_data
from cnnexp.data.spec import DataSpec
from cnnexp.errors import ConfigError

SpecFor = Callable[..., DataSpec]
Prepared = Callable[..., ImageDataModule]
ImageTree = Callable[..., Path]

TREE = {"train": {"cat": 4, "dog": 3, "owl": 3}, "test": {"cat": 2, "dog": 1, "owl": 2}}
SMALL = {"shape": (3, 12, 16), "num_classes": 3, "val_size": 2, "batch_size": 4, "in_memory": False, "num_workers": 0}


def folder_spec(spec_for: SpecFor, root: Path, **changes: Any) -> DataSpec:
    return spec_for("image_folder", root=root, **{**SMALL, "train_size": None, "test_size": None, **changes})


def all_batches(loader: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = list(loader)
    return torch.cat([x for x, _ in pairs]), torch.cat([y for _, y in pairs])


def assert_pixels_match_labels(images: torch.Tensor, labels: torch.Tensor) -> None:
    """image_tree fills class i with the value 40 * (i + 1), whatever the mode and size it wrote."""
    expected = (40 * (labels + 1)).to(torch.uint8)[:, None, None, None].expand_as(images)
    assert torch.equal(images, expected)


@pytest.mark.parametrize("in_memory", [False, True], ids=["streamed", "in_memory"])
@pytest.mark.parametrize("channels", [1, 3])
def test_batches_have_the_declared_shape_and_right_labels(
    spec_for: SpecFor, prepared: Prepared, image_tree: ImageTree, channels: int, in_memory: bool
) -> None:
    dm = prepared(folder_spec(spec_for, image_tree(TREE), shape=(channels, 12, 16), in_memory=in_memory))
    assert dm.class_names == ["cat", "dog", "owl"] and dm.num_train == 8
    sizes = {}
    loaders = {"train": dm.train_dataloader(), "val": dm.val_dataloader(), "test": dm.test_dataloader()}
    for stage, loader in loaders.items():
        images, labels = all_batches(loader)
        assert images.dtype == torch.uint8 and images.shape[1:] == (channels, 12, 16)
        assert labels.dtype == torch.int64
        assert_pixels_match_labels(images, labels)
        sizes[stage] = len(labels)
    assert sizes == {"train": 8, "val": 2, "test": 5}
    assert "3 classes" in dm.describe()


@pytest.mark.slow
def test_a_val_folder_is_used_as_is(spec_for: SpecFor, prepared: Prepared, image_tree: ImageTree) -> None:
    dm = prepared(folder_spec(spec_for, image_tree({**TREE, "val": {"cat": 1, "dog": 1, "owl": 1}})))
    assert (dm.num_train, len(dm.parts["val"])) == (10, 3)


def test_workers_decode_and_the_model_gets_its_shape(
    spec_for: SpecFor, prepared: Prepared, image_tree: ImageTree
) -> None:
    spec = folder_spec(spec_for, image_tree(TREE), shape=(1, 12, 16), num_workers=1, adapt=True)
    dm = prepared(spec, model_input=(3, 24, 24))
    x, y = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    assert x.shape == (4, 3, 24, 24) and x.dtype == torch.float32


LAYOUT_ERRORS = [
    ("no_root", lambda root: shutil.rmtree(root), r"data\.root=.*images is not a folder"),
    (
        "no_train",
        lambda root: shutil.rmtree(root / "train"),
        r"no folder .*images/train; expected .*optionally val/ and test/",
    ),
    ("no_classes", lambda root: [shutil.rmtree(p) for p in (root / "train").iterdir()], r"train has no class folders"),
    ("empty_class", lambda root: (root / "train" / "emu").mkdir(), r"class folder\(s\) without images in .*train: emu"),
    ("test_classes", lambda root: shutil.rmtree(root / "test" / "owl"), r"test has other classes .*train: \['owl'\]"),
]


@pytest.mark.parametrize(("case", "damage", "message"), LAYOUT_ERRORS, ids=[c for c, _, _ in LAYOUT_ERRORS])
def test_layout_mistakes_stop_before_training(
    spec_for: SpecFor, image_tree: ImageTree, case: str, damage: Callable[[Path], Any], message: str
) -> None:
    root = image_tree(TREE)
    damage(root)
    dm = ImageDataModule(folder_spec(spec_for, root), (3, 12, 16))
    with pytest.raises(ConfigError, match=message):
        dm.prepare_data()
    with pytest.raises(ConfigError, match=message):
        dm.setup("fit")


SMALL_SET = {"train": {"cat": 12, "dog": 9, "owl": 9}}  # 30 images, no val/ and no test/ folder


def test_without_a_test_folder_a_tenth_of_train_is_held_out_for_testing(
    spec_for: SpecFor, prepared: Prepared, image_tree: ImageTree, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="cnnexp")
    dm = prepared(folder_spec(spec_for, image_tree(SMALL_SET), val_size=0.1))
    sizes = {stage: len(dm.parts[stage]) for stage in ("train", "val", "test")}
    assert sizes == {"train": 24, "val": 3, "test": 3}  # 10% of 30 each, the rest trains
    assert "data=image_folder: no test split in " in caplog.text
    assert "3 of its 30 train images are held out for testing (data.test_size=0.1)" in caplog.text
    for loader, count in ((dm.train_dataloader(), 24), (dm.test_dataloader(), 3)):
        images, labels = all_batches(loader)
        assert len(labels) == count
        assert_pixels_match_labels(images, labels)  # the held-out images keep their class folder's label


def test_held_out_test_images_are_none_of_the_training_ones(
    spec_for: SpecFor, prepared: Prepared, image_tree: ImageTree
) -> None:
    dm = prepared(folder_spec(spec_for, image_tree(SMALL_SET), val_size=5, test_size=7))
    indices = {stage: set(dm.parts[stage].indices) for stage in ("train", "val", "test")}
    assert [len(i) for i in indices.values()] == [18, 5, 7]
    assert not (indices["train"] & indices["val"]) and not (indices["train"] & indices["test"])
    assert not (indices["val"] & indices["test"]) and len(set().union(*indices.values())) == 30


def test_a_share_of_the_test_folder(spec_for: SpecFor, prepared: Prepared, image_tree: ImageTree) -> None:
    dm = prepared(folder_spec(spec_for, image_tree(TREE), test_size=0.4))
    assert len(dm.parts["test"]) == 2  # 40% of the 5 test images


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"val_size": 0.95, "test_size": 0.1},
            r"data\.val_size=0\.95 leaves no training images of the 27 in the train split",
        ),
        ({"test_size": 30}, r"data\.test_size=30 leaves no training images of the 30"),
    ],
)
def test_holding_out_too_much_is_refused(
    spec_for: SpecFor, image_tree: ImageTree, changes: dict[str, Any], message: str
) -> None:
    dm = ImageDataModule(folder_spec(spec_for, image_tree(SMALL_SET), **changes), (3, 12, 16))
    with pytest.raises(ConfigError, match=message):
        dm.setup("fit")


def test_class_count_must_match_num_classes(spec_for: SpecFor, prepared: Prepared, image_tree: ImageTree) -> None:
    with pytest.raises(ConfigError, match=r"data\.num_classes=5 but .*train has 3 class folders \(cat, dog, owl\)"):
        prepared(folder_spec(spec_for, image_tree(TREE), num_classes=5))
    counted = prepared(folder_spec(spec_for, image_tree(TREE, "counted"), num_classes=None))
    assert counted.class_names == ["cat", "dog", "owl"]


def test_the_run_reads_the_class_count_from_the_folder(spec_for: SpecFor, image_tree: ImageTree) -> None:
    spec = folder_spec(spec_for, image_tree(TREE), num_classes=None)
    assert resolve_data(spec).num_classes == 3, "data.num_classes: null is the number of class folders"
    assert resolve_data(replace(spec, num_classes=3)) == replace(spec, num_classes=3)
    with pytest.raises(
        ConfigError, match=r"data\.channels must be 1 \(grey\) or 3 \(RGB\) for data=image_folder, got 2"
    ):
        resolve_data(replace(spec, channels=2))


def test_a_corrupt_image_is_named_before_training(spec_for: SpecFor, image_tree: ImageTree) -> None:
    root = image_tree(TREE)
    (root / "train" / "dog" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    (root / "test" / "owl" / "0.png").write_bytes(b"")
    dm = ImageDataModule(folder_spec(spec_for, root), (3, 12, 16))
    with pytest.raises(ConfigError, match=r"2 image file\(s\) cannot be read: .*dog/1\.png .*owl/0\.png"):
        dm.prepare_data()


def test_decode_names_the_file_it_cannot_read(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"GIF89a garbage")
    with pytest.raises(ConfigError, match=r"cannot read image .*broken\.png"):
        Decode(3, 8, 8)(str(bad))
