"""Structured-config schema of conf/data: a misspelled data key fails at compose time.

The defaults here are also the defaults of `parse_data` (data/spec.py), so a key has one default in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import MISSING


@dataclass
class AugmentConf:
    translate: int = 0
    flip: bool = False


@dataclass
class DataConf:
    name: str = MISSING
    root: str = MISSING
    channels: int = MISSING
    height: int = MISSING
    width: int = MISSING
    num_classes: int | None = MISSING
    batch_size: int = 128
    val_size: int = 5000
    train_size: int | None = None
    test_size: int | None = None
    seed: int = 0
    mean: list[float] | None = None
    std: list[float] | None = None
    adapt: bool = False
    augment: AugmentConf = field(default_factory=AugmentConf)
    download: bool = True
    num_workers: int = 2
    in_memory: bool = True
