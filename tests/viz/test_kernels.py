"""task=kernels: the lecture's kernels applied to an image file or a test image, against hand-computed maps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import DictConfig
from PIL import Image

from cnnexp.app import run_job
from cnnexp.errors import ConfigError
from cnnexp.run import read_run
from cnnexp.tasks.kernels import kernels_task
from cnnexp.viz.kernels import parse_kernels

Tiny = Callable[..., DictConfig]
BLUR = [[1, 2, 1], [2, 4, 2], [1, 2, 1]]

# A 5×5 image: a bright 2×2 square on a dark background (as in tests/model/test_fixed_kernels.py).
IMAGE = np.array(
    [[0, 0, 0, 0, 0],
     [0, 0, 0, 0, 0],
     [0, 0, 9, 9, 0],
     [0, 0, 9, 9, 0],
     [0, 0, 0, 0, 0]], dtype=np.uint8)  # fmt: skip

# The edge detector over the 3×3 valid windows (P=0), by hand: 8·centre − the sum of the 8 neighbours.
EDGE_MAP = torch.tensor(
    [[-9, -18, -18],
     [-18, 45, 45],
     [-18, 45, 45]], dtype=torch.float32)  # fmt: skip


def _correlate(image: np.ndarray, kernel: list[list[float]], pad: int) -> torch.Tensor:
    """The sliding-window sum of products, written out: what a conv layer computes (no kernel flip)."""
    x = np.pad(image.astype(np.float64), pad)
    k = np.array(kernel, dtype=np.float64)
    size = x.shape[0] - k.shape[0] + 1
    out = [[float((x[i : i + 3, j : j + 3] * k).sum()) for j in range(size)] for i in range(size)]
    return torch.tensor(out, dtype=torch.float32)


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    path = tmp_path / "square.png"
    Image.fromarray(IMAGE).save(path)
    return path


def test_the_feature_maps_equal_the_hand_computed_convolutions(
    tiny_cfg: Tiny, image_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pictures"
    maps = run_job(
        tiny_cfg("task=kernels", f"kernels.image={image_file}", f"kernels.out={out}", "+kernels.kernels.blur.P=1")
    )
    assert torch.equal(maps["edges"], EDGE_MAP)
    torch.testing.assert_close(maps["blur"], _correlate(IMAGE, BLUR, pad=1) / 16)
    assert maps["blur"][2, 2] == (4 * 9 + 2 * 9 + 2 * 9 + 9) / 16  # the square's top-left pixel, by hand
    sizes = {}
    for name in ("input", "edges", "blur", "kernels"):
        with Image.open(out / f"{name}.png") as img:
            sizes[name] = img.size
            pixels = np.asarray(img)
        if name == "input":
            assert np.array_equal(pixels, IMAGE)  # the input as read: raw pixel values
        if name == "edges":  # one pixel per value, stretched from [-18, 45] to [0, 255]
            assert np.array_equal(pixels, np.round((EDGE_MAP.numpy() + 18) / 63 * 255))
    assert (sizes["input"], sizes["edges"], sizes["blur"]) == ((5, 5), (3, 3), (5, 5))
    assert sizes["kernels"] == (1000, 640)  # two rows of input → kernel → feature map, 10 × 3.2 inches each


def test_without_an_image_a_test_image_of_the_data_is_used(tiny_cfg: Tiny, tmp_path: Path) -> None:
    maps = run_job(tiny_cfg("task=kernels", "kernels.index=3", "kernels.padding=1", f"output_dir={tmp_path / 'run'}"))
    assert {k: tuple(v.shape) for k, v in maps.items()} == {"edges": (28, 28), "blur": (28, 28)}
    assert sorted(p.name for p in (tmp_path / "run").glob("*.png")) == [
        "blur.png",
        "edges.png",
        "input.png",
        "kernels.png",
    ]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["kernels.image=/nonexistent.png"], r"kernels.image=/nonexistent.png: no such file"),
        (["kernels.kernels.edges=[[1,2],[3]]"], r"kernels.kernels.edges: every row must have the same"),
        (["kernels.kernels.edges=[[1,a]]"], r"kernels.kernels.edges: kernel entries must be numbers"),
        (["kernels.kernels.blur.kernel_scale=x"], r"kernels.kernels.blur.kernel_scale must be a number"),
        (["kernels.padding=-1"], r"kernels.padding must be at least 0"),
        (["kernels.kernels.edges=null", "kernels.kernels.blur=null"], r"kernels.kernels must name at least one kernel"),
    ],
)
def test_mistakes_name_the_key(tiny_cfg: Tiny, overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        kernels_task(read_run(tiny_cfg("task=kernels", *overrides)))


def test_a_kernel_larger_than_the_image_says_so(tiny_cfg: Tiny, image_file: Path) -> None:
    big = "[" + ",".join(["[" + ",".join(["1"] * 7) + "]"] * 7) + "]"
    with pytest.raises(ConfigError, match=r"kernels.kernels.edges.*larger than its 5×5 input"):
        kernels_task(read_run(tiny_cfg("task=kernels", f"kernels.image={image_file}", f"kernels.kernels.edges={big}")))


def test_an_index_past_the_test_split_names_the_key(tiny_cfg: Tiny) -> None:
    with pytest.raises(ConfigError, match=r"kernels.index=500 but data=digits has 200 test images"):
        kernels_task(read_run(tiny_cfg("task=kernels", "kernels.index=500")))


def test_a_misspelled_key_fails_at_compose_time(tiny_cfg: Tiny) -> None:
    with pytest.raises(Exception, match="kernels.imag"):
        tiny_cfg("kernels.imag=x.png")


def test_a_bank_of_kernels_under_one_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="kernels.kernels.both: one matrix and one filter per name"):
        parse_kernels({"both": [BLUR, BLUR]}, 0)
