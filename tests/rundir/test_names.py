"""Folder names from any value, and overrides quoted so that Hydra and a shell read back exactly the value."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch
from hydra import compose
from hydra.core.override_parser.overrides_parser import OverridesParser
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from support import Compose

from cnnexp.cli.resolvers import register_resolvers, run_model
from cnnexp.rundir.names import (
    JOB_LIMIT,
    command,
    job_folder,
    override,
    safe_name,
    without,
)

PARSER = OverridesParser.create()


def test_a_name_is_one_safe_path_component() -> None:
    assert safe_name("lenet5") == "lenet5"
    assert safe_name("../../etc") == "etc"
    assert safe_name("a/b\\c d'e\"f") == "a-b-c-d-e-f"
    assert safe_name("...") == "run" and safe_name("") == "run"
    assert safe_name(".hidden") == "hidden"


def test_a_long_name_is_cut_and_keeps_a_hash_of_the_whole() -> None:
    first, second = safe_name("x" * 100 + "a"), safe_name("x" * 100 + "b")
    assert len(first) == 40 and first.startswith("x" * 33) and first != second


def test_a_job_folder_is_its_number_then_a_short_tag() -> None:
    assert job_folder(3, "model=lenet5,seed=1") == "003_model=lenet5,seed=1"
    assert job_folder(12, "") == "012"
    nested = job_folder(0, "data.root=/tmp/a/b/c/d")
    assert nested == "000_data.root=-tmp-a-b-c-d" and "/" not in nested
    many = job_folder(7, ",".join(f"model.layers.conv{i}.out={i * 100}" for i in range(16)))
    assert len(many) == 4 + JOB_LIMIT and many.startswith("007_model.layers.conv0.out=0,")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_value_survives_hydra_and_the_shell(value: str) -> None:
    assume(value != "???")  # OmegaConf's mark for a missing value, whatever the quoting
    argument = override("k", value)
    (back,) = shlex.split(command([argument]))[3:]
    assert back == argument
    parsed = PARSER.parse_override(argument).value()
    assert OmegaConf.create({"k": parsed}).k == value


def test_plain_values_stay_readable() -> None:
    assert override("ckpt_path", "/runs/a/checkpoints/last.ckpt") == "ckpt_path=/runs/a/checkpoints/last.ckpt"
    assert override("hydra.run.dir", "/s/003_seed=1,lr=0.1") == 'hydra.run.dir="/s/003_seed=1,lr=0.1"'
    assert override("x", "12") == 'x="12"' and override("x", "true") == 'x="true"'  # still strings
    assert command(['hydra.run.dir="/s/a=1"']) == "python -m cnnexp 'hydra.run.dir=\"/s/a=1\"'"


def test_without_drops_a_key_in_any_spelling() -> None:
    args = ["-m", "seed=1,2", "+skip_completed=true", "hydra.sweep.dir=/x", "model=lenet5"]
    assert without(args, "skip_completed", "hydra.sweep.dir") == ["-m", "seed=1,2", "model=lenet5"]


class Pickled:
    """Not plain data: a checkpoint that holds it needs code to load, and is never read for its name."""


def record_of(model: object) -> dict:
    return {"state_dict": {"net.w": torch.zeros(2)}, "cnnexp": {"run": {"model": {"name": model}}}}


@pytest.fixture
def checkpoints(tmp_path: Path) -> dict[str, Path]:
    files = {
        "alexnet": record_of("alexnet_small"), "odd": record_of("../my net"), "no_name": record_of(7),
        "no_record": {"state_dict": {}}, "code": {"cnnexp": Pickled()},
    }  # fmt: skip
    for name, content in files.items():
        torch.save(content, tmp_path / f"{name}.ckpt")
    (tmp_path / "broken.ckpt").write_bytes(b"PK not a checkpoint")
    return {name: tmp_path / f"{name}.ckpt" for name in [*files, "broken", "missing"]}


def test_a_run_that_reads_its_model_from_a_checkpoint_is_named_after_it(checkpoints: dict[str, Path]) -> None:
    for task in ("test", "predict", "export"):
        assert run_model("lenet5", task, str(checkpoints["alexnet"])) == "alexnet_small"
    assert run_model("lenet5", "export", str(checkpoints["odd"])) == "my-net"  # the record's name is data: made safe
    assert run_model("lenet5", "train", str(checkpoints["alexnet"])) == "lenet5"  # resuming: the config's model
    assert run_model("lenet5", "test", None) == "lenet5"
    for other in ("no_name", "no_record", "code", "broken", "missing"):  # the task says what is wrong with the file
        assert run_model("lenet5", "test", str(checkpoints[other])) == "lenet5", other


def test_the_run_folder_hydra_makes_carries_the_checkpoints_model(
    compose_cfg: Compose, checkpoints: dict[str, Path]
) -> None:
    register_resolvers()  # as the command line does before Hydra names the folder (configdirs.py)

    def run_dir(*overrides: str) -> str:
        return str(compose(config_name="config", overrides=list(overrides), return_hydra_config=True).hydra.run.dir)

    folder = r"outputs/runs/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_%s_[0-9a-f]{6}"
    assert re.fullmatch(folder % "alexnet_small", run_dir("task=predict", f"ckpt_path={checkpoints['alexnet']}"))
    assert re.fullmatch(folder % "lenet5", run_dir("task=train", f"ckpt_path={checkpoints['alexnet']}"))
    assert re.fullmatch(
        folder % "alexnet_small", run_dir("task=test", f"ckpt_path='{checkpoints['alexnet']}'", "model=resnet18")
    )
