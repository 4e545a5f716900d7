"""The embedded `digits` dataset: grey 28×28 digits 0–9 rendered from a seed, no download.

Each digit is a stroke skeleton written out below (polylines and sampled ellipse arcs, 2–3 styles per digit;
no fonts, which differ between machines). Every sample wobbles its skeleton, places it with a random affine
map, draws it anti-aliased with a random pen width, bends the picture with an elastic displacement field and
adds a little blur and grain. All randomness comes from one `torch.Generator`, so a seed fixes every byte;
`load_digits` caches the splits in one file. See docs/digits.md for the parameters and measured figures.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from cnnexp.errors import ConfigError

log = logging.getLogger(__name__)
FORMAT_VERSION = 1  # bump when the rendering changes, so old cache files are not reused
SIZE = 28
CLASSES = 10
_BATCH = 1024  # images rendered at once; part of the random stream, so changing it changes the images
_UNIT_PX = 8.0  # pixels per skeleton unit: skeletons span y in [-1, 1], 16 px, ~19 px with the pen

# Distortion ranges (tuned so a linear model stays far below LeNet5, see docs/digits.md).
_PIECE = 0.2  # longest skeleton segment, in skeleton units (1.6 px before scaling)
_JITTER = 0.07  # amplitude of the smooth wobble of the skeleton, in skeleton units
_ROTATE_DEG = 12.0
_SHEAR = 0.3  # horizontal slant, x += shear * y
_SCALE = (0.85, 1.1)
_ASPECT = (0.75, 1.2)  # extra horizontal scale
_SHIFT_PX = 1.0  # MNIST centres by centre of mass; the elastic field adds its own drift
_PEN_PX = (1.6, 3.4)  # stroke width
_ELASTIC_PX = 1.3  # std of the elastic displacement at its coarse control points
_ELASTIC_GRID = 4  # control points per side of the elastic field (coarse = smooth)
_BLUR = 0.6  # at most this share of a 3×3 blur is mixed in
_NOISE = 0.1  # relative std of the grain in the ink

Point = tuple[float, float]
Stroke = list[Point]


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float) -> Stroke:
    """Points on an ellipse from angle a0 to a1 (degrees, 90 = top, y grows downwards), ~20° per segment."""
    steps = max(2, math.ceil(abs(a1 - a0) / 20.0))
    angles = [math.radians(a0 + (a1 - a0) * k / steps) for k in range(steps + 1)]
    return [(cx + rx * math.cos(a), cy - ry * math.sin(a)) for a in angles]


def _skeletons() -> list[list[list[Stroke]]]:
    """Per digit, its styles; per style, its strokes. x in ~[-0.6, 0.6], y in [-1, 1] downwards."""
    loop_9 = _arc(0.0, -0.45, 0.5, 0.55, 0, 360)
    return [
        [[_arc(0, 0, 0.55, 1.0, 90, 450)], [_arc(0, 0, 0.42, 1.0, 100, 460)]],
        [
            [[(0.0, -1.0), (0.0, 1.0)]],
            [[(-0.28, -0.7), (0.05, -1.0), (0.05, 1.0)]],
            [[(-0.28, -0.7), (0.0, -1.0), (0.0, 1.0)], [(-0.35, 1.0), (0.35, 1.0)]],
        ],
        [
            [_arc(0, -0.45, 0.5, 0.55, 160, -20) + [(-0.55, 1.0), (0.6, 1.0)]],
            [_arc(0, -0.5, 0.5, 0.5, 170, -45) + [(-0.15, 0.4), (-0.55, 1.0), (0.6, 0.95)]],
        ],
        [
            [_arc(0, -0.5, 0.48, 0.5, 150, -90) + _arc(0, 0.5, 0.55, 0.5, 90, -150)[1:]],
            [[(-0.5, -1.0), (0.5, -1.0), (-0.05, -0.1)] + _arc(0, 0.45, 0.55, 0.55, 95, -150)],
        ],
        [
            [[(0.25, 1.0), (0.25, -1.0), (-0.6, 0.35), (0.6, 0.35)]],
            [[(-0.45, -1.0), (-0.55, 0.3), (0.6, 0.3)], [(0.3, -0.6), (0.3, 1.0)]],
        ],
        [
            [[(0.55, -1.0), (-0.4, -1.0)] + _arc(0, 0.4, 0.55, 0.6, 125, -140)],
            [[(-0.4, -1.0)] + _arc(0, 0.4, 0.55, 0.6, 125, -140), [(-0.4, -1.0), (0.55, -1.0)]],
        ],
        [
            [_arc(0.5, 0.45, 1.0, 1.45, 90, 180) + _arc(0, 0.45, 0.5, 0.55, 180, -180)[1:]],
            [[(0.3, -1.0)] + _arc(0, 0.45, 0.5, 0.55, 160, -200)],
        ],
        [
            [[(-0.55, -1.0), (0.55, -1.0), (-0.1, 1.0)]],
            [[(-0.55, -1.0), (0.55, -1.0), (-0.1, 1.0)], [(-0.3, 0.0), (0.4, 0.0)]],
            [[(-0.55, -0.85), (-0.5, -1.0), (0.55, -1.0), (0.2, -0.2), (-0.05, 1.0)]],
        ],
        [
            [_arc(0, -0.5, 0.42, 0.5, 270, -90), _arc(0, 0.5, 0.52, 0.5, 90, 450)],
            [_arc(0, -0.55, 0.36, 0.45, 270, -90), _arc(0, 0.45, 0.55, 0.55, 90, 450)],
        ],
        [
            [loop_9, [(0.5, -0.45), (0.45, 1.0)]],
            [loop_9, _arc(-0.9, -0.45, 1.4, 1.45, 0, -60)],
        ],
    ]


def _segment_table() -> tuple[Tensor, Tensor, Tensor]:
    """All styles as one (styles, segments, 4) tensor of x0, y0, x1, y1, each digit's first style, its count.

    Segments are cut to at most _PIECE units so each one only touches a small window of pixels (see
    _rasterise), and so the wobble bends long strokes a little. Short styles are padded with zero-length
    segments at their first point: on the skeleton, they change neither the distance field nor the
    length-weighted centre of mass.
    """
    styles: list[list[tuple[float, float, float, float]]] = []
    first: list[int] = []
    count: list[int] = []
    for variants in _skeletons():
        first.append(len(styles))
        count.append(len(variants))
        for strokes in variants:
            segs = [piece for stroke in strokes for p, q in zip(stroke, stroke[1:]) for piece in _cut(p, q)]
            styles.append(segs)
    longest = max(len(segs) for segs in styles)
    padded = [segs + [segs[0][:2] * 2] * (longest - len(segs)) for segs in styles]
    table = torch.tensor(padded, dtype=torch.float32)
    return table, torch.tensor(first), torch.tensor(count)


def _cut(p: Point, q: Point) -> list[tuple[float, float, float, float]]:
    """The segment p-q as equal pieces no longer than _PIECE, each as (x0, y0, x1, y1)."""
    steps = max(1, math.ceil(math.dist(p, q) / _PIECE))
    xs = [p[0] + (q[0] - p[0]) * k / steps for k in range(steps + 1)]
    ys = [p[1] + (q[1] - p[1]) * k / steps for k in range(steps + 1)]
    return [(xs[k], ys[k], xs[k + 1], ys[k + 1]) for k in range(steps)]


_TABLE, _FIRST_STYLE, _STYLE_COUNT = _segment_table()


def _uniform(gen: torch.Generator, n: int, low: float, high: float) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def _skeleton(labels: Tensor, gen: torch.Generator) -> Tensor:
    """(B, S, 2, 2) segment end points of each label's randomly chosen style, wobbled by a smooth field.

    The wobble is a sum of random low-frequency sines of the position, so end points shared by two segments
    move together and strokes stay connected (independent noise per point would tear them).
    """
    n = labels.shape[0]
    style = _FIRST_STYLE[labels] + (torch.rand(n, generator=gen) * _STYLE_COUNT[labels]).long()
    pts = _TABLE[style].view(n, -1, 2, 2)
    freq = torch.randn(n, 2, 2, 2, generator=gen) * 1.5  # (sample, wave, out axis, in axis)
    phase = torch.rand(n, 2, 2, generator=gen) * 2 * math.pi
    amp = torch.randn(n, 2, 2, generator=gen) * _JITTER
    wave = torch.einsum("nsei,nwoi->nsewo", pts, freq) + phase[:, None, None]
    return pts + (amp[:, None, None] * torch.sin(wave)).sum(dim=3)


def _place(pts: Tensor, gen: torch.Generator) -> Tensor:
    """Centre each skeleton on its centre of mass (as MNIST does), then rotate, slant, scale and shift it."""
    n = pts.shape[0]
    mid, length = pts.mean(dim=2), (pts[:, :, 1] - pts[:, :, 0]).norm(dim=-1, keepdim=True)
    pts = pts - ((mid * length).sum(1) / length.sum(1).clamp_min(1e-6))[:, None, None]
    angle = torch.deg2rad(_uniform(gen, n, -_ROTATE_DEG, _ROTATE_DEG))
    shear = _uniform(gen, n, -_SHEAR, _SHEAR)
    scale = _uniform(gen, n, *_SCALE) * _UNIT_PX
    aspect = _uniform(gen, n, *_ASPECT)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # M = rotation @ shear @ diag(scale * aspect, scale)
    m = torch.stack([cos, cos * shear - sin, sin, sin * shear + cos], dim=1).view(n, 2, 2)
    m = m * torch.stack([scale * aspect, scale], dim=1)[:, None, :]
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * _SHIFT_PX + (SIZE - 1) / 2
    return torch.einsum("noi,nsei->nseo", m, pts) + shift[:, None, None]


def _rasterise(pts: Tensor, pen: Tensor) -> Tensor:
    """(B, 28, 28) ink in [0, 1]: distance from each pixel centre to the nearest segment, ramped over ~1 px.

    A segment only inks pixels within half a pen width of it, so each one is measured against a small square
    window around its midpoint and the per-pixel minimum is taken with scatter_reduce: ~10× less work than
    measuring every pixel against every segment. The window is sized from the batch's longest segment and
    widest pen, so no inked pixel falls outside it. x and y are kept as separate tensors because reductions
    over a size-2 axis are slow.
    """
    n = pts.shape[0]
    ax, ay = pts[:, :, 0, 0, None], pts[:, :, 0, 1, None]  # (B, S, 1) segment start
    bx, by = pts[:, :, 1, 0, None] - ax, pts[:, :, 1, 1, None] - ay  # (B, S, 1) start to end
    reach = torch.hypot(bx, by).max() / 2 + pen.max() / 2 + 1.0  # half length, pen radius, ramp and rounding
    half = int(math.ceil(float(reach)))
    side = SIZE + 2 * half  # canvas with a margin, so every window fits and needs no bounds check
    oy, ox = (v.flatten() for v in torch.meshgrid(*[torch.arange(-half, half + 1.0)] * 2, indexing="ij"))
    # Clamping a window's centre into the image only moves it towards the image: it still covers every
    # on-image pixel it covered before, and extra pixels just get their true (larger) distance.
    cx, cy = (ax + bx / 2).round().clamp(0, SIZE - 1), (ay + by / 2).round().clamp(0, SIZE - 1)
    rx, ry = cx + ox - ax, cy + oy - ay  # (B, S, K) pixel centre relative to the segment start
    t = ((rx * bx + ry * by) / (bx * bx + by * by).clamp_min(1e-8)).clamp_(0.0, 1.0)
    dist2 = (rx - t * bx).square_() + (ry - t * by).square_()
    index = ((cy + half) * side + cx + half).long() + (oy * side + ox).long()
    nearest = torch.full((n, side * side), float("inf")).scatter_reduce_(
        1, index.view(n, -1), dist2.view(n, -1), reduce="amin"
    )
    dist = nearest.view(n, side, side)[:, half : half + SIZE, half : half + SIZE].sqrt()
    return (pen[:, None, None] / 2 + 0.5 - dist).clamp(0.0, 1.0)


def _elastic(ink: Tensor, gen: torch.Generator) -> Tensor:
    """Bend the picture with a smooth random displacement field (Simard et al. 2003).

    Smoothness comes from drawing the field on a coarse grid and upsampling it bicubically, which is cheaper
    than Gaussian-blurring per-pixel noise and gives the amplitude directly in pixels.
    """
    n = ink.shape[0]
    coarse = torch.randn(n, 2, _ELASTIC_GRID, _ELASTIC_GRID, generator=gen) * _ELASTIC_PX
    field = F.interpolate(coarse, size=(SIZE, SIZE), mode="bicubic", align_corners=True)
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(n, 2, 3)
    grid = F.affine_grid(eye, [n, 1, SIZE, SIZE], align_corners=False)
    grid = grid + field.permute(0, 2, 3, 1) * (2.0 / SIZE)  # pixels -> grid_sample's [-1, 1] units
    return F.grid_sample(ink[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[:, 0]


def _finish(ink: Tensor, gen: torch.Generator) -> Tensor:
    """Mix in a little 3×3 blur and grain, then quantise to uint8 (0 background, 255 full ink)."""
    n = ink.shape[0]
    kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    blurred = F.conv2d(ink[:, None], kernel[None, None], padding=1)[:, 0]
    mix = _uniform(gen, n, 0.0, _BLUR)[:, None, None]
    gain = _uniform(gen, n, 1.0, 1.25)[:, None, None]  # blur dims the stroke core; gain restores full ink
    grain = 1 + torch.randn(ink.shape, generator=gen) * _NOISE  # multiplicative, so the background stays 0
    img = ((1 - mix) * ink + mix * blurred) * gain * grain
    return (img.clamp(0.0, 1.0) * 255).round().to(torch.uint8)


def _render(labels: Tensor, gen: torch.Generator) -> Tensor:
    pts = _place(_skeleton(labels, gen), gen)
    pen = _uniform(gen, labels.shape[0], *_PEN_PX)
    return _finish(_elastic(_rasterise(pts, pen), gen), gen)


def generate_digits(n: int, seed: int, progress: Callable[[int], object] | None = None) -> tuple[Tensor, Tensor]:
    """`n` rendered digits: images uint8 (n, 28, 28) and labels int64 (n,), shuffled, each class n // 10 or
    n // 10 + 1 times.

    The same `n` and `seed` give the same bytes (for a given torch build); rendering goes in fixed-size
    batches so memory stays small whatever `n` is. `progress` is told the images rendered after each batch.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    gen = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % 10)[torch.randperm(n, generator=gen)]
    images = torch.empty(n, SIZE, SIZE, dtype=torch.uint8)
    with torch.no_grad():
        for start in range(0, n, _BATCH):
            images[start : start + _BATCH] = _render(labels[start : start + _BATCH], gen)
            if progress is not None:
                progress(min(_BATCH, n - start))
    return images, labels


