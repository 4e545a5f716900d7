"""A composed config shrunk for the CPU: small digits, one short epoch, the run folder in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from conftest import Compose

TINY = (
    "data.train_size=700", "data.val_size=100", "data.test_size=200", "data.batch_size=50",
    "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "callbacks.progress=null",
)  # fmt: skip


@pytest.fixture
def tiny_cfg(compose_cfg: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., DictConfig]:
    """tiny_cfg("model=alexnet_small", ...): the real config, small and fast, writing under tmp_path."""
    monkeypatch.setenv("CNNEXP_DATA", str(tmp_path.parent / "data"))  # the rendered digits are shared by tests

    def make(*overrides: str, run: str = "run") -> DictConfig:
        return compose_cfg(*TINY, f"output_dir={tmp_path / run}", *overrides)

    return make
