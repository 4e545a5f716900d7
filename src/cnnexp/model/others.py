"""Operations the layer language does not have, by name, so that an unknown name that is one of them is said to
be that operation rather than corrected into a near spelling of another (`groupnorm` is not `batchnorm`).

The names are torch.nn's module classes (without their 1d/2d/3d), read from torch when a name is unknown.
"""

from __future__ import annotations

import functools
import re

# Operations of today's CNNs that torch.nn has no module for, written as the papers and libraries call them.
NOT_IN_TORCH_NN = {
    "dropblock": "DropBlock (Ghiasi et al. 2018)",
    "squeezeexcitation": "torchvision.ops.SqueezeExcitation (write it as a block ending in a gate: docs/layers.md)",
    "squeezeexcite": "squeeze-and-excitation (write it as a block ending in a gate: docs/layers.md)",
}


@functools.cache
def torch_operations() -> dict[str, str]:
    """'groupnorm' -> 'torch.nn.GroupNorm', for every nn.Module class torch.nn exports; lower case, no _ or -."""
    from torch import nn

    found: dict[str, str] = {}
    for name in dir(nn):
        cls = getattr(nn, name)
        if isinstance(cls, type) and issubclass(cls, nn.Module) and not name.startswith("_"):
            found.setdefault(re.sub(r"[123]d$", "", name).lower(), f"torch.nn.{name}")
    return {**found, **NOT_IN_TORCH_NN}
