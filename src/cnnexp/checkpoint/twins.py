"""Models with a torchvision twin, and `init_from=torchvision`: torchvision's ImageNet weights under our names.

A twin is the same network in torchvision. Its state dict is paired with ours by name when the model YAML uses
torchvision's names, or else position by position (alexnet_torchvision declares its layers in torchvision's
order: features.0 is conv1, classifier.6 is fc8). The file comes from torch's hub cache, downloaded once where
the network allows; offline, the error names the file to place there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError
from urllib.parse import urlparse

import torch
import torchvision
from torch import Tensor

from cnnexp import CONF_DIR
from cnnexp.config.registry import Registry
from cnnexp.errors import ConfigError

TORCHVISION = "torchvision"  # init_from=torchvision
# torchvision's ImageNet normalisation, which its weights expect (a hint in the docs and the load report).
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Twin:
    model: str  # the torchvision.models builder: "alexnet"
    weights: str  # its weights entry: "AlexNet_Weights.IMAGENET1K_V1"

    @property
    def url(self) -> str:
        enum, entry = self.weights.split(".")
        return getattr(getattr(torchvision.models, enum), entry).url

    @property
    def cached(self) -> Path:
        """Where torch.hub keeps (and looks for) the file: $TORCH_HOME/hub/checkpoints/<its name>."""
        return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(self.url).path)


TWINS: Registry[Twin] = Registry("model with a torchvision twin")
TWINS.add("alexnet_torchvision", Twin("alexnet", "AlexNet_Weights.IMAGENET1K_V1"))
TWINS.add(
    "resnet18", Twin("resnet18", "ResNet18_Weights.IMAGENET1K_V1")
)  # conf/model/resnet18.yaml: torchvision's names
TWINS.add("efficientnet_b0", Twin("efficientnet_b0", "EfficientNet_B0_Weights.IMAGENET1K_V1"))
TWINS.add("convnext_tiny", Twin("convnext_tiny", "ConvNeXt_Tiny_Weights.IMAGENET1K_V1"))


def torchvision_weights(model: str, ours: Sequence[str]) -> dict[str, Tensor]:
    """The twin's ImageNet weights, keyed by `ours` (this network's state-dict names)."""
    if model not in TWINS:
        shipped = [name for name in TWINS.names() if (CONF_DIR / "model" / f"{name}.yaml").is_file()]
        raise ConfigError(
            f"init_from=torchvision: model={model} has no torchvision twin whose weights cnnexp can load; models that "
            f"have one: {', '.join(shipped)}. For other models, init_from takes a checkpoint file."
        )
    # A parameter a torchvision module holds itself (ConvNeXt's features.1.0.layer_scale) is a layer's `weight` here.
    theirs = {name if name in ours or f"{name}.weight" not in ours else f"{name}.weight": t
              for name, t in _state(TWINS.get(model, "model"), model).items()}  # fmt: skip
    if set(theirs) <= set(ours):
        return theirs
    if len(theirs) != len(ours):
        raise ConfigError(
            f"init_from=torchvision: model={model} has {len(ours)} tensors but torchvision's twin {len(theirs)}, and "
            f"their names differ; the model's YAML no longer follows torchvision's layout."
        )
    return dict(zip(ours, theirs.values()))


def _state(twin: Twin, model: str) -> dict[str, Tensor]:
    file = twin.cached
    try:
        return torch.hub.load_state_dict_from_url(twin.url, map_location="cpu", check_hash=True, weights_only=True)
    except (URLError, OSError, RuntimeError, ValueError) as err:
        reason = " ".join(str(err).split())[:200]
        if file.is_file():
            raise ConfigError(
                f"init_from=torchvision: {file} does not load ({reason}); delete it to download it again, or put a "
                f"complete copy of {twin.url} there."
            ) from None
        raise ConfigError(
            f"init_from=torchvision: torchvision's ImageNet weights for model={model} ({twin.weights}) are not in "
            f"torch's hub cache and could not be downloaded ({reason}). On a machine with network, download "
            f"{twin.url} and place it at {file} (the folder follows TORCH_HOME); then run again."
        ) from None
