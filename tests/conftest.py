"""Shared fixtures: the real conf/ composed with hydra.compose, as the command line would compose it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from cnnexp.schemas import register_schemas

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
MODEL_NAMES = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))

Compose = Callable[..., DictConfig]


@pytest.fixture(scope="session")
def compose_cfg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    """compose_cfg("model=alexnet", ...) -> the composed config, as `python -m cnnexp ...` would see it.

    Outside a Hydra run there is no hydra.runtime.output_dir for `output_dir` to follow: a session folder
    stands in (an `output_dir=` override given to `run` wins)."""
    register_schemas()
    scratch = tmp_path_factory.mktemp("composed")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):

        def run(*overrides: str) -> DictConfig:
            return compose(config_name="config", overrides=[f"output_dir={scratch}", *overrides])

        yield run


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


@pytest.fixture
def typed(compose_cfg: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., DictConfig]]:
    """typed("task=test", ...): the tiny config as `python -m cnnexp ...` composes it, with Hydra's record of the
    overrides (HydraConfig.get().overrides.task) set, as tasks that start from a checkpoint read it in a real run."""
    monkeypatch.setenv("CNNEXP_DATA", str(tmp_path.parent / "data"))

    def make(*overrides: str, run: str = "run") -> DictConfig:
        cfg = compose(config_name="config", overrides=[*TINY, f"output_dir={tmp_path / run}", *overrides], return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            del cfg["hydra"]
        return cfg

    yield make
    HydraConfig.instance().cfg = None


@dataclass(frozen=True)
class Trained:
    checkpoint: Path  # the best checkpoint, the one the run tested
    folder: Path
    metrics: dict


@pytest.fixture(scope="session")
def trained(compose_cfg: Compose, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """LeNet5 with tanh (the YAML says relu, so a test that ignores the record gets another network), trained one
    tiny epoch, once per session: what the checkpoint tests start from."""
    from cnnexp.tasks import run_task

    base = tmp_path_factory.getbasetemp()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNEXP_DATA", str(base / "data"))  # the folder tiny_cfg and typed use too
        cfg = compose_cfg(*TINY, f"output_dir={base / 'trained'}", "model.activation=tanh")
        run_task(cfg)
    metrics = json.loads((base / "trained" / "metrics.json").read_text())
    return Trained(Path(metrics["checkpoint"]), base / "trained", metrics)
