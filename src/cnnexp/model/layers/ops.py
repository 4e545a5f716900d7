"""The nn.Modules of modern.py's layer types, written as torchvision writes them so that its weights give its
outputs: LayerNorm2d and the pointwise linear layer permute to channels-last as ConvNeXt does, the channel shuffle
is ShuffleNetV2's view-transpose-view, and drop path is torchvision's stochastic_depth in "row" mode. The modules
keep the plain names (DropPath, as the printed network shows them); a layer type of the same name is `DropPathLayer`."""

from __future__ import annotations

import torch
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channels of an N×C×H×W map (torchvision's convnext.LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)  # (N, H, W, C): normalise each position's C values
        x = nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class PointwiseLinear(nn.Linear):
    """nn.Linear over the channels at each position of an N×C×H×W map: (N, H, W, C) @ weight.T, back to N×C'×H×W."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Contiguous on both sides: torch's matmul and element-wise kernels (GELU) round differently on permuted
        # views than on contiguous memory, where torchvision's channels-last block computes; the copies (made only
        # when needed) keep its outputs to the last bit.
        return super().forward(x.permute(0, 2, 3, 1).contiguous()).permute(0, 3, 1, 2).contiguous()


class LayerScale(nn.Module):
    """x times a learned factor per channel, each starting at `init`: `weight` is C×1×1 on maps, (D,) on features."""

    def __init__(self, shape: tuple[int, ...], init: float) -> None:
        super().__init__()
        size = (shape[0], 1, 1) if len(shape) == 3 else (shape[0],)
        self.weight = nn.Parameter(torch.full(size, float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x


class DropPath(nn.Module):
    """In training, each image's input is zeroed with probability p and kept otherwise, scaled by 1/(1 − p)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.p)
        return x * keep.div_(1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p:g}"


class ChannelSplit(nn.Module):
    """The `part`-th of `parts` equal slices of dimension 1."""

    def __init__(self, parts: int, part: int) -> None:
        super().__init__()
        self.parts, self.part = parts, part

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.chunk(self.parts, dim=1)[self.part]

    def extra_repr(self) -> str:
        return f"parts={self.parts}, part={self.part}"


class ChannelShuffle(nn.Module):
    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2).contiguous()
        return x.view(n, c, h, w)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
