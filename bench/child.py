"""The plain loop as a process of its own, for the peak-memory row: `python bench/child.py SPEC.json`.

It imports torch and cnnexp's torch-only modules (the layer builder, the digits cache reader) and nothing of
Lightning or Hydra, so its peak RSS is the floor a LeNet5 run on these images can reach: the interpreter,
torch, the dataset once as uint8 on the device, the model, its gradients and Adam's state.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from clocks import StepWindow
from cnnexp.data.digits import load_digits
from cnnexp.model.builder import build
from cnnexp.model.spec import parse_model
from peers import normaliser, plain_loop


def main(spec_path: str) -> None:
    """SPEC.json: {model: the composed model config, data_root, train_size, test_size, seed, batch, steps, lr, device}."""
    spec = json.loads(Path(spec_path).read_text())
    device = torch.device(spec["device"])
    splits = load_digits(Path(spec["data_root"]), spec["train_size"], spec["test_size"], spec["seed"])
    images, labels = splits["train"]  # the test split stays held too, as in cnnexp's run
    images, labels = images.unsqueeze(1).to(device), labels.to(device)  # (N, 1, 28, 28) uint8, as cnnexp holds it
    scaled = images[:1000].float().div_(255)
    mean, std = (scaled.mean().item(),), (scaled.std().item(),)  # a sample suffices: only the arithmetic matters here
    torch.manual_seed(spec["seed"])
    net = build(parse_model(spec["model"])).to(device)
    window = StepWindow(0, spec["steps"])
    plain_loop(net, images, labels, normaliser(mean, std, device), window, spec["batch"], spec["lr"], spec["seed"])


if __name__ == "__main__":
    main(sys.argv[1])
