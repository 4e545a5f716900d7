"""conf/logger: the Lightning logger a run writes to (TensorBoard by default), its schema and typed value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytorch_lightning.loggers import TensorBoardLogger

from cnnexp.train.instantiate import Target, read_target, signature_schema


def logger_schemas() -> dict[str, type]:
    return {"logger_tensorboard": signature_schema(TensorBoardLogger, "TensorBoardConf")}


def read_logger(raw: Mapping[str, Any] | None) -> Target | None:
    """None when the run logs nowhere (an empty logger group)."""
    return read_target(raw, "logger") if raw else None
