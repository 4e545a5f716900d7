"""Pictures of a network's insides: tensors in, matplotlib Figures out; a PNG file or an RGB array from them.

The callback (viz/callback.py), task=kernels and the tests share these functions; none of them reads a
trainer or a config. Figures are drawn on the Agg canvas directly (`Figure` + `FigureCanvasAgg`), never
through pyplot, so importing this module leaves the process's matplotlib backend alone. A figure's size in
pixels is its size in inches times DPI, exactly (no tight bounding box), so a PNG and the TensorBoard image
of the same figure have the same size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from torch import Tensor

DPI = 100
TILE_INCHES = 0.8  # one tile's width in a mosaic (kernels, feature maps), before the width limits below
WIDTH_INCHES = (4.0, 12.0)
TITLE_INCHES = 0.6  # room for a two-line title
LABELLED_TILE_INCHES = 1.2  # room for a label such as "automobile→airplane"
PAD = 1  # pixels of background between the tiles of a mosaic
ANNOTATE_UP_TO = 30  # classes: above this a confusion matrix is drawn without its numbers
CURVE_TITLES = {"loss": "loss", "acc": "accuracy"}


def new_figure(width: float, height: float, constrained: bool = False) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained" if constrained else None)
    FigureCanvasAgg(fig)
    return fig


def to_array(fig: Figure) -> np.ndarray:
    """The figure as an (H, W, 3) uint8 array, as TensorBoard's add_image takes it (dataformats="HWC")."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()  # type: ignore[attr-defined]


def save_png(fig: Figure | np.ndarray, path: Path) -> Path:
    """Write a figure, or a figure already rendered by to_array (drawing is the costly part: do it once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(fig, np.ndarray):
        from PIL import Image

        Image.fromarray(fig).save(path)
    else:
        fig.savefig(path, dpi=DPI)
    return path


def pixel_size(fig: Figure) -> tuple[int, int]:
    """(width, height) in pixels of the PNG that save_png writes."""
    width, height = fig.get_size_inches() * DPI
    return round(width), round(height)


def stretched(images: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, H, W) grey, or (N, H, W, 3) for 3 channels, in 0..1: each image to its own range.

    Stretching per image shows the pattern whatever the normalisation (and after data.adapt) at the price of
    absolute brightness; a map that is constant becomes black.
    """
    x = images.detach().float().cpu()
    x = x[:, :3].permute(0, 2, 3, 1) if x.shape[1] == 3 else x[:, 0]
    low = x.flatten(1).min(1).values.view(-1, *[1] * (x.dim() - 1))
    high = x.flatten(1).max(1).values.view(-1, *[1] * (x.dim() - 1))
    return (x - low) / (high - low).clamp_min(1e-12)


def grid_shape(count: int, max_cols: int | None = None) -> tuple[int, int]:
    """(rows, cols) of a near-square grid of `count` tiles."""
    cols = max(1, math.ceil(math.sqrt(count)))
    cols = min(cols, max_cols) if max_cols else cols
    return max(1, math.ceil(count / cols)), cols


def mosaic(tiles: Tensor, cols: int, fill: float = math.nan, gap: int = PAD, above: int = 0) -> np.ndarray:
    """(N, H, W[, 3]) tiles -> one array, rows of `cols` tiles `gap` pixels of `fill` apart, with `above`
    more pixels over each row (room for the tiles' labels)."""
    n, h, w = tiles.shape[:3]
    rows = max(1, math.ceil(n / cols))
    out = np.full((rows * (h + gap + above) + gap, cols * (w + gap) + gap, *tiles.shape[3:]), fill, dtype=np.float32)
    for i, tile in enumerate(tiles.numpy()):
        top, left = tile_origin(i, cols, (h, w), gap, above)
        out[top : top + h, left : left + w] = tile
    return out


def tile_origin(i: int, cols: int, tile_hw: tuple[int, int], gap: int = PAD, above: int = 0) -> tuple[int, int]:
    """(top, left) pixel of tile i in a mosaic."""
    return gap + above + (i // cols) * (tile_hw[0] + gap + above), gap + (i % cols) * (tile_hw[1] + gap)


def mosaic_inches(rows: int, cols: int, tile_hw: tuple[int, int]) -> tuple[float, float]:
    """(width, height) in inches of a mosaic figure: TILE_INCHES per column within WIDTH_INCHES, plus a title."""
    width = min(WIDTH_INCHES[1], max(WIDTH_INCHES[0], cols * TILE_INCHES))
    aspect = (rows * (tile_hw[0] + PAD) + PAD) / (cols * (tile_hw[1] + PAD) + PAD)
    return width, round(width * aspect + TITLE_INCHES, 2)


def mosaic_figure(tiles: Tensor, title: str, cmap: str = "gray", vmin: float = 0.0, vmax: float = 1.0) -> Figure:
    """One image of all tiles (fast for hundreds of tiles: a single imshow), titled."""
    rows, cols = grid_shape(len(tiles))
    colour = tiles.dim() == 4
    width, height = mosaic_inches(rows, cols, (tiles.shape[1], tiles.shape[2]))
    fig = new_figure(width, height)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0 - TITLE_INCHES / height))
    ax.imshow(
        mosaic(tiles, cols, fill=1.0 if colour else math.nan),
        cmap=None if colour else _with_white_gaps(cmap), vmin=vmin, vmax=vmax, interpolation="nearest",
    )  # fmt: skip
    ax.set_axis_off()
    fig.suptitle(title, fontsize=8, y=1.0 - TITLE_INCHES / 2 / height, va="center")
    return fig


