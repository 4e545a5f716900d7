"""The callback that writes the run's record into every checkpoint the Trainer saves, and into run.json.

The data facts (class names, the mean/std used) exist only once the data module is set up, which Lightning
does before it sets up the callbacks; so the record is made in `setup`, once per fit or test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from cnnexp.checkpoint.record import KEY, DataFacts, make_record
from cnnexp.data.module import ImageDataModule
from cnnexp.run import Run
from cnnexp.rundir.files import write_json

RUN_FILE = "run.json"


class RecordRun(pl.Callback):
    """Puts `Record.to_dict()` under checkpoint["cnnexp"]; writes it to <run folder>/run.json on rank 0."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.record: dict[str, Any] | None = None  # Record.to_dict(), made once

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        facts = data_facts(trainer.datamodule)  # type: ignore[attr-defined]  # set by Lightning's data connector
        if facts is None:
            return  # data of another kind (a test's own loaders): nothing to describe
        self.record = make_record(self.run, facts, self.run.invocation.overrides).to_dict()
        if trainer.is_global_zero:
            write_json(Path(self.run.output_dir) / RUN_FILE, self.record)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self.record is not None:
            checkpoint[KEY] = self.record


def data_facts(datamodule: Any) -> DataFacts | None:
    """What a set-up ImageDataModule feeds the network: its classes, normalisation and shapes."""
    if not isinstance(datamodule, ImageDataModule) or datamodule.transform is None:
        return None
    transform = datamodule.transform
    return DataFacts(
        name=datamodule.spec.name,
        shape=datamodule.spec.shape,
        model_input=datamodule.model_input,
        classes=tuple(datamodule.class_names),
        mean=transform.mean,
        std=transform.std,
    )
