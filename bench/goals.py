"""Each row of the issue's table: what it measures and the goal it must meet, per device."""

from __future__ import annotations

from table import Goal

FIGURES = {
    "lenet_throughput": "LeNet5 training throughput, cnnexp vs a plain PyTorch loop over in-memory batches",
    "lenet_epoch": "LeNet5 epoch ({images} images), cnnexp vs the classic pipeline (torchvision MNIST reader + "
    "DataLoader, per-sample ToTensor/Normalize)",
    "startup": "start-up: command to first training step, minus the time to import torch, Lightning and Hydra",
    "memory": "peak memory (RSS) of a LeNet5 run on {images} images, cnnexp vs the plain loop",
    "alexnet": "AlexNet (torchvision layout, 224×224, bf16-mixed, channels_last) training throughput vs a plain "
    "loop over torchvision.models.alexnet, same GPU",
    "alexnet_absolute": "AlexNet training images/s on one H100 (absolute)",
    "epoch_absolute": "LeNet5 epoch of {images} embedded digits on one H100, in-memory path (absolute)",
}

CPU = {
    "lenet_throughput": Goal("≥ 0.95 on CPU", 0.95, at_least=True),
    "lenet_epoch": Goal("≥ 1.2× faster on CPU", 1.2, at_least=True),
    "startup": Goal("< 1 s", 1.0, at_least=False),
    "memory": Goal("≤ 1.1×", 1.1, at_least=False),
}
GPU = {
    "lenet_throughput": Goal("≥ 0.90 on GPU", 0.90, at_least=True),
    "lenet_epoch": Goal("≥ 5× faster on GPU", 5.0, at_least=True),
    "alexnet": Goal("≥ 0.97", 0.97, at_least=True),
    "alexnet_absolute": Goal("≥ 50,000 img/s", 50000.0, at_least=True),
    "epoch_absolute": Goal("< 0.3 s", 0.3, at_least=False),
}


def figure(key: str, images: int) -> str:
    return FIGURES[key].format(images=f"{images:,}")
