"""Folder names from any value, and overrides quoted so that Hydra and a shell read back exactly the value."""

from __future__ import annotations

import shlex

from hydra.core.override_parser.overrides_parser import OverridesParser
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from cnnexp.rundir.names import JOB_LIMIT, command, job_folder, override, safe_name, without

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
