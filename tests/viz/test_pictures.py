"""The pure parts: what the pictures are drawn from (viz/probe.py) and the figures (viz/pictures.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cnnexp.viz import pictures as pic
from cnnexp.viz.probe import Mistakes, feature_maps, first_conv


def test_mistakes_count_every_image_and_keep_the_first_wrong_ones() -> None:
    torch.manual_seed(0)
    mistakes, seen = Mistakes(keep=5), []
    for _ in range(4):
        images, labels, logits = torch.randn(8, 1, 4, 4), torch.randint(0, 3, (8,)), torch.randn(8, 3)
        mistakes.update(images, labels, logits)
        seen.append((images, labels, logits.argmax(1)))
    images, labels, pred = (torch.cat(x) for x in zip(*seen))
    assert mistakes.counts is not None and int(mistakes.counts.sum()) == 32
    assert torch.equal(mistakes.counts, torch.bincount(labels * 3 + pred, minlength=9).view(3, 3))
    wrong = pred != labels
    kept, true, predicted = mistakes.misclassified()
    assert torch.equal(kept, images[wrong][:5]) and torch.equal(true, labels[wrong][:5])
    assert torch.equal(predicted, pred[wrong][:5])


def test_no_kept_images_when_every_answer_is_right() -> None:
    mistakes = Mistakes(keep=3)
    mistakes.update(torch.zeros(4, 1, 2, 2), torch.arange(4), torch.eye(4))
    images, true, _ = mistakes.misclassified()
    assert len(images) == len(true) == 0 and mistakes.counts is not None and mistakes.counts.trace() == 4


def test_feature_maps_of_every_conv_layer_in_eval_mode() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Dropout(0.5), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1))
    net.train()
    maps = feature_maps(net, torch.ones(1, 1, 8, 8))
    assert {k: tuple(v.shape) for k, v in maps.items()} == {"0": (4, 6, 6), "3": (2, 6, 6)}
    assert net.training and not any(m._forward_hooks for m in net.modules())  # put back as found
    assert first_conv(net) == ("0", net[0])


def test_mosaic_puts_tiles_in_rows_with_gaps() -> None:
    tiles = torch.arange(3 * 2 * 2, dtype=torch.float32).view(3, 2, 2)
    out = pic.mosaic(tiles, cols=2)
    assert out.shape == (2 * (2 + pic.PAD) + pic.PAD, 2 * (2 + pic.PAD) + pic.PAD)
    assert np.array_equal(out[1:3, 4:6], tiles[1].numpy()) and np.isnan(out[4:6, 4:6]).all()
    assert pic.grid_shape(20) == (4, 5) and pic.grid_shape(32, max_cols=8) == (6, 6)


def test_a_png_has_the_figure_size_and_tensorboard_gets_the_same_pixels(tmp_path: Path) -> None:
    fig = pic.kernel_grid(torch.randn(6, 3, 5, 5), "conv1")  # colour tiles: 3 input channels
    path = pic.save_png(fig, tmp_path / "k.png")
    with Image.open(path) as img:
        assert img.size == pic.pixel_size(fig)
    assert pic.to_array(fig).shape == (pic.pixel_size(fig)[1], pic.pixel_size(fig)[0], 3)


def test_kernel_grid_scales_each_tile_to_its_largest_weight() -> None:
    weight = torch.tensor([[[[2.0, -4.0]]], [[[0.0, 0.0]]]])
    fig = pic.kernel_grid(weight, "k")
    shown = fig.axes[0].images[0].get_array()
    assert shown[1, 1:3].tolist() == [0.5, -1.0] and shown[1, 4:6].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("classes", [3, 40])
def test_confusion_figure_annotates_small_matrices_only(classes: int) -> None:
    counts = torch.eye(classes, dtype=torch.long) * 5
    fig = pic.confusion_figure(counts, [f"c{i}" for i in range(classes)], "test")
    texts = fig.axes[0].texts
    assert len(texts) == (classes * classes if classes <= pic.ANNOTATE_UP_TO else 0)
    assert f"{5 * classes} images, accuracy 1.0000" in fig.axes[0].get_title()


def test_misclassified_titles_say_true_then_predicted() -> None:
    fig = pic.misclassified_figure(
        torch.rand(2, 3, 8, 8), torch.tensor([0, 1]), torch.tensor([1, 0]), ["cat", "dog"], "val"
    )
    assert [text.get_text() for text in fig.axes[0].texts] == ["cat→dog", "dog→cat"]


def test_curves_have_a_panel_per_kind_and_a_line_per_stage() -> None:
    history = {0: {"train/loss": 2.0, "val/loss": 1.5, "val/acc": 0.5}, 1: {"train/loss": 1.0, "val/loss": 1.2}}
    fig = pic.curves_figure(history)
    loss, acc = fig.axes
    assert (loss.get_title(), acc.get_title()) == ("loss", "accuracy")
    assert [line.get_label() for line in loss.lines] == ["train", "val"] and len(acc.lines) == 1
    assert list(loss.lines[0].get_xdata()) == [1, 2]  # epochs counted from 1


def test_grey_png_is_one_pixel_per_value(tmp_path: Path) -> None:
    values = torch.tensor([[-1.0, 0.0], [1.0, 3.0]])
    with Image.open(pic.grey_png(values, tmp_path / "m.png")) as img:
        assert img.mode == "L" and np.asarray(img).tolist() == [[0, 64], [128, 255]]
    assert math.isclose(pic.stretched(values[None, None]).max().item(), 1.0)
