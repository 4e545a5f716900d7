"""Kernels written in YAML applied to one image: the lecture's 'input image → kernel → feature map', computed.

Each kernel is a conv layer of the stack language (docs/layers.md): a bare matrix, or a mapping with the
conv fields (`kernel`, `kernel_scale`, `P`, `S`, `dilation`), parsed and built by the very code that builds
a model's conv layers, then applied to a grey image of raw pixel values 0..255.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor

from cnnexp.config import fields as fd
from cnnexp.data.transforms import to_grey
from cnnexp.errors import ConfigError
from cnnexp.model.layers import Place
from cnnexp.model.layers.conv import Conv
from cnnexp.viz import pictures as pic


@dataclass(frozen=True)
class KernelPlace(Place):
    """Names a kernel by its config key, kernels.kernels.<name>, in every error the conv layer's parser raises."""

    bare: bool = False  # written as a bare matrix: its 'kernel' field is the entry itself

    def __str__(self) -> str:
        return f"kernels.kernels.{self.name}"

    def key(self, field: str) -> str:
        return str(self) if self.bare and field == "kernel" else f"{self}.{field}"


def parse_kernels(raw: Any, padding: Any) -> list[tuple[str, Conv]]:
    """`kernels.kernels` -> (name, conv spec) pairs; an entry set to null is left out."""
    if not isinstance(raw, Mapping) or not any(v is not None for v in raw.values()):
        raise ConfigError(
            "kernels.kernels must name at least one kernel, e.g. {edges: [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]}."
        )
    padding = fd.padding(padding, "kernels.padding")
    return [(str(name), parse_kernel(str(name), entry, padding)) for name, entry in raw.items() if entry is not None]


def parse_kernel(name: str, entry: Any, padding: Any) -> Conv:
    bare = not isinstance(entry, Mapping)
    layer = {"kernel": entry} if bare else dict(entry)
    if layer.get("type", "conv") not in ("conv", "conv2d") or "kernel" not in layer:
        raise ConfigError(
            f"kernels.kernels.{name}: give a matrix, or a conv layer with a written kernel such as "
            f"{{kernel: [[1, 2, 1], [2, 4, 2], [1, 2, 1]], kernel_scale: 0.0625, P: 1}}."
        )
    if not any(k in layer for k in ("P", "padding")):
        layer["P"] = padding
    # Conv.parse is what parse_layer dispatches a conv to; called directly so errors keep this entry's key.
    spec = cast(Conv, Conv.parse(layer, KernelPlace(0, name, "conv", bare)))
    if spec.out_channels != 1 or len(spec.kernel or ()) != 1:
        raise ConfigError(f"kernels.kernels.{name}: one matrix and one filter per name; write a bank as several names.")
    return spec


def apply(spec: Conv, name: str, image: Tensor) -> Tensor:
    """The feature map (H', W') of one grey image (H, W); a kernel that does not fit is a ConfigError."""
    shape = (1, *image.shape)
    spec.infer(shape, KernelPlace(0, name, "conv"), strict=False)  # (N − F + 2P)/S + 1 ≥ 1, or the error says why
    conv = spec.build(shape)
    with torch.no_grad():
        return conv(image[None, None].float())[0, 0]


def grey(image: Tensor) -> Tensor:
    """uint8 or float (C, H, W) with 1 or 3 channels -> float (H, W) on 0..255."""
    x = image.float()
    if x.shape[0] == 3:
        return to_grey(x)[0]
    return x[0]


def read_image(path: str) -> Tensor:
    """An image file as grey (H, W) float pixel values 0..255; a missing or unreadable file names the key."""
    from PIL import Image, UnidentifiedImageError

    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"kernels.image={path}: no such file; give the path of an image (PNG, JPEG, ...).")
    try:
        with Image.open(file) as img:
            pixels = torch.frombuffer(bytearray(img.convert("L").tobytes()), dtype=torch.uint8)
            return pixels.view(img.height, img.width).float()
    except (OSError, UnidentifiedImageError) as err:
        raise ConfigError(f"kernels.image={path}: cannot read it as an image ({err}).") from None


def write_pictures(image: Tensor, convs: list[tuple[str, Conv]], maps: dict[str, Tensor], out: Path) -> list[Path]:
    """input.png (pixel values as they are), <name>.png per feature map (one pixel per value, stretched to
    0..255: a map has negative values) and the kernels.png panels; returns the paths written."""
    written = [pic.grey_png(image, out / "input.png", stretch=False)]
    written += [pic.grey_png(fmap, out / f"{name}.png") for name, fmap in maps.items()]
    rows = [(name, torch.tensor(spec.kernel)[0], spec.kernel_scale, maps[name]) for name, spec in convs]
    written.append(pic.save_png(pic.kernel_panels(image, rows), out / "kernels.png"))
    return written
