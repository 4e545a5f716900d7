"""The rendered `digits` dataset: determinism, shapes, balance, split separation and the on-disk cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnexp.data import digits
from cnnexp.data.digits import generate_digits, load_digits

N = 200


@pytest.fixture(scope="module")
def sample() -> tuple[torch.Tensor, torch.Tensor]:
    return generate_digits(N, seed=3)


def _cache_files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.suffix == ".pt")


def test_same_seed_gives_identical_bytes(sample: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = generate_digits(N, seed=3)
    assert torch.equal(images, sample[0])
    assert torch.equal(labels, sample[1])


def test_different_seeds_give_different_images(sample: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, _ = generate_digits(N, seed=4)
    differing = (images != sample[0]).flatten(1).any(dim=1)
    assert differing.float().mean() > 0.99


def test_shapes_dtypes_and_range(sample: tuple[torch.Tensor, torch.Tensor]) -> None:
    images, labels = sample
    assert images.shape == (N, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (N,) and labels.dtype == torch.int64
    assert int(labels.min()) == 0 and int(labels.max()) == 9
    assert int(images.max()) == 255  # strokes reach full ink
    # MNIST-like: black background at the border, ink in the middle, every image has some ink.
    border = torch.cat([images[:, :2].flatten(1), images[:, -2:].flatten(1)], dim=1)
    assert border.float().mean() < 10
    assert (images.flatten(1).amax(dim=1) > 200).all()
    ink = images.flatten(1).float().mean(dim=1) / 255
    assert ((ink > 0.03) & (ink < 0.4)).all()


def test_digit_is_roughly_centred(sample: tuple[torch.Tensor, torch.Tensor]) -> None:
    weight = sample[0].float()
    coords = torch.arange(28.0)
    mass = weight.sum(dim=(1, 2))
    cy = (weight.sum(dim=2) * coords).sum(1) / mass
    cx = (weight.sum(dim=1) * coords).sum(1) / mass
    assert (cy - 13.5).abs().max() < 5 and (cx - 13.5).abs().max() < 5


@pytest.mark.parametrize("n", [200, 203, 7])
def test_classes_balanced(n: int) -> None:
    counts = torch.bincount(generate_digits(n, seed=0)[1], minlength=10)
    assert int(counts.max() - counts.min()) <= 1
    assert int(counts.sum()) == n


def test_labels_are_shuffled(sample: tuple[torch.Tensor, torch.Tensor]) -> None:
    assert not torch.equal(sample[1][:20], torch.arange(20) % 10)


def test_classes_look_different(sample: tuple[torch.Tensor, torch.Tensor]) -> None:
    """The class means differ clearly: the label is about the picture, not noise."""
    images, labels = sample
    means = torch.stack([images[labels == d].float().mean(0) for d in range(10)]).flatten(1)
    gaps = torch.cdist(means, means) + torch.eye(10) * 1e9
    assert float(gaps.min()) > 100


def test_zero_images() -> None:
    images, labels = generate_digits(0, seed=0)
    assert images.shape == (0, 28, 28) and labels.shape == (0,)


def test_train_and_test_share_no_image(tmp_path: Path) -> None:
    splits = load_digits(tmp_path, train_size=N, test_size=N, seed=0)
    train, test = splits["train"][0].flatten(1), splits["test"][0].flatten(1)
    assert not (train[:, None] == test[None]).all(dim=2).any()
    assert len({bytes(row.numpy()) for row in train}) == N  # no duplicates inside a split either


def test_load_matches_generate(tmp_path: Path) -> None:
    splits = load_digits(tmp_path, train_size=N, test_size=50, seed=5)
    images, labels = generate_digits(N, seed=5)
    assert torch.equal(splits["train"][0], images) and torch.equal(splits["train"][1], labels)
    assert splits["test"][0].shape == (50, 28, 28)


def test_cache_written_once_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_digits(tmp_path, train_size=N, test_size=50, seed=1)
    files = _cache_files(tmp_path)
    assert len(files) == 1
    name = files[0].name
    assert "v1" in name and "200" in name and "50" in name and "seed1" in name
    assert list(tmp_path.iterdir()) == files  # no temp file left behind

    def fail(n: int, seed: int) -> None:
        raise AssertionError("rendered again although the cache exists")

    monkeypatch.setattr(digits, "generate_digits", fail)
    mtime = files[0].stat().st_mtime_ns
    second = load_digits(tmp_path, train_size=N, test_size=50, seed=1)
    assert files[0].stat().st_mtime_ns == mtime
    for stage in ("train", "test"):
        assert torch.equal(first[stage][0], second[stage][0])
        assert torch.equal(first[stage][1], second[stage][1])


def test_other_sizes_or_seed_use_another_file(tmp_path: Path) -> None:
    load_digits(tmp_path, train_size=N, test_size=50, seed=1)
    load_digits(tmp_path, train_size=N, test_size=50, seed=2)
    load_digits(tmp_path, train_size=100, test_size=50, seed=1)
    assert len(_cache_files(tmp_path)) == 3


@pytest.mark.parametrize("damage", [b"", b"not a torch file at all", "truncate"])
def test_corrupt_cache_is_regenerated(tmp_path: Path, damage: bytes | str) -> None:
    good = load_digits(tmp_path, train_size=N, test_size=50, seed=1)
    (path,) = _cache_files(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if damage == "truncate" else damage)
    again = load_digits(tmp_path, train_size=N, test_size=50, seed=1)
    assert torch.equal(again["train"][0], good["train"][0])
    assert torch.equal(again["test"][1], good["test"][1])
    assert path.read_bytes() == raw  # rewritten whole


def test_cache_with_wrong_contents_is_regenerated(tmp_path: Path) -> None:
    good = load_digits(tmp_path, train_size=N, test_size=50, seed=1)
    (path,) = _cache_files(tmp_path)
    torch.save({"train_images": torch.zeros(3, 28, 28, dtype=torch.uint8)}, path)
    again = load_digits(tmp_path, train_size=N, test_size=50, seed=1)
    assert torch.equal(again["train"][0], good["train"][0])


def test_root_is_created(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b"
    load_digits(root, train_size=20, test_size=10, seed=0)
    assert len(_cache_files(root)) == 1


def test_negative_size_rejected() -> None:
    with pytest.raises(ValueError):
        generate_digits(-1, seed=0)


def test_rendering_reports_its_progress_without_changing_a_byte() -> None:
    told: list[int] = []
    images, labels = generate_digits(2500, seed=3, progress=told.append)
    assert told == [1024, 1024, 452]  # after each batch of the random stream, the images it rendered
    plain_images, plain_labels = generate_digits(2500, seed=3)
    assert torch.equal(images, plain_images) and torch.equal(labels, plain_labels)


def test_the_first_render_says_so_and_the_cached_one_is_silent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="cnnexp")
    load_digits(tmp_path, train_size=40, test_size=20, seed=2)
    assert (
        f"data=digits: rendering 60 images, once: they are cached in {tmp_path}/digits-v1-train40-test20-seed2.pt"
        in caplog.text
    )
    assert "data=digits: rendered 60 images in " in caplog.text
    caplog.clear()
    load_digits(tmp_path, train_size=40, test_size=20, seed=2)
    assert "rendering" not in caplog.text