def _with_white_gaps(name: str) -> Colormap:
    return colormaps[name].with_extremes(bad="white")  # the NaN gaps between tiles


def kernel_grid(weight: Tensor, name: str, limit: int = 256) -> Figure:
    """A conv layer's filters (out, in, F, F): one colour tile per filter over 3 input channels, else one tile
    per (filter, input channel) on a blue-white-red scale centred on zero, each tile scaled to its largest |w|."""
    w = weight.detach().float().cpu()
    out, inp, kh, kw = w.shape
    if inp == 3:
        tiles = stretched(w[:limit])
        return mosaic_figure(tiles, f"{name}: {out} filters {kh}×{kw} over RGB\neach stretched to its range")
    tiles = w.reshape(-1, kh, kw)[:limit]
    tiles = tiles / tiles.abs().amax((1, 2), keepdim=True).clamp_min(1e-12)
    shown = f"first {len(tiles)} of " if len(tiles) < out * inp else ""
    title = f"{name}: {shown}{out}×{inp} kernels {kh}×{kw}\nblue < 0 < red, each scaled to its largest |w|"
    return mosaic_figure(tiles, title, cmap="RdBu_r", vmin=-1.0, vmax=1.0)


def feature_map_grid(maps: Tensor, name: str, limit: int = 64) -> Figure:
    """One layer's output for one image (channels, H, W): a tile per channel, each stretched to its range."""
    c, h, w = maps.shape
    shown = f" (first {limit})" if c > limit else ""
    title = f"{name}: {c}×{h}×{w} feature maps of one image{shown}\neach stretched to its range"
    return mosaic_figure(stretched(maps[:limit, None]), title)


