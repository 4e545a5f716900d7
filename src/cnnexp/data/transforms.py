"""Per-batch work on the device: uint8 (B, C, H, W) in, float (B, C', H', W') for the model out.

Order: augment (training only, in pixel space, so a shifted-in border is black as in torchvision's padded
RandomCrop), normalise per data channel, then adapt to the model's input (grey<->RGB, bilinear resize).
Each step is a handful of tensor operations over the whole batch; nothing loops over images.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from cnnexp.config.fields import fmt_shape
from cnnexp.data.spec import Augment
from cnnexp.errors import ConfigError

Shape = tuple[int, int, int]  # C, H, W
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, PIL's RGB -> "L" weights


def check_adapt(
    data: Shape, model: Shape, adapt: bool | None, data_name: str, fitting_models: Sequence[str] = ()
) -> None:
    """Refuse a model whose input the data cannot feed, or may not (data.adapt=false); the message says what
    adapting would do. data.adapt=null (the default) and true adapt whatever the two shapes allow."""
    if data == model:
        return
    if data[0] != model[0] and {data[0], model[0]} != {1, 3}:
        raise ConfigError(
            f"model takes {model[0]} channel(s) but data={data_name} gives {data[0]}; "
            f"data.adapt converts only between 1 (grey) and 3 (RGB) channels."
        )
    if adapt is not False:
        return
    others = " or ".join(f"model={name}" for name in fitting_models) or f"one whose model.input is {fmt_shape(data)}"
    raise ConfigError(
        f"model takes {fmt_shape(model)} but data={data_name} gives {fmt_shape(data)}; set data.adapt=true "
        f"(or null) to {' and '.join(adapt_steps(data, model))}, or use a model made for this data (e.g. {others})."
    )


def adaptation_line(data: Shape, model: Shape, data_name: str, model_name: str) -> str:
    """The one line a run prints when it adapts the data to the model."""
    return (
        f"data.adapt: model={model_name} takes {fmt_shape(model)}, data={data_name} gives {fmt_shape(data)}: each "
        f"batch is adapted ({' and '.join(adapt_steps(data, model))}); data.adapt=false refuses instead."
    )


def adapt_steps(data: Shape, model: Shape) -> list[str]:
    """What `adapt` does to a batch of `data` images for a model that takes `model`, in the order it does it."""
    steps = ["convert RGB to grey"] if data[0] == 3 and model[0] == 1 else []
    if data[1:] != model[1:]:
        steps.append(f"resize to {model[1]}×{model[2]}")
    if data[0] == 1 and model[0] == 3:
        steps.append("repeat the grey channel 3 times")
    return steps


def channel_stats(images: Tensor, chunk: int = 1024) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 (N, C, H, W) on the 0..1 scale, in float64 chunks (no float copy)."""
    total = torch.zeros(images.shape[1], dtype=torch.float64, device=images.device)
    squares = torch.zeros_like(total)
    for part in images.split(chunk):
        part = part.double()
        total += part.sum(dim=(0, 2, 3))
        squares += part.square().sum(dim=(0, 2, 3))
    count = max(1, images.numel() // images.shape[1])
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    # A constant channel has no spread to scale; dividing by 1 leaves it centred.
    std = torch.where(std > 0, std, torch.full_like(std, 255.0))
    return tuple((mean / 255).tolist()), tuple((std / 255).tolist())


def translate(x: Tensor, pixels: int) -> Tensor:
    """Shift each image by its own (dy, dx) in [-pixels, pixels], zero fill: pad once, gather each crop."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pixels, pixels, pixels, pixels))
    offset = torch.randint(0, 2 * pixels + 1, (2, b, 1), device=x.device)
    rows = torch.arange(h, device=x.device) + offset[0]  # (B, H) rows of the padded image
    cols = torch.arange(w, device=x.device) + offset[1]  # (B, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    # Advanced indices split by the channel slice put their broadcast dims first: (B, H, W, C).
    return padded[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


def flip(x: Tensor) -> Tensor:
    """Mirror each image left-right with probability 0.5."""
    chosen = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(chosen[:, None, None, None], x.flip(-1), x)


def to_grey(x: Tensor) -> Tensor:
    """RGB (..., 3, H, W) -> grey (..., 1, H, W) with PIL's "L" weights; any leading dims, any float dtype."""
    return torch.einsum("...chw,c->...hw", x, x.new_tensor(LUMA)).unsqueeze(-3)


def adapt(x: Tensor, model: Shape) -> Tensor:
    """Float (B, C, H, W) to the model's channels and size; RGB->grey before resizing, grey->RGB after (cheaper)."""
    if x.shape[1] == 3 and model[0] == 1:
        x = to_grey(x)
    if tuple(x.shape[-2:]) != model[1:]:
        x = F.interpolate(x, size=model[1:], mode="bilinear", align_corners=False, antialias=True)
    if x.shape[1] == 1 and model[0] == 3:
        x = x.expand(-1, 3, -1, -1).contiguous()
    return x


class BatchTransform:
    """uint8 batch -> normalised float batch of the model's shape; `train` switches augmentation on."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], model: Shape, augment: Augment) -> None:
        self.mean, self.std = tuple(mean), tuple(std)
        # (x / 255 - mean) / std as one multiply-add per pixel.
        self.scale = torch.tensor([1 / (255 * s) for s in std]).view(-1, 1, 1)
        self.shift = torch.tensor([-m / s for m, s in zip(mean, std)]).view(-1, 1, 1)
        self.model, self.augment = model, augment

    def __call__(self, x: Tensor, train: bool) -> Tensor:
        if train and self.augment.translate:
            x = translate(x, self.augment.translate)
        if train and self.augment.flip:
            x = flip(x)
        if self.scale.device != x.device:  # moved once, on the first batch
            self.scale, self.shift = self.scale.to(x.device), self.shift.to(x.device)
        x = torch.addcmul(self.shift, x.float(), self.scale)
        return adapt(x, self.model)
