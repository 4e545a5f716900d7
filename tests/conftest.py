"""Shared fixtures: the real conf/ composed with hydra.compose, as the command line would compose it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from cnnexp.schemas import register_schemas

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
MODEL_NAMES = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))

Compose = Callable[..., DictConfig]


@pytest.fixture(scope="session")
def compose_cfg() -> Iterator[Compose]:
    """compose_cfg("model=alexnet", ...) -> the composed config, as `python -m cnnexp ...` would see it."""
    register_schemas()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):

        def run(*overrides: str) -> DictConfig:
            return compose(config_name="config", overrides=list(overrides))

        yield run
