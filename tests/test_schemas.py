"""The schemas: the generated file of library schemas matches the installed libraries, and is what Hydra gets."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from omegaconf import MISSING, OmegaConf

from cnnexp.config.groups import schema_of
from cnnexp.data.spec import DataSpec
from cnnexp.schemas import from_fields, installed_versions, library, library_schemas, to_fields
from cnnexp.schemas.generate import LIBRARY, live_schemas, source
from cnnexp.viz.schema import KernelsSpec


def test_the_generated_file_matches_the_installed_libraries() -> None:
    assert LIBRARY.read_text() == source(), "schemas/library.py is stale: run python -m cnnexp.schemas.generate"


def test_the_file_was_made_from_the_installed_versions() -> None:
    assert library.VERSIONS == installed_versions()


def test_library_schemas_equal_the_live_ones_field_by_field() -> None:
    stored, live = library_schemas(), live_schemas()
    assert sorted(stored) == sorted(live)
    for key in live:
        assert to_fields(stored[key]) == to_fields(live[key]), key
        assert stored[key].__name__ == live[key].__name__


def test_every_schema_a_preset_names_exists() -> None:
    names = set(library.SCHEMAS) | {"model", "data", "kernels"}
    assert {"trainer", "loss", "optimizer_adam", "scheduler_step", "callback_model_checkpoint", "logger_csv"} <= names
    assert "callbacks" not in names, "callbacks is an open set: no closed schema for the whole group"


def test_other_library_versions_derive_the_schemas_from_the_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(library, "VERSIONS", {"torch": "0.0", "pytorch-lightning": "0.0"})
    assert sorted(library_schemas()) == sorted(library.SCHEMAS)  # live: the same keys, built from the classes


def test_fields_round_trip_with_types_defaults_and_lists() -> None:
    @dataclasses.dataclass
    class Made:
        _target_: str = "x.Y"
        gpus: int | None = None
        betas: Any = dataclasses.field(default_factory=lambda: [0.9, 0.999])
        lr: Any = MISSING

    fields = to_fields(Made)
    assert fields == [
        ("_target_", "str", "x.Y"),
        ("gpus", "Optional[int]", None),
        ("betas", "Any", [0.9, 0.999]),
        ("lr", "Any", "???"),
    ]
    rebuilt = from_fields("MadeConf", fields)
    assert to_fields(rebuilt) == fields
    node = OmegaConf.structured(rebuilt)
    assert OmegaConf.is_missing(node, "lr") and node.betas == [0.9, 0.999]
    with pytest.raises(Exception, match="gpus"):
        OmegaConf.merge(node, {"gpus": "two"})  # typed: a misspelled value fails as it did before


def test_a_type_without_a_name_is_refused_at_generation() -> None:
    @dataclasses.dataclass
    class Odd:
        when: dict = dataclasses.field(default_factory=dict)

    with pytest.raises(TypeError, match="Odd.when: type <class 'dict'> has no name"):
        to_fields(Odd)


def test_schemas_sent_to_a_launchers_workers_and_back_stay_usable() -> None:
    # A joblib sweep's results come back through cloudpickle, which writes the worker's copy of each schema class
    # (made at run time, so sent by value) over this process's class: the next compose here must still work.
    cloudpickle = pytest.importorskip("cloudpickle")
    classes = [schema_of(DataSpec), schema_of(KernelsSpec), *library_schemas().values()]
    for cls in classes:
        assert cloudpickle.loads(cloudpickle.dumps(cls)) is cls  # the same class, its state written over
    for cls in classes:
        OmegaConf.structured(cls)  # raised ValidationError when "no default" stopped being dataclasses.MISSING
