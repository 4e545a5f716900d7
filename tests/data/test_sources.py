"""The tensor sources: torchvision's own readers on files the test writes, and the offline messages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.error import URLError

import numpy as np
import pytest
import torch
from torchvision.datasets import mnist as tv_mnist

from cnnexp.data.sources import SOURCES
from cnnexp.data.spec import DataSpec
from cnnexp.errors import ConfigError

SpecFor = Callable[..., DataSpec]
MnistFiles = Callable[..., dict[str, tuple[Any, Any]]]
MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_idx_files_come_back_exactly(
    name: str, folder: str, tmp_path: Path, spec_for: SpecFor, mnist_files: MnistFiles
) -> None:
    written = mnist_files(tmp_path, folder)
    spec = spec_for(name, root=tmp_path, download=False)
    SOURCES.get(name, "data.name").prepare(spec)
    source = SOURCES.get(name, "data.name").load(spec)
    for split, part in (("train", source.train), ("test", source.test)):
        images, labels = written[split]
        assert part.images.dtype == torch.uint8 and part.images.shape == (len(images), 1, 28, 28)
        assert part.labels.dtype == torch.int64
        assert torch.equal(part.images[:, 0], torch.from_numpy(images))
        assert torch.equal(part.labels, torch.from_numpy(labels).long())
    assert len(source.classes) == 10


def test_missing_files_offline_name_folder_and_files(tmp_path: Path, spec_for: SpecFor) -> None:
    spec = spec_for("mnist", root=tmp_path, download=False)
    SOURCES.get("mnist", "data.name").prepare(spec)  # download=false: nothing to fetch, nothing fails yet
    with pytest.raises(ConfigError) as caught:
        SOURCES.get("mnist", "data.name").load(spec)
    message = str(caught.value)
    assert f"{tmp_path / 'MNIST' / 'raw'}" in message
    assert all(f in message for f in MNIST_FILES)
    assert "data.download=false" in message and "data.download=true" in message and "network" in message


def test_failed_download_says_it_needs_network(
    tmp_path: Path, spec_for: SpecFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(url: str, *args: object, **kwargs: object) -> None:
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    spec = spec_for("mnist", root=tmp_path, download=True)
    with pytest.raises(ConfigError, match=r"could not download into .*MNIST/raw.*needs network") as caught:
        SOURCES.get("mnist", "data.name").prepare(spec)
    assert all(f in str(caught.value) for f in MNIST_FILES)


def test_corrupt_idx_file_is_a_config_error(tmp_path: Path, spec_for: SpecFor, mnist_files: MnistFiles) -> None:
    mnist_files(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00")
    with pytest.raises(ConfigError, match=r"unreadable or corrupt"):
        SOURCES.get("mnist", "data.name").load(spec_for("mnist", root=tmp_path, download=False))


def test_missing_cifar_names_its_batches(tmp_path: Path, spec_for: SpecFor) -> None:
    with pytest.raises(ConfigError, match=r"cifar-10-batches-py: data_batch_1, .*test_batch, batches\.meta"):
        SOURCES.get("cifar10", "data.name").load(spec_for("cifar10", root=tmp_path, download=False))


def test_digits_are_rendered_once_and_cached(spec_for: SpecFor, digits_root: Path) -> None:
    spec = spec_for("digits")
    SOURCES.get("digits", "data.name").prepare(spec)
    assert list(digits_root.glob("*.pt")), "prepare renders into data.root"
    source = SOURCES.get("digits", "data.name").load(spec)
    assert source.train.images.shape == (300, 1, 28, 28) and source.train.images.dtype == torch.uint8
    assert source.classes == [str(d) for d in range(10)]
    assert np.array_equal(source.test.labels.unique().numpy(), np.arange(10))
