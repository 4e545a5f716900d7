"""The compose_cfg fixture composes each set of overrides once and hands out copies: each copy must be what Hydra
composes for the same overrides, output_dir included, and no test's change may reach another's copy."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose
from omegaconf import OmegaConf
from support import Compose

from cnnexp.cli.configdirs import command_line

CASES = [(), ("model=alexnet", "trainer.max_epochs=2"), ("callbacks=null", "data=cifar10"), ("optimizer=sgd",)]


@pytest.mark.parametrize("overrides", CASES)
def test_a_copy_is_what_hydra_composes(compose_cfg: Compose, tmp_path: Path, overrides: tuple[str, ...]) -> None:
    compose_cfg(*overrides, f"output_dir={tmp_path / 'first'}")  # composed and kept
    kept = compose_cfg(*overrides, f"output_dir={tmp_path / 'second'}")
    fresh = compose(config_name="config", overrides=[*command_line(overrides), f"output_dir={tmp_path / 'second'}"])
    assert OmegaConf.to_container(kept, resolve=True) == OmegaConf.to_container(fresh, resolve=True)
    assert not kept.get("callbacks") or kept.callbacks.checkpoint.dirpath == f"{tmp_path / 'second'}/checkpoints"


def test_a_change_to_one_copy_stays_in_it(compose_cfg: Compose, tmp_path: Path) -> None:
    first = compose_cfg(f"output_dir={tmp_path}")
    first.trainer.max_epochs = 99
    assert compose_cfg(f"output_dir={tmp_path}").trainer.max_epochs != 99


@pytest.mark.parametrize("given", ["'/tmp/a b'", "/tmp/a b", "${oc.env:HOME}/runs", "null"])
def test_an_output_dir_is_read_as_hydra_reads_the_override(compose_cfg: Compose, given: str) -> None:
    fresh = compose(config_name="config", overrides=[f"output_dir={given}"])
    assert compose_cfg(f"output_dir={given}").output_dir == fresh.output_dir
