"""A checkpoint is data: a record that names a class cnnexp does not know, or a damaged file, is one paragraph and
exit 2, and nothing the file names is imported or called."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from support import Cli, Trained, one_paragraph

import cnnexp
from cnnexp.checkpoint import record as rec
from cnnexp.checkpoint.load import Checkpoint, read_checkpoint
from cnnexp.checkpoint.resume import check_resume
from cnnexp.errors import ConfigError
from cnnexp.run import read_run
from cnnexp.train import instantiate
from cnnexp.train.instantiate import Target

Edit = Callable[[dict[str, Any]], None]


def _edited(trained: Trained, tmp_path: Path, edit: Edit, name: str = "edited.ckpt") -> Path:
    """The trained checkpoint with `edit` applied to its whole content (the record is content["cnnexp"])."""
    content = torch.load(trained.checkpoint, map_location="cpu", weights_only=True)
    edit(content)
    torch.save(content, tmp_path / name)
    return tmp_path / name


def _set(path: str, value: Any) -> Edit:
    """An edit that sets the record's run key `path` (dotted) to `value`."""

    def edit(content: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = content["cnnexp"]["run"]
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return edit


@pytest.fixture
def watched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, list[str]]:
    """(source, destination, names): two files a hostile `shutil.copyfile` record would copy one over the other, and
    every name imported (importlib) or instantiated (hydra) meanwhile."""
    source, destination = tmp_path / "A", tmp_path / "B"
    source.write_text("attacker's")
    destination.write_text("mine")
    names: list[str] = []
    real_import, real_instantiate = importlib.import_module, instantiate.instantiate

    def spy_import(name: str, package: str | None = None) -> Any:
        names.append(name)
        return real_import(name, package)

    def spy_instantiate(config: Any, *args: Any, **kwargs: Any) -> Any:
        names.append(str(config.get("_target_")))
        return real_instantiate(config, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", spy_import)
    monkeypatch.setattr(instantiate, "instantiate", spy_instantiate)
    return source, destination, names


HOSTILE = [
    ("optimizer", "torch.optim optimizer", "torch.optim's optimizers"),
    ("scheduler", "torch.optim.lr_scheduler scheduler", "torch.optim.lr_scheduler's schedulers"),
    ("callbacks.x", "Lightning or cnnexp callback", "Lightning's callbacks and cnnexp's presets"),
    ("logger.x", "Lightning logger", "Lightning's loggers"),
]


@pytest.mark.parametrize("task", ["test", "train"])
@pytest.mark.parametrize(("key", "kind", "known"), HOSTILE, ids=[h[0] for h in HOSTILE])
@pytest.mark.slow
def test_a_class_the_record_names_is_looked_up_never_imported_or_called(
    trained: Trained,
    tmp_path: Path,
    cli: Cli,
    watched: tuple[Path, Path, list[str]],
    key: str,
    kind: str,
    known: str,
    task: str,
) -> None:
    source, destination, names = watched
    hostile = {"_target_": "shutil.copyfile", "_args_": [str(source), str(destination)]}
    path = _edited(trained, tmp_path, _set(key, {**hostile, **({"interval": "epoch"} if key == "scheduler" else {})}))
    code, err = cli(f"task={task}", f"ckpt_path={path}", "model.activation=tanh")
    assert code == 2 and one_paragraph(err) == (
        f"ckpt_path={path}: its run record names {key}._target_=shutil.copyfile, which is not a {kind} cnnexp knows. "
        f"A checkpoint's record is data: cnnexp imports and calls nothing a file names, only the classes it knows "
        f"({known}). If you trained this run with a class of your own at {key}, give this command that class as you "
        f"did for training; otherwise use a checkpoint you trust."
    )
    assert destination.read_text() == "mine"
    assert not [name for name in names if name.startswith("shutil")]


def test_a_target_in_the_records_loss_is_refused(
    trained: Trained, tmp_path: Path, cli: Cli, watched: tuple[Path, Path, list[str]]
) -> None:
    source, destination, names = watched
    path = _edited(trained, tmp_path, _set("loss._target_", "shutil.copyfile"))
    code, err = cli("task=test", f"ckpt_path={path}")
    assert code == 2 and one_paragraph(err) == (
        f"ckpt_path={path}: its run record sets loss._target_, where cnnexp builds no class and never writes one: the "
        f"file was edited or written by another program. Use a checkpoint you trust."
    )
    assert destination.read_text() == "mine" and not [name for name in names if name.startswith("shutil")]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("optimizer.betas", {"_target_": "shutil.copyfile"}, "sets optimizer.betas._target_, a key by which Hydra's "
         "instantiate would build or call something: the file was edited"),
        ("optimizer._args_", ["A", "B"], "sets optimizer._args_, a key by which Hydra's instantiate would build or "
         "call something: the file was edited"),
        ("callbacks.checkpoint._recursive_", True, "sets callbacks.checkpoint._recursive_, a key by which Hydra's"),
        ("model.layers.conv1._target_", "os.system", "sets model.layers.conv1._target_, where cnnexp builds no class "
         "and never writes one: the file was edited or written by another program. Use a checkpoint you trust."),
        ("optimizer.lr", torch.tensor(0.1), "holds a Tensor at optimizer.lr, where cnnexp writes plain values (text, "
         "numbers, lists, mappings): the file was edited or written by another program. Use a checkpoint you trust."),
    ],
    ids=["nested_target", "args", "recursive", "target_in_a_layer", "tensor"],
)  # fmt: skip
def test_keys_by_which_hydra_would_call_something_are_refused(
    trained: Trained, tmp_path: Path, key: str, value: Any, message: str
) -> None:
    path = _edited(trained, tmp_path, _set(key, value))
    with pytest.raises(ConfigError, match="^" + re.escape(f"ckpt_path={path}: its run record {message}")):
        read_checkpoint(path)


