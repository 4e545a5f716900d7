"""`_target_` is honoured only in the groups that instantiate classes; anywhere else it is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from support import Cli, Compose

from cnnexp.errors import ConfigError
from cnnexp.train.targets import INSTANTIATE_GROUPS, check_targets


def test_the_shipped_configs_pass(compose_cfg: Compose) -> None:
    check_targets(compose_cfg())
    check_targets(compose_cfg("model=alexnet", "scheduler=onecycle", "optimizer=sgd"))


@pytest.mark.parametrize(
    ("tree", "key"),
    [
        ({"model": {"layers": {"conv1": {"type": "conv", "_target_": "os.system"}}}}, "model.layers.conv1._target_"),
        ({"data": {"_target_": "x"}}, "data._target_"),
        ({"trainer": {"plugins": [{"_target_": "x"}]}}, "trainer.plugins[0]._target_"),
        ({"loss": {"name": "mse", "_target_": "x"}}, "loss._target_"),
    ],
)
def test_a_target_outside_the_instantiate_groups_is_refused(tree: dict, key: str) -> None:
    with pytest.raises(ConfigError, match="^" + re.escape(f"{key} is not allowed: only optimizer, ")):
        check_targets(OmegaConf.create(tree))


def test_targets_in_instantiate_groups_and_hydra_are_left_alone() -> None:
    tree = {group: {"_target_": "x"} for group in INSTANTIATE_GROUPS}
    check_targets(OmegaConf.create({**tree, "hydra": {"callbacks": {"r": {"_target_": "y"}}}}))


def test_the_command_line_refuses_a_target_in_a_model_layer(cli: Cli, tmp_path: Path) -> None:
    code, err = cli("task=summary", "+model.layers.conv1._target_=os.system", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    assert err.startswith("cnnexp: error: model.layers.conv1._target_ is not allowed:")
    assert "Traceback" not in err
