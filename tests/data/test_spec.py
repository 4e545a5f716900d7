"""conf/data files against the schema and read_data; every mistake in a data key is a ConfigError naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from cnnexp.config.groups import schema_of
from cnnexp.data.sources import SOURCES, resolve_data
from cnnexp.data.spec import SOURCE_KEYS, DataSpec, read_data
from cnnexp.data.split import Source, Tensors, split
from cnnexp.errors import ConfigError

DataConf = schema_of(DataSpec)  # the schema Hydra checks conf/data files against
SHARED_KEYS = set(DataSpec.__dataclass_fields__) - set(SOURCE_KEYS)  # every source reads these


def parse_data(raw: dict[str, Any]) -> DataSpec:
    """As the run reads it: the typed group, then what its source decides."""
    return resolve_data(read_data(raw))


CONF = Path(__file__).resolve().parents[2] / "conf" / "data"
DATA_FILES = sorted(CONF.glob("*.yaml"))


def plain(path: Path, **changes: Any) -> dict[str, Any]:
    """A conf/data file merged into its schema and resolved, as the entry point hands it to read_data."""
    raw = OmegaConf.load(path)
    raw.pop("defaults")
    merged = OmegaConf.merge(OmegaConf.structured(DataConf), raw, changes)
    return OmegaConf.to_container(merged, resolve=True)  # type: ignore[return-value]


def test_there_is_a_file_per_source() -> None:
    assert sorted(p.stem for p in DATA_FILES) == sorted(SOURCES.names())


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.stem)
def test_every_data_file_parses(path: Path) -> None:
    text = path.read_text()
    assert text.splitlines()[0].startswith("#") and "defaults:\n  - /schema/data@_here_\n  - _self_" in text
    raw = OmegaConf.load(path)
    own = set(SOURCES.get(path.stem, "test").keys)
    assert set(raw) - {"defaults"} == SHARED_KEYS | own, "every conf/data file states every key its source reads"
    root = {"root": "/images", "num_classes": 3} if path.stem in ("image_folder", "csv", "hf") else {}
    spec = parse_data(plain(path, **root))
    # Whatever a set's size, a tenth of its train split is held out for validation: most of it trains.
    assert spec.name == path.stem and spec.batch_size == 128 and spec.val_size == 0.1
    assert spec.in_memory is (path.stem not in ("image_folder", "csv", "hf"))
    assert all(getattr(spec, key) is None for key in set(SOURCE_KEYS) - own), "the keys of other sources are null"


@pytest.mark.parametrize("name", ["digits", "mnist", "fashion_mnist", "cifar10"])
@pytest.mark.parametrize(("train_size", "held_out"), [(6000, (5400, 600)), (600, (540, 60)), (None, None)])
def test_a_tenth_of_any_train_size_is_held_out_for_validation(
    name: str, train_size: int | None, held_out: tuple[int, int] | None
) -> None:
    spec = parse_data(plain(CONF / f"{name}.yaml", train_size=train_size, test_size=10))
    available = 60000 if name != "cifar10" else 50000
    fake = Tensors(torch.zeros(available, 1, 1, 1, dtype=torch.uint8), torch.zeros(available, dtype=torch.int64))
    parts = split(Source(train=fake, test=fake, classes=["0"]), spec)
    expected = held_out or (available * 9 // 10, available // 10)  # null: all of them
    assert (len(parts["train"]), len(parts["val"]), len(parts["test"])) == (*expected, 10)


def test_root_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CNNEXP_DATA", str(tmp_path))
    assert parse_data(plain(CONF / "mnist.yaml")).root == tmp_path
    monkeypatch.delenv("CNNEXP_DATA")
    assert parse_data(plain(CONF / "mnist.yaml")).root == Path.cwd() / "data"


def test_cifar_augments_by_default() -> None:
    spec = parse_data(plain(CONF / "cifar10.yaml"))
    assert (spec.augment.translate, spec.augment.flip, spec.shape) == (4, True, (3, 32, 32))


def test_schema_refuses_a_misspelled_key() -> None:
    with pytest.raises(Exception, match="bach_size"):
        OmegaConf.merge(OmegaConf.structured(DataConf), {"bach_size": 3})


BAD = [
    ({"batch_size": 0}, r"data\.batch_size must be at least 1, got 0"),
    ({"val_size": -1}, r"data\.val_size must be at least 0, got -1"),
    ({"train_size": 0}, r"data\.train_size must be at least 1"),
    (
        {"val_size": 1.5},
        r"data\.val_size must be a number of images \(a whole number\) or a share of the split between 0 and 1 \(e\.g\. 0\.1 for 10%\), got 1\.5",
    ),
    ({"test_size": 1e3}, r"data\.test_size must be a number of images \(a whole number\) or a share .* got 1000\.0"),
    (
        {"name": "digits", "train_size": 0.5},
        r"data\.train_size=0\.5: data=digits renders whole numbers of images; give one, e\.g\. data\.train_size=6000",
    ),
    # Known before the digits are rendered, so said before (a first rendering takes tens of seconds):
    (
        {"name": "digits", "train_size": 1000, "val_size": 5000},
        r"data\.val_size=5000 leaves no training images of the 1000 in the train split; set data\.val_size below 1000, or a share such as 0\.1",
    ),
    (
        {"name": "digits", "train_size": 1000, "val_size": 0.9999},
        r"data\.val_size=0\.9999 leaves no training images of the 1000 in the train split",
    ),
    (
        {"name": "digits", "train_size": None, "val_size": 60000},
        r"data\.val_size=60000 leaves no training images of the 60000 in the train split",
    ),
    ({"num_workers": True}, r"data\.num_workers must be an integer"),
    ({"adapt": "yes"}, r"data\.adapt must be true or false"),
    ({"name": "mnst"}, r"data\.name: unknown data source 'mnst'\. Did you mean 'mnist'\?"),
    ({"mean": [0.5, 0.5]}, r"data\.mean must be null or a list of 1 number"),
    ({"std": [0]}, r"data\.std\[0\] must be at least 1e-06, got 0"),
    ({"augment": {"translate": 28}}, r"data\.augment\.translate=28 would shift a 28×28 image out of the frame"),
    ({"augment": {"shift": 2}}, r"data\.augment: unknown key 'shift'"),
    ({"colour": 1}, r"data: unknown key 'colour'"),
    ({"root": None}, r"data\.root must be given for data=mnist"),
    # A key of some sources only is refused by the others, never ignored:
    (
        {"image_column": "file"},
        r"^data\.image_column=file is read by data=csv and data=hf only, not by data=mnist; drop it \(or set it to null\)\.$",
    ),
    ({"split_column": "fold"}, r"^data\.split_column=fold is read by data=csv only, not by data=mnist"),
    ({"dataset": "ylecun/mnist"}, r"^data\.dataset=ylecun/mnist is read by data=hf only, not by data=mnist"),
    ({"name": "csv", "dataset": "x"}, r"^data\.dataset=x is read by data=hf only, not by data=csv"),
    ({"name": "hf", "split_column": "s"}, r"^data\.split_column=s is read by data=csv only, not by data=hf"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m.split(" ")[0] for _, m in BAD])
def test_bad_values_name_their_key(change: dict[str, Any], message: str) -> None:
    cfg = {**plain(CONF / "mnist.yaml"), **change}
    with pytest.raises(ConfigError, match=message):
        parse_data(cfg)


def test_required_keys_and_folder_channels() -> None:
    cfg = plain(CONF / "image_folder.yaml", root="/images", num_classes=3)
    with pytest.raises(ConfigError, match=r"data\.channels must be 1 \(grey\) or 3 \(RGB\)"):
        parse_data({**cfg, "channels": 2})
    unset = r"data=image_folder needs data\.root \(left as \?\?\? in its YAML\); e\.g\. data\.root="
    with pytest.raises(ConfigError, match=unset):
        parse_data(plain(CONF / "image_folder.yaml"))
    assert read_data({**cfg, "num_classes": None}).num_classes is None, "null: the source counts the class folders"
    del cfg["height"]
    with pytest.raises(ConfigError, match=r"data\.height is missing"):
        parse_data(cfg)


def test_dataspec_defaults_are_the_schema_defaults() -> None:
    spec = DataSpec(name="mnist", root=Path("/d"), channels=1, height=28, width=28, num_classes=10)
    schema = OmegaConf.structured(DataConf)
    assert (spec.batch_size, spec.val_size, spec.seed, spec.num_workers, spec.augment.translate) == (
        schema.batch_size, schema.val_size, schema.seed, schema.num_workers, schema.augment.translate,
    )  # fmt: skip
    assert OmegaConf.is_missing(schema, "root") and OmegaConf.is_missing(schema, "num_classes")