def _plain_record(trained: Trained) -> dict[str, Any]:
    return torch.load(trained.checkpoint, map_location="cpu", weights_only=True)["cnnexp"]


def test_the_classes_cnnexp_knows_read_without_a_word(trained: Trained) -> None:
    plain = _plain_record(trained)
    plain["run"]["optimizer"]["_target_"] = "torch.optim.adam.Adam"  # the defining module's name, as a YAML may say
    plain["run"]["scheduler"] = {"_target_": "torch.optim.lr_scheduler.ExponentialLR", "_partial_": True, "gamma": 0.9}
    plain["run"]["callbacks"]["swa"] = {
        "_target_": "pytorch_lightning.callbacks.StochasticWeightAveraging",
        "swa_lrs": 0.01,
    }
    plain["run"]["logger"]["csv"] = {"_target_": "pytorch_lightning.loggers.CSVLogger", "save_dir": "."}
    record = rec.Record.from_dict(plain, "X")
    assert record.run.scheduler is not None and record.run.scheduler.target.class_name == "ExponentialLR"
    assert record.run.callbacks["swa"].class_name == "StochasticWeightAveraging"


@pytest.mark.parametrize(
    "name", ["torch.optim.lr_scheduler.LambdaLR", "pytorch_lightning.callbacks.LambdaCallback", "torch.optim.Optimizer"]
)
def test_classes_that_take_functions_or_are_abstract_are_not_known(name: str) -> None:
    from cnnexp.train.targets import known_classes

    assert all(name not in known_classes(group) for group in ("optimizer", "scheduler", "callbacks", "logger"))


def test_a_class_of_ones_own_is_read_when_this_command_names_it_at_the_same_key(trained: Trained) -> None:
    plain = _plain_record(trained)
    plain["run"]["callbacks"]["mine"] = {"_target_": "mypackage.Mine", "every": 3}
    refused = r"^X: its run record names callbacks\.mine\._target_=mypackage\.Mine, which is not a Lightning or cnnexp"
    with pytest.raises(ConfigError, match=refused):
        rec.Record.from_dict(plain, "X")
    with pytest.raises(ConfigError, match=refused):
        rec.Record.from_dict(plain, "X", vouched={"callbacks.other": "mypackage.Mine"})  # another key vouches nothing
    record = rec.Record.from_dict(plain, "X", vouched={"callbacks.mine": "mypackage.Mine"})
    assert record.run.callbacks["mine"] == Target("mypackage.Mine", {"every": 3})


