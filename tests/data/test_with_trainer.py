"""The data module under a real Lightning Trainer (CPU): hooks called, epochs read, batches transformed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from torch import nn

from cnnexp.data.batches import Shard, train_order
from cnnexp.data.module import ImageDataModule
from cnnexp.data.spec import DataSpec


class Recorder(pl.LightningModule):
    """A linear classifier that keeps what each step received."""

    def __init__(self, inputs: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(inputs, 10))
        self.train_labels: list[list[int]] = []
        self.inputs: dict[str, torch.Tensor] = {}

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        if batch_idx == 0:
            self.train_labels.append([])
        self.train_labels[-1].extend(y.tolist())
        self.inputs["train"] = x
        return nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.inputs["val"] = batch[0]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def quiet_trainer(**settings: Any) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, use_distributed_sampler=False, num_sanity_val_steps=0, **settings,
    )  # fmt: skip


def test_fit_reads_the_epoch_and_transforms_each_batch(spec_for: Callable[..., DataSpec]) -> None:
    spec = spec_for(train_size=100, val_size=20, test_size=20, augment={"translate": 2, "flip": False}, adapt=True)
    dm = ImageDataModule(spec, (3, 32, 32))
    model = Recorder(3 * 32 * 32)
    quiet_trainer(max_epochs=2).fit(model, datamodule=dm)
    labels = dm.parts["train"].labels
    assert len(model.train_labels) == 2
    for epoch, got in enumerate(model.train_labels):
        assert got == labels[train_order(80, spec.seed, epoch, Shard())].tolist()
    assert model.inputs["train"].shape[1:] == (3, 32, 32) and model.inputs["train"].dtype == torch.float32
    assert model.inputs["val"].shape[1:] == (3, 32, 32)


def test_streamed_loader_gets_each_epoch_from_lightning(tmp_path: Path) -> None:
    """Lightning calls set_epoch on the DistributedSampler, so the streamed order follows (seed, epoch) too."""
    root = tmp_path / "images"
    for split, count in (("train", 12), ("test", 2)):
        for label in ("a", "b"):
            (root / split / label).mkdir(parents=True)
            for k in range(count):
                Image.new("L", (9, 7), color=k).save(root / split / label / f"{k}.png")
    spec = DataSpec(
        name="image_folder", root=root, channels=1, height=8, width=8, num_classes=2, batch_size=4, val_size=4,
        in_memory=False, num_workers=0,
    )  # fmt: skip
    dm = ImageDataModule(spec, (1, 8, 8))
    model = Recorder(64)
    quiet_trainer(max_epochs=2).fit(model, datamodule=dm)
    sampler = dm.train_dataloader().sampler
    expected = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        expected.append([dm.parts["train"].dataset.targets[dm.parts["train"].indices[i]] for i in sampler])
    assert model.train_labels == expected and expected[0] != expected[1]


class SeesRawBatches(Recorder):
    """Overrides one transfer hook the data module leaves alone: Lightning must keep calling the model's."""

    def __init__(self, inputs: int) -> None:
        super().__init__(inputs)
        self.raw_dtypes: set[torch.dtype] = set()

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        self.raw_dtypes.add(batch[0].dtype)
        return batch


def test_the_hook_choice_is_remembered_and_is_lightnings(spec_for: Callable[..., DataSpec]) -> None:
    from pytorch_lightning.trainer.connectors.data_connector import _DataHookSelector

    from cnnexp.data.module import RememberedHookChoice

    dm = ImageDataModule(spec_for(train_size=40, val_size=10, test_size=10), (3, 32, 32))
    model = SeesRawBatches(3 * 32 * 32)
    trainer = quiet_trainer(max_epochs=1)
    with pytest.warns(UserWarning, match="overridden `on_before_batch_transfer` in `LightningModule`"):
        trainer.fit(model, datamodule=dm)  # Lightning says which one it uses, as it does without cnnexp
    selector = trainer._data_connector._datahook_selector
    assert isinstance(selector, RememberedHookChoice)
    fresh = _DataHookSelector(model, dm)
    hooks = ("on_before_batch_transfer", "transfer_batch_to_device", "on_after_batch_transfer")
    assert set(selector.chosen) == set(hooks)
    assert [selector.chosen[h] for h in hooks] == [fresh.get_instance(h) for h in hooks] == [model, model, dm]
    assert model.raw_dtypes == {torch.uint8}  # the model's hook saw every batch before the data module's
    assert model.inputs["train"].dtype == torch.float32  # ... and the data module's normalised them after
