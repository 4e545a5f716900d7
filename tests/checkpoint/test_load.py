"""Reading checkpoint files: which kind, and what each task says of a file it cannot use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig
from support import Trained

from cnnexp.app import run_job
from cnnexp.checkpoint.load import read_checkpoint
from cnnexp.errors import ConfigError
from cnnexp.run import read_run
from cnnexp.tasks import task_named

Tiny = Callable[..., DictConfig]


def _task(cfg: DictConfig) -> object:
    run = read_run(cfg)
    return task_named(run.options.task)(run)


def _without_record(trained: Trained, tmp_path: Path) -> Path:
    content = torch.load(trained.checkpoint, map_location="cpu", weights_only=True)
    del content["cnnexp"]
    torch.save(content, tmp_path / "old.ckpt")
    return tmp_path / "old.ckpt"


def test_the_kinds_of_file(trained: Trained, tmp_path: Path) -> None:
    ckpt = read_checkpoint(trained.checkpoint)
    assert (
        ckpt.lightning
        and ckpt.record is not None
        and set(ckpt.weights)
        == {f"{layer}.{kind}" for layer in ("conv1", "conv2", "fc1", "fc2") for kind in ("weight", "bias")}
    )
    torch.save({f"net.{k}": v for k, v in ckpt.weights.items()}, tmp_path / "prefixed.pt")
    torch.save(ckpt.weights, tmp_path / "bare.pt")
    for name in ("prefixed.pt", "bare.pt"):
        plain = read_checkpoint(tmp_path / name, "init_from")
        assert not plain.lightning and plain.record is None and plain.weights.keys() == ckpt.weights.keys()
    torch.save({"epoch": 3, "note": "hello"}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match=rf"^init_from={tmp_path / 'other.pt'}: neither a Lightning checkpoint \(no "
                       r"'state_dict'\) nor a state dict of tensors \(its keys: epoch, note\)"):  # fmt: skip
        read_checkpoint(tmp_path / "other.pt", "init_from")


@pytest.mark.parametrize("task", ["test", "predict", "export"])
def test_a_plain_state_dict_is_for_init_from_only(trained: Trained, tiny_cfg: Tiny, tmp_path: Path, task: str) -> None:
    torch.save(read_checkpoint(trained.checkpoint).weights, tmp_path / "weights.pt")
    with pytest.raises(ConfigError, match=rf"^ckpt_path={tmp_path / 'weights.pt'} is a plain state dict .* it has no record "
                       rf"of the model and data it belongs to, so task={task} cannot use it\. To start a new training run "
                       rf"from these weights, pass init_from={tmp_path / 'weights.pt'}"):  # fmt: skip
        _task(tiny_cfg(f"task={task}", f"ckpt_path={tmp_path / 'weights.pt'}", "input=x.png"))


def test_a_checkpoint_without_a_record_is_tested_with_the_config(
    trained: Trained, tiny_cfg: Tiny, tmp_path: Path
) -> None:
    old = _without_record(trained, tmp_path)
    assert run_job(tiny_cfg("task=test", f"ckpt_path={old}", "model.activation=tanh")) == trained.metrics["test_acc"]
    with pytest.raises(ConfigError, match=rf"^ckpt_path={old} does not fit this network: 4 tensor\(s\) of other shapes "
                       r"\(conv1\.weight is 20×1×5×5 in the checkpoint, 32×1×5×5 here; conv1\.bias is 20 in the checkpoint, "
                       r"32 here; conv2\.weight is 20×20×5×5 in the checkpoint, 96×32×3×3 here\); 12 missing \(conv3\.weight, "
                       r"conv3\.bias, conv4\.weight\); 4 not in this network \(fc1\.weight, fc1\.bias, fc2\.weight\); test it "
                       r"with the model and input size it was trained with \(model=\.\.\. data=\.\.\.\)\.$"):  # fmt: skip
        _task(tiny_cfg("task=test", f"ckpt_path={old}", "model=alexnet_small"))


@pytest.mark.parametrize("task", ["predict", "export"])
def test_predict_and_export_need_the_record(trained: Trained, tiny_cfg: Tiny, tmp_path: Path, task: str) -> None:
    old = _without_record(trained, tmp_path)
    with pytest.raises(ConfigError, match=rf"^ckpt_path={old} holds no run record \(it was written before cnnexp recorded "
                       rf"runs in checkpoints, or by another program\), so task={task} does not know its model, classes or "
                       r"normalisation\."):  # fmt: skip
        _task(tiny_cfg(f"task={task}", f"ckpt_path={old}", "input=x.png"))


@pytest.mark.parametrize("text", ["root:x:0:0:root:/root:/bin/bash\n", "a text file, not a checkpoint\n"])
def test_a_text_file_is_no_checkpoint_whatever_the_unpickler_trips_on(tmp_path: Path, text: str) -> None:
    path = tmp_path / "passwd"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"^ckpt_path={path}: not a (readable )?checkpoint") as err:
        read_checkpoint(path)
    assert "give a .ckpt file" in str(err.value) or "is the file complete?" in str(err.value)