def test_the_command_that_names_its_own_callback_tests_a_checkpoint_that_records_it(
    trained: Trained, tmp_path: Path, cli: Cli
) -> None:
    pause = {
        "_target_": "pause.PauseAt",
        "folder": str(tmp_path),
        "run_dir": ".",
        "run_prefix": "never",
        "epoch": 0,
        "batch": 0,
    }
    path = _edited(trained, tmp_path, _set("callbacks.pause", pause))
    code, err = cli("task=test", f"ckpt_path={path}")
    assert code == 2 and "callbacks.pause._target_=pause.PauseAt, which is not a Lightning" in one_paragraph(err)
    mine = [f"+callbacks.pause.{k}={v}" for k, v in pause.items()]
    code, err = cli("task=test", f"ckpt_path={path}", *mine, "hydra.run.dir=tested")
    assert code == 0, err[-2000:]
    assert json.loads((tmp_path / "tested" / "metrics.json").read_text())["test_acc"] == trained.metrics["test_acc"]


def test_testing_builds_no_optimizer(trained: Trained, tmp_path: Path, cli: Cli) -> None:
    # A learning rate torch refuses: building the recorded optimizer would stop the test ("Invalid learning rate").
    path = _edited(trained, tmp_path, _set("optimizer.lr", -1.0))
    code, err = cli("task=test", f"ckpt_path={path}", "hydra.run.dir=tested")
    assert code == 0, err[-2000:]
    assert json.loads((tmp_path / "tested" / "metrics.json").read_text())["test_acc"] == trained.metrics["test_acc"]


def _three_classes(content: dict[str, Any]) -> None:
    content["cnnexp"]["data"]["classes"] = ["cat", "dog", "emu"]


@pytest.mark.parametrize("task", ["test", "predict", "export"])
def test_a_record_with_fewer_class_names_than_outputs_is_refused(
    trained: Trained, tmp_path: Path, cli: Cli, task: str
) -> None:
    path = _edited(trained, tmp_path, _three_classes)
    code, err = cli(f"task={task}", f"ckpt_path={path}", "input=x.png")
    assert code == 2 and one_paragraph(err) == (
        f"ckpt_path={path}: its run record names 3 classes (cat, dog, emu) for a network of 10 outputs "
        f"(model.num_classes): cnnexp writes one class name per output and one mean and std per channel, so the record "
        f"was edited or damaged. Use the checkpoint as cnnexp wrote it (its run folder's checkpoints/), or train the "
        f"model again."
    )


def test_a_record_with_a_mean_per_other_channels_is_refused(trained: Trained) -> None:
    plain = _plain_record(trained)
    plain["data"]["mean"] = [0.5, 0.5, 0.5]
    with pytest.raises(
        ConfigError, match=r"^X: its run record has 3 mean and 1 std values for images of 1 channel\(s\): "
    ):
        rec.Record.from_dict(plain, "X")


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (2, f"its run record has layout version 2 (written by cnnexp {cnnexp.__version__}), newer than the version 1 "
            f"this cnnexp ({cnnexp.__version__}) reads. Upgrade cnnexp (pip install -U cnnexp) to use this checkpoint."),
        ("1; rm -rf", "its run record has layout version '1; rm -rf', which no cnnexp writes (this one writes 1): the "
                      "record was edited or damaged. Use the checkpoint as cnnexp wrote it, or train the model again."),
        (0, "its run record has layout version 0, which no cnnexp writes"),
    ],
    ids=["newer", "text", "zero"],
)  # fmt: skip
def test_a_record_of_another_layout_version_is_refused(
    trained: Trained, tmp_path: Path, cli: Cli, version: Any, message: str
) -> None:
    path = _edited(trained, tmp_path, lambda content: content["cnnexp"].update(version=version))
    code, err = cli("task=test", f"ckpt_path={path}")
    assert code == 2 and one_paragraph(err).startswith(f"ckpt_path={path}: {message}")


def _damaged_rng(content: dict[str, Any]) -> None:
    content["rng"]["torch"] = torch.zeros(5, dtype=torch.uint8)


def _weights_and_record(content: dict[str, Any]) -> None:
    kept = {k: content[k] for k in ("state_dict", "cnnexp")}
    content.clear()
    content.update(kept)


def _damaged_module_state(content: dict[str, Any]) -> None:
    content.update(history=[0.5], train_steps_pending="none", optimizer_states=[{"state": {}}], rng={"cuda": "x"})


