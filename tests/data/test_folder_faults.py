"""Image folders a careful or hostile user can make: 16-bit and float images, link loops, a file reached twice,
train files linked into test, a FIFO named like an image, an image that passes PIL's verify() but does not
decode; and a digits cache whose labels are wrong or that cannot be written."""

from __future__ import annotations

import os
import signal
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from cnnexp.data.digits import load_digits
from cnnexp.data.folders import Decode, UnreadableImage, index_split, prepare_folder
from cnnexp.data.module import ImageDataModule
from cnnexp.data.spec import DataSpec
from cnnexp.errors import ConfigError

TREE = {"train": {"cat": 2, "dog": 2}, "test": {"cat": 1, "dog": 1}}


@pytest.fixture
def spec(spec_for: Callable[..., DataSpec], image_tree: Callable[..., Path]) -> Callable[..., DataSpec]:
    def make(root: Path | None = None) -> DataSpec:
        folder = root or image_tree(TREE)
        return spec_for("image_folder", root=folder, shape=(1, 8, 8), num_classes=2, val_size=1, batch_size=2,
                        in_memory=False, num_workers=0, train_size=None, test_size=None)  # fmt: skip

    return make


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fail instead of blocking forever (a FIFO opened for reading waits for a writer)."""

    def stop(*_: Any) -> None:
        raise TimeoutError("blocked on a file")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_16_bit_and_float_images_are_scaled_not_clipped(tmp_path: Path) -> None:
    ramp = np.array([[0, 257 * 64, 32896, 65535]], dtype=np.uint16)  # 0, 64, 128, 255 in 8 bits
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    Image.fromarray(np.array([[0.0, 0.25, 0.5, 1.0]], dtype=np.float32)).save(tmp_path / "float.tiff")
    assert Decode(1, 1, 4)(str(tmp_path / "deep.png")).flatten().tolist() == [0, 64, 128, 255]
    assert Decode(1, 1, 4)(str(tmp_path / "float.tiff")).flatten().tolist() == [0, 64, 128, 255]
    rgb = Decode(3, 1, 4)(str(tmp_path / "deep.png"))
    assert rgb.shape == (3, 1, 4) and rgb[:, 0, 2].tolist() == [128, 128, 128]


def test_a_link_loop_is_named_and_a_folder_linked_twice_is_read_once(spec: Callable[..., DataSpec]) -> None:
    root = spec().root
    (root / "train" / "cat" / "again").symlink_to(root / "train" / "dog", target_is_directory=True)
    with pytest.raises(ConfigError, match=r"train/dog \(the same folder as .*train/cat/again, which is in class cat\)"):
        index_split(root / "train")
    (root / "train" / "cat" / "again").unlink()
    (root / "train" / "dog" / "more").symlink_to(root / "train" / "dog", target_is_directory=True)
    with pytest.raises(ConfigError, match=r"train/dog/more links back to a folder above it \(a loop"):
        index_split(root / "train")
    (root / "train" / "dog" / "more").unlink()
    (root / "train" / "dog" / "more").mkdir()
    (root / "train" / "dog" / "more" / "same.png").symlink_to(root / "train" / "dog" / "0.png")
    (root / "train" / "dog" / "more" / "again").symlink_to(root / "train" / "dog" / "more", target_is_directory=True)
    with pytest.raises(ConfigError, match="links back to a folder above it"):
        index_split(root / "train")
    (root / "train" / "dog" / "more" / "again").unlink()
    assert [Path(p).name for p, _ in index_split(root / "train").samples] == ["0.png", "1.png", "0.png", "1.png"]
    (root / "train" / "dog" / "cat.png").symlink_to(root / "train" / "cat" / "1.png")
    with pytest.raises(ConfigError, match=r"dog/cat.png \(the same file as .*train/cat/1.png, which is in class cat\)"):
        index_split(root / "train")


def test_train_files_linked_into_test_are_refused(spec: Callable[..., DataSpec]) -> None:
    data = spec()
    (data.root / "test" / "cat" / "leak.png").symlink_to(data.root / "train" / "cat" / "1.png")
    with pytest.raises(
        ConfigError, match=r"1 file\(s\) of .*test are train files too \(through links\): .*leak.png is"
    ):
        prepare_folder(data)


def test_a_fifo_named_like_an_image_is_refused_without_opening_it(spec: Callable[..., DataSpec], no_hang: None) -> None:
    data = spec()
    fifo = data.root / "train" / "dog" / "x.png"
    os.mkfifo(fifo)
    with pytest.raises(
        ConfigError, match=rf"1 file\(s\) under .*train cannot be used: {fifo} \(a FIFO, not a regular file\)"
    ):
        prepare_folder(data)


def _png_that_passes_verify(path: Path) -> None:
    """A PNG whose chunks and CRCs are right but whose image data does not inflate."""
    head = b"\x89PNG\r\n\x1a\n"
    ihdr = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)
    chunks = [(b"IHDR", ihdr), (b"IDAT", b"\x78\x9c" + b"\xff" * 20), (b"IEND", b"")]
    body = b"".join(struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d)) for t, d in chunks)
    path.write_bytes(head + body)


def test_an_image_that_verifies_but_cannot_decode_is_named_before_training(spec: Callable[..., DataSpec]) -> None:
    data = spec()
    bad = data.root / "train" / "cat" / "0.png"
    _png_that_passes_verify(bad)
    with Image.open(bad) as img:
        img.verify()  # what the old check did: it passes
    with pytest.raises(ConfigError) as err:
        prepare_folder(data)
    assert str(err.value).startswith(f"data=image_folder: 1 image file(s) cannot be read: {bad} (")
    assert str(err.value).endswith(". Remove or replace them.") and "\n" not in str(err.value)


def test_a_worker_error_reaches_the_user_as_its_paragraph(spec: Callable[..., DataSpec]) -> None:
    data = spec()
    dm = ImageDataModule(data, data.shape)
    dm.setup("fit")
    for image in (data.root / "train").rglob("*.png"):
        _png_that_passes_verify(image)  # broken after the check, while training
    loader = torch.utils.data.DataLoader(dm.parts["train"], batch_size=2, num_workers=1)
    with pytest.raises(UnreadableImage) as err:
        list(loader)
    assert str(err.value).startswith("data=image_folder: cannot read image ") and "Traceback" not in str(err.value)


def test_a_digits_cache_with_wrong_labels_is_rendered_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = load_digits(tmp_path, train_size=20, test_size=10, seed=3)
    (path,) = tmp_path.glob("*.pt")
    torch.save({"train_images": first["train"][0], "train_labels": first["train"][1] + 90,
                "test_images": first["test"][0], "test_labels": first["test"][1]}, path)  # fmt: skip
    again = load_digits(tmp_path, train_size=20, test_size=10, seed=3)
    assert torch.equal(again["train"][1], first["train"][1])
    assert "holds labels outside 0-9: rendering it again" in caplog.text


def test_a_digits_cache_that_cannot_be_written_is_one_paragraph(tmp_path: Path) -> None:
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    with pytest.raises(
        ConfigError, match=rf"data.root={blocked}: cannot write the digits cache there \(.*\); set data.root"
    ):
        load_digits(blocked, train_size=10, test_size=10)