def image_figure(image: Tensor, title: str) -> Figure:
    """One (C, H, W) image, stretched to its range, as a small titled figure."""
    fig = new_figure(3.0, 3.0 + TITLE_INCHES)
    ax = fig.add_axes((0.0, 0.0, 1.0, 3.0 / (3.0 + TITLE_INCHES)))
    ax.imshow(stretched(image[None])[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(title, fontsize=9, y=1.0 - TITLE_INCHES / 2 / (3.0 + TITLE_INCHES), va="center")
    return fig


def confusion_figure(counts: Tensor, class_names: Sequence[str], title: str) -> Figure:
    """Counts (true × predicted) with every cell's number, class names on both axes, accuracy in the title."""
    c = counts.detach().cpu().numpy()
    n, total = c.shape[0], int(c.sum())
    side = min(14.0, max(4.5, 0.45 * n + 2.0))
    fig = new_figure(side, side, constrained=True)
    ax = fig.add_subplot()
    ax.imshow(c, cmap="Blues", interpolation="nearest")
    if n <= ANNOTATE_UP_TO:
        half = c.max() / 2 if c.size else 0
        for (i, j), value in np.ndenumerate(c):
            # in_layout=False: the numbers lie inside the axes, so the constrained layout need not measure each one
            # (the same pixels, 10-20% less drawing time).
            colour = "white" if value > half else "black"
            ax.text(j, i, str(value), ha="center", va="center", fontsize=7, color=colour, in_layout=False)
    names = [str(x) for x in class_names] if len(class_names) == n else [str(i) for i in range(n)]
    tilted = max(map(len, names), default=0) > 3
    ax.set_xticks(range(n), names, rotation=45 if tilted else 0, ha="right" if tilted else "center", fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(c) / total if total else float("nan")
    ax.set_title(f"{title}: {total} images, accuracy {accuracy:.4f}", fontsize=9)
    return fig


def misclassified_figure(
    images: Tensor, true: Tensor, pred: Tensor, class_names: Sequence[str], title: str, max_cols: int = 8
) -> Figure:
    """A grid of mistakes, each labelled 'true→predicted' with the class names.

    One mosaic and one text per tile on a single axes: a grid of 32 titled axes draws ten times slower.
    """
    rows, cols = grid_shape(len(images), max_cols)
    h, w = (images.shape[2], images.shape[3]) if len(images) else (28, 28)
    gap, above = max(2, w // 6), max(4, round(0.35 * h))  # room between tiles, and for the label over each
    grid = mosaic(stretched(images), cols, fill=1.0 if images.shape[1] == 3 else math.nan, gap=gap, above=above)
    width = max(2.6, cols * LABELLED_TILE_INCHES)
    height = round(width * grid.shape[0] / grid.shape[1] + TITLE_INCHES, 2)
    fig = new_figure(width, height)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0 - TITLE_INCHES / height))
    ax.imshow(grid, cmap=_with_white_gaps("gray"), vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    for i, (t, p) in enumerate(zip(true.tolist(), pred.tolist())):
        top, left = tile_origin(i, cols, (h, w), gap, above)
        x, y = left + w / 2, top - above / 2
        label = f"{_name(class_names, t)}→{_name(class_names, p)}"
        ax.text(x, y, label, ha="center", va="center", fontsize=7, color="C3")
    if not len(images):
        ax.text(grid.shape[1] / 2, grid.shape[0] / 2, "no mistakes", ha="center", va="center")
    fig.suptitle(f"{title}: {len(images)} misclassified (true→predicted)", fontsize=9,
                 y=1.0 - TITLE_INCHES / 2 / height, va="center")  # fmt: skip
    return fig


def _name(class_names: Sequence[str], index: int) -> str:
    return str(class_names[index]) if index < len(class_names) else str(index)


def curves_figure(history: Mapping[int, Mapping[str, float]]) -> Figure:
    """Per-epoch 'stage/kind' values (train/loss, val/acc, ...): one panel per kind, one line per stage."""
    from matplotlib.ticker import MaxNLocator

    found = {key.split("/", 1)[1] for values in history.values() for key in values}
    kinds = sorted(found, key=lambda k: (k != "loss", k))  # loss first, then accuracy and the rest
    fig = new_figure(4.5 * max(1, len(kinds)), 3.5, constrained=True)
    axes = fig.subplots(1, max(1, len(kinds)), squeeze=False).ravel()
    epochs = sorted(history)
    for ax, kind in zip(axes, kinds):
        for stage in ("train", "val"):
            points = [(e + 1, history[e][f"{stage}/{kind}"]) for e in epochs if f"{stage}/{kind}" in history[e]]
            if points:
                ax.plot(*zip(*points), marker="o", label=stage)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(CURVE_TITLES.get(kind, kind), fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def kernel_panels(image: Tensor, rows: Sequence[tuple[str, Tensor, float, Tensor]]) -> Figure:
    """The lecture's slide, once per kernel: input image → kernel (its written numbers) → feature map.

    `image` is (H, W); each row is (name, written matrix (F, F), kernel_scale, feature map (H', W')).
    """
    fig = new_figure(10.0, 3.2 * max(1, len(rows)), constrained=True)
    axes = fig.subplots(max(1, len(rows)), 3, squeeze=False)
    for (ax_in, ax_k, ax_out), (name, matrix, scale, fmap) in zip(axes, rows):
        ax_in.imshow(image.numpy(), cmap="gray", interpolation="nearest")
        ax_in.set_title(f"input {image.shape[0]}×{image.shape[1]}", fontsize=9)
        _draw_matrix(ax_k, matrix)
        ax_k.set_title(f"→ kernel '{name}'" + (f" × {scale:g}" if scale != 1 else ""), fontsize=9)
        ax_out.imshow(fmap.numpy(), cmap="gray", interpolation="nearest")
        ax_out.set_title(f"→ feature map {fmap.shape[0]}×{fmap.shape[1]}", fontsize=9)
        for ax in (ax_in, ax_k, ax_out):
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def _draw_matrix(ax: Axes, matrix: Tensor) -> None:
    m = matrix.numpy()
    bound = float(np.abs(m).max()) or 1.0
    ax.imshow(m, cmap="RdBu_r", vmin=-bound, vmax=bound)
    if max(m.shape) <= 9:
        for (i, j), value in np.ndenumerate(m):
            dark = abs(value) > 0.6 * bound  # white on the deep reds and blues
            ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize=10, color="white" if dark else "black")


def grey_png(values: Tensor, path: Path, stretch: bool = True) -> Path:
    """One pixel per value: (H, W) to an 8-bit grey PNG, stretched to its range or clamped to 0..255."""
    from PIL import Image

    x = values.detach().float().cpu()
    if stretch:
        x = stretched(x[None, None])[0] * 255
    pixels = x.round().clamp(0, 255).to(torch.uint8).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)  # 2-D uint8 is 8-bit grey ("L")
    return path