@pytest.mark.parametrize(
    ("edit", "problems"),
    [
        (_damaged_rng, "rng.torch is no torch random state (Expected a CPUGeneratorImplState of size 5056 but found "
                       "the input RNG state size to be 5)"),
        (_weights_and_record, "it lacks epoch, global_step, pytorch-lightning_version, loops, optimizer_states, "
                              "lr_schedulers"),
        (_damaged_module_state, "optimizer_states are not torch.optim state dicts (param_groups, each with its "
                                "params); rng.cuda is not a list of byte tensors (one per GPU); history is not a mapping "
                                "of each epoch's figures; train_steps_pending is not a mapping"),
    ],
    ids=["rng", "state_dict_only", "module_state"],
)  # fmt: skip
def test_a_checkpoint_without_a_whole_progress_is_not_resumed(
    trained: Trained, tmp_path: Path, cli: Cli, edit: Edit, problems: str
) -> None:
    path = _edited(trained, tmp_path, edit)
    written = path.read_bytes()
    code, err = cli(f"ckpt_path={path}", "model.activation=tanh")
    assert code == 2 and one_paragraph(err) == (
        f"ckpt_path={path} cannot be resumed: {problems}. A run's checkpoint holds its progress and random state; this "
        f"one was saved with weights only (save_weights_only), edited or damaged. Resume from another checkpoint of the "
        f"run (its checkpoints/ folder), or start a new run from these weights with init_from={path}."
    )
    assert path.read_bytes() == written


def test_a_state_dict_of_other_things_than_tensors_is_refused(trained: Trained, tmp_path: Path) -> None:
    path = _edited(trained, tmp_path, lambda content: content["state_dict"].update({"net.conv1.weight": [1.0]}))
    with pytest.raises(ConfigError, match=rf"^ckpt_path={path}: its state_dict holds net\.conv1\.weight as a list, not a "
                       r"tensor: the file was edited or damaged\."):  # fmt: skip
        read_checkpoint(path)


def test_the_resume_refusal_suggests_no_value_from_the_file_that_is_not_plain(
    trained: Trained, tmp_path: Path, cli: Cli
) -> None:
    path = _edited(trained, tmp_path, _set("optimizer.lr", "$(touch pwned)"))
    code, err = cli(f"ckpt_path={path}", "model.activation=tanh")
    assert code == 2 and one_paragraph(err) == (
        f"ckpt_path={path} cannot resume this run: optimizer.lr='$(touch pwned)' in the checkpoint, 0.001 in this run. "
        f"Resuming continues the same run, so these must be the checkpoint's: pass optimizer.lr=<the checkpoint's "
        f"value>; or start a new run from its weights with init_from={path} (fine-tuning, where they may differ)."
    )


def test_the_resume_refusal_suggests_only_an_optimizer_cnnexp_knows(
    trained: Trained, tiny_cfg: Callable[..., Any]
) -> None:
    ckpt = read_checkpoint(trained.checkpoint)
    assert ckpt.record is not None
    # A record that was never read (built here): what the message would say of a class nobody checked.
    unknown = replace(ckpt.record, run=replace(ckpt.record.run, optimizer=Target("shutil.copyfile", {}, True)))
    run = read_run(tiny_cfg("model.activation=tanh"))
    with pytest.raises(ConfigError) as refused:
        check_resume(run, Checkpoint(ckpt.path, ckpt.key, ckpt.content, unknown))
    assert "optimizer=shutil.copyfile in the checkpoint, torch.optim.Adam in this run" in str(refused.value)
    assert "pass optimizer._target_=<the torch.optim class it was trained with>;" in str(refused.value)
    assert "_target_=shutil" not in str(refused.value)


@pytest.mark.parametrize("task", ["test", "predict", "export"])
def test_a_record_that_describes_a_network_larger_than_its_weights_builds_nothing(
    trained: Trained, cli: Cli, tmp_path: Path, task: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # conv1 with a billion filters would ask for 100 GB: refused from the count, before any allocation.
    path = _edited(trained, tmp_path, _set("model.layers.conv1.filters", 10**9))
    for where in ("cnnexp.checkpoint.load.build", "cnnexp.tasks.assemble.build"):  # the two places a task builds one
        monkeypatch.setattr(where, lambda *a, **k: pytest.fail("a network was built"))
    extra = {"predict": [f"input={tmp_path}"], "export": ["format=torchscript"]}.get(task, [])
    code, err = cli(f"task={task}", f"ckpt_path={path}", *extra, f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    assert re.fullmatch(
        rf"ckpt_path={re.escape(str(path))}: its record describes a network of [\d,]+ parameters \(lenet5\), but the "
        rf"file holds [\d,]+ numbers: the record and its weights disagree \(was the file edited\?\)\. Nothing was "
        rf"built; use the checkpoint as cnnexp wrote it\.",
        one_paragraph(err),
    )