def _test_seed(seed: int) -> int:
    """The test split's seed, hashed from `seed`: unlike seed + 1, it is not the train seed of another run."""
    digest = hashlib.sha256(f"cnnexp-digits-test:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # manual_seed takes up to 2**63 - 1 comfortably


def _read_cache(path: Path, sizes: dict[str, int]) -> dict[str, tuple[Tensor, Tensor]] | None:
    """The cached splits, or None when the file is missing, unreadable or not what these sizes need."""
    if not path.is_file():
        return None
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
        splits = {stage: (raw[f"{stage}_images"], raw[f"{stage}_labels"]) for stage in sizes}
    except Exception:  # any damage (truncated zip, wrong pickle, wrong keys) just means: render again
        return None
    for stage, (images, labels) in splits.items():
        if images.dtype != torch.uint8 or labels.dtype != torch.int64:
            return None
        if tuple(images.shape) != (sizes[stage], SIZE, SIZE) or tuple(labels.shape) != (sizes[stage],):
            return None
        if labels.numel() and not (0 <= int(labels.min()) and int(labels.max()) < CLASSES):
            log.warning("digits cache %s holds labels outside 0-9: rendering it again", path)
            return None  # the model has 10 outputs: such a label would fail mid-training
    return splits


def _write_cache(path: Path, splits: dict[str, tuple[Tensor, Tensor]]) -> None:
    """Write atomically: a temp file in the same folder, then os.replace, so readers never see half a file.

    The temp name is unique per writer, so processes rendering the same splits at once do not collide; it is
    opened with plain open() rather than mkstemp so the file gets the umask's permissions, not 0600.
    """
    payload = {}
    for stage, (images, labels) in splits.items():
        payload[f"{stage}_images"], payload[f"{stage}_labels"] = images, labels
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            torch.save(payload, f)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


TRAIN_IMAGES, TEST_IMAGES = 60000, 10000  # MNIST's split sizes, rendered when data.train_size/test_size are null


def load_digits(
    root: Path, train_size: int = TRAIN_IMAGES, test_size: int = TEST_IMAGES, seed: int = 0
) -> dict[str, tuple[Tensor, Tensor]]:
    """{"train": (images, labels), "test": (images, labels)}, rendered once, then read from a cache in `root`.

    The test split is rendered from a seed hashed from `seed`, so it draws independent random numbers and
    shares no image with train. A damaged or mismatched cache file is rendered again and overwritten.
    """
    root = Path(root)
    sizes = {"train": train_size, "test": test_size}
    path = root / f"digits-v{FORMAT_VERSION}-train{train_size}-test{test_size}-seed{seed}.pt"
    cached = _read_cache(path, sizes)
    if cached is not None:
        return cached
    began = time.perf_counter()
    log.info(f"data=digits: rendering {train_size + test_size:,} images, once: they are cached in {path}")
    with tqdm(total=train_size + test_size, desc="rendering digits", unit=" images", disable=None, leave=False) as bar:
        splits = {
            "train": generate_digits(train_size, seed, bar.update),
            "test": generate_digits(test_size, _test_seed(seed), bar.update),
        }
    try:
        root.mkdir(parents=True, exist_ok=True)
        _write_cache(path, splits)
    except (OSError, RuntimeError) as err:  # torch reports a failed write (a full disk) as a RuntimeError
        why = getattr(err, "strerror", None) or str(err).splitlines()[0]
        raise ConfigError(
            f"data.root={root}: cannot write the digits cache there ({why}); set data.root (or the CNNEXP_DATA "
            f"environment variable) to a folder you can write to, with space for it."
        ) from None
    log.info(f"data=digits: rendered {train_size + test_size:,} images in {time.perf_counter() - began:.0f} s")
    return splits
