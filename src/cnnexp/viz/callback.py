"""The `pictures` callback: kernels, feature maps, confusion matrix and mistakes, in TensorBoard every N epochs
and as PNG files in the run folder at the end of testing.

Costs on the training path: nothing per step. The curves come from the epoch figures the Classifier
keeps (train/module.py: `history`, saved in checkpoints). In a validation epoch that draws, a forward hook
keeps each batch's logits (no second forward pass) and `Mistakes` accumulates on the device; the drawing happens once, at the
epoch's end, on rank 0.

Under DDP each rank evaluates its own shard: the confusion counts are summed over ranks (all ranks reduce,
so every image is counted once), while the misclassified images shown are rank 0's only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from matplotlib.figure import Figure
from pytorch_lightning.loggers import TensorBoardLogger
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from cnnexp.data.module import ImageDataModule
from cnnexp.errors import ConfigError
from cnnexp.viz import pictures as pic
from cnnexp.viz.probe import Mistakes, feature_maps, first_conv


class Pictures(pl.Callback):
    """Draw what the network learned; see docs/pictures.md for every tag and file."""

    def __init__(
        self, every_n_epochs: int = 1, max_images: int = 32, max_maps: int = 64, png: bool = True,
        dirpath: str | None = None,
    ) -> None:  # fmt: skip
        """`every_n_epochs`: 0 logs nothing while training. `max_images`: misclassified images kept per pass.
        `max_maps`: channels drawn per feature-map grid. `png`: write the PNGs at the end of testing into
        `dirpath` (default: the Trainer's default_root_dir/pictures)."""
        for key, value in (("every_n_epochs", every_n_epochs), ("max_images", max_images), ("max_maps", max_maps)):
            if not isinstance(value, int) or value < 0:
                raise ConfigError(f"callbacks.pictures.{key} must be an integer ≥ 0, got {value!r}.")
        self.every_n_epochs, self.max_images, self.max_maps = every_n_epochs, max_images, max_maps
        self.png, self.dirpath = png, dirpath
        self._mistakes: Mistakes | None = None
        self._hook: RemovableHandle | None = None
        self._logits: list[Tensor] = []
        self._drawn_at: int | None = None  # global step whose kernels and feature maps TensorBoard has

    # -- validation every N epochs, and the test -------------------------------------------------------------

    def _drawing_epoch(self, trainer: pl.Trainer) -> bool:
        every = self.every_n_epochs
        if not every or trainer.sanity_checking or trainer.fast_dev_run:  # type: ignore[attr-defined]  # set by Lightning's init
            return False
        return (trainer.current_epoch + 1) % every == 0

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._drawing_epoch(trainer):
            self._start_pass(trainer, pl_module)

    def on_test_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.fast_dev_run:  # type: ignore[attr-defined]  # the smoke mode writes nothing but the run folder's config
            self._start_pass(trainer, pl_module)

    def _start_pass(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Counts made up front when the classes are known: a rank whose shard is empty still joins the sum.
        classes = len(_class_names(trainer)) or None
        self._mistakes, self._logits = Mistakes(self.max_images, classes, pl_module.device), []
        net = getattr(pl_module, "net", pl_module)
        self._hook = net.register_forward_hook(lambda module, inputs, output: self._logits.append(output))

    def on_validation_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        self._update(batch)

    def on_test_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        self._update(batch)

    def _update(self, batch: Any) -> None:
        if self._mistakes is not None and self._logits:
            images, labels = batch
            self._mistakes.update(images, labels, self._logits[-1])
            self._logits.clear()

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._mistakes is None:
            return
        mistakes, counts = self._end_pass(trainer)
        if trainer.is_global_zero:
            passed = self._pass_figures(trainer, mistakes, counts, "val")
            figures = {**self._network_figures(trainer, pl_module), **passed}
            self._log(trainer, _render(figures))
            self._drawn_at = trainer.global_step

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._mistakes is None:
            return
        mistakes, counts = self._end_pass(trainer)
        if not trainer.is_global_zero:
            return
        network = _render(self._network_figures(trainer, pl_module))
        tested = _render(self._pass_figures(trainer, mistakes, counts, "test"))
        # TensorBoard has this step's kernels and feature maps from the last validation; they differ from the
        # tested ones only when the best checkpoint is older, and the run folder's PNGs show the tested ones.
        self._log(trainer, tested if self._drawn_at == trainer.global_step else {**network, **tested})
        if self.png:
            self._write(trainer, {**network, **tested}, counts)

    def _end_pass(self, trainer: pl.Trainer) -> tuple[Mistakes, Tensor | None]:
        """Stop collecting: this pass's mistakes, and its confusion counts summed over ranks (every rank must
        call this)."""
        if self._hook is not None:
            self._hook.remove()
        mistakes = self._mistakes or Mistakes(0)
        self._mistakes, self._hook, self._logits = None, None, []
        counts = mistakes.counts
        if counts is not None and trainer.world_size > 1:
            counts = trainer.strategy.reduce(counts, reduce_op="sum")
        return mistakes, counts

    # -- figures ---------------------------------------------------------------------------------------------

    def _network_figures(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Figure]:
        """'kernels', and 'feature_maps/<layer>' for the fixed image ('feature_maps/input' is the image)."""
        net: nn.Module = getattr(pl_module, "net", pl_module)
        figures: dict[str, Figure] = {}
        first = first_conv(net)
        if first is not None:
            figures["kernels"] = pic.kernel_grid(first[1].weight, first[0])
        fixed = _fixed_image(trainer, pl_module.device)
        if fixed is not None:
            image, caption = fixed
            figures["feature_maps/input"] = pic.image_figure(image[0], caption)
            for name, maps in feature_maps(net, image).items():
                figures[f"feature_maps/{name}"] = pic.feature_map_grid(maps, name, self.max_maps)
        return figures

    def _pass_figures(
        self, trainer: pl.Trainer, mistakes: Mistakes, counts: Tensor | None, stage: str
    ) -> dict[str, Figure]:
        if counts is None:  # no batch in this pass
            return {}
        names = _class_names(trainer)
        figures = {f"confusion_matrix/{stage}": pic.confusion_figure(counts, names, f"{stage} set")}
        if self.max_images:
            images, true, pred = mistakes.misclassified()
            figures[f"misclassified/{stage}"] = pic.misclassified_figure(images, true, pred, names, f"{stage} set")
        return figures

    def _log(self, trainer: pl.Trainer, images: dict[str, np.ndarray]) -> None:
        writer = next((lg.experiment for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if writer is None:
            return
        for key, image in images.items():
            writer.add_image(f"pictures/{key}", image, trainer.global_step, dataformats="HWC")

    def _write(self, trainer: pl.Trainer, images: dict[str, np.ndarray], counts: Tensor | None) -> None:
        folder = Path(self.dirpath) if self.dirpath else Path(trainer.default_root_dir) / "pictures"
        for key, image in images.items():
            # feature_maps/conv1 -> feature_maps_conv1.png; confusion_matrix/test -> confusion_matrix.png
            pic.save_png(image, folder / f"{key.removesuffix('/test').replace('/', '_').replace('.', '_')}.png")
        history = getattr(trainer.lightning_module, "history", None)  # Classifier's epoch figures
        if history:
            pic.save_png(pic.curves_figure(history), folder / "curves.png")
        if counts is not None:
            names = _class_names(trainer)
            table = {"rows": "true", "columns": "predicted", "classes": names, "counts": counts.tolist()}
            (folder / "confusion_matrix.json").write_text(json.dumps(table) + "\n")


def _render(figures: dict[str, Figure]) -> dict[str, np.ndarray]:
    return {key: pic.to_array(fig) for key, fig in figures.items()}


def _class_names(trainer: pl.Trainer) -> list[str]:
    datamodule = getattr(trainer, "datamodule", None)
    return list(datamodule.class_names) if isinstance(datamodule, ImageDataModule) else []


def _fixed_image(trainer: pl.Trainer, device: torch.device) -> tuple[Tensor, str] | None:
    """The first validation image (the first test image without validation) as the model sees it
    (1, C, H, W), with a caption naming its split and class."""
    datamodule = getattr(trainer, "datamodule", None)
    if not isinstance(datamodule, ImageDataModule) or datamodule.transform is None:
        return None
    stage = next((s for s in ("val", "test") if datamodule.count(s)), None)
    if stage is None:
        return None
    raw, label = datamodule.sample(stage, 0)
    caption = f"input: {stage} image 0, class {_name(datamodule.class_names, label)}"
    return datamodule.as_model_input(raw, device), caption


def _name(names: list[str], index: int) -> str:
    return names[index] if index < len(names) else str(index)
