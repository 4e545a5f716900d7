"""Resuming with another model, optimizer or input size, or from a plain state dict: one paragraph, before training."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig
from support import Cli, Trained

from cnnexp.app import run_job
from cnnexp.errors import ConfigError
from cnnexp.run import read_run
from cnnexp.tasks import task_named

Tiny = Callable[..., DictConfig]


def _resume(tiny_cfg: Tiny, path: Path, *overrides: str) -> Path:
    """Start task=train resuming from `path`; returns the run folder (which must stay empty: nothing trained)."""
    cfg = tiny_cfg(f"ckpt_path={path}", "model.activation=tanh", "trainer.max_epochs=2", *overrides)
    run = read_run(cfg)
    task_named("train")(run)
    return run.output_dir


def _stripped(trained: Trained, tmp_path: Path, **edits: object) -> Path:
    """The trained checkpoint without its record (as cnnexp wrote them before), with `edits` applied."""
    content = torch.load(trained.checkpoint, map_location="cpu", weights_only=True)
    del content["cnnexp"]
    content.update(edits)
    path = tmp_path / "old.ckpt"
    torch.save(content, path)
    return path


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("optimizer=sgd",), r"cannot resume this run: optimizer=torch\.optim\.Adam in the checkpoint, "
         r"torch\.optim\.SGD in this run\. Resuming continues the same run, so these must be the checkpoint's: pass "
         r"optimizer=adam; or start a new run from its weights with init_from=.*last\.ckpt \(fine-tuning, where they may differ\)\.$"),
        (("optimizer.lr=0.01",), r"cannot resume this run: optimizer\.lr=0\.001 in the checkpoint, 0\.01 in this run\..* pass optimizer\.lr=0\.001;"),
        (("model=alexnet_small",), r"cannot resume this run: model=lenet5 in the checkpoint, alexnet_small in this run\..* pass model=lenet5;"),
        (("data.adapt=true", "model.input.height=32", "model.input.width=32"),
         r"cannot resume this run: model\.input\.height=28 in the checkpoint, 32 in this run; model\.input\.width=28 in the "
         r"checkpoint, 32 in this run\. .* pass model\.input\.height=28 model\.input\.width=28;"),
        (("model.activation=relu",), r"cannot resume this run: model\.activation=tanh in the checkpoint, relu in this run"),
        (("freeze=[conv1]",), r"cannot resume this run: freeze=\[\] in the checkpoint, \[conv1\] in this run"),
        (("scheduler=cosine",), r"cannot resume this run: scheduler=none in the checkpoint, torch\.optim\.lr_scheduler\.CosineAnnealingLR in this run\..* pass scheduler=none;"),
    ],
)  # fmt: skip
def test_resuming_as_another_run_is_refused_before_anything_is_built(
    trained: Trained, tiny_cfg: Tiny, overrides: tuple[str, ...], message: str
) -> None:
    last = trained.folder / "checkpoints" / "last.ckpt"
    with pytest.raises(ConfigError, match=rf"^ckpt_path={last} {message}"):
        _resume(tiny_cfg, last, *overrides)
    assert not (Path(tiny_cfg().output_dir) / "checkpoints").exists()


def test_what_may_change_on_resume_does(trained: Trained, tiny_cfg: Tiny) -> None:
    last = trained.folder / "checkpoints" / "last.ckpt"
    folder = _resume(tiny_cfg, last, "data.batch_size=70", "trainer.max_epochs=2")
    assert torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1


def test_a_plain_state_dict_cannot_be_resumed(trained: Trained, tiny_cfg: Tiny, tmp_path: Path) -> None:
    weights = tmp_path / "weights.pt"
    torch.save({k.removeprefix("net."): v for k, v in torch.load(trained.checkpoint, weights_only=True)["state_dict"].items()
                if k.startswith("net.")}, weights)  # fmt: skip
    with pytest.raises(ConfigError, match=rf"^ckpt_path={weights} is a plain state dict \(network weights as "
                       r"torch\.save\(model\.state_dict\(\)\) writes them\), not a checkpoint of a run: it has no optimizer "
                       rf"state, epoch or step to continue from, so resume cannot use it\. To start a new training run from "
                       rf"these weights, pass init_from={weights}; to resume, give a \.ckpt file"):  # fmt: skip
        _resume(tiny_cfg, weights)


def test_an_old_checkpoint_of_another_optimizer_is_found_by_its_state(
    trained: Trained, tiny_cfg: Tiny, tmp_path: Path
) -> None:
    old = _stripped(trained, tmp_path)
    with pytest.raises(ConfigError, match=rf"^ckpt_path={old} cannot resume this run: its optimizer state has amsgrad, "
                       r"betas, .*eps.*, which torch\.optim\.SGD does not keep, and lacks dampening, momentum, nesterov, "
                       r"which it needs: the checkpoint was trained with another optimizer\."):  # fmt: skip
        _resume(tiny_cfg, old, "optimizer=sgd")


def test_an_old_checkpoint_of_another_input_size_is_found_by_its_weights(
    trained: Trained, tiny_cfg: Tiny, tmp_path: Path
) -> None:
    old = _stripped(trained, tmp_path)
    with pytest.raises(ConfigError, match=rf"^ckpt_path={old} cannot resume this run: its network does not fit this one: "
                       r"1 tensor\(s\) of other shapes \(fc1\.weight is 500×320 in the checkpoint, 500×500 here\)\. "
                       r"Resume with the model and input size it was trained with"):  # fmt: skip
        _resume(tiny_cfg, old, "data.adapt=true", "model.input.height=32", "model.input.width=32")


def test_the_command_line_gets_one_paragraph_and_exit_code_2(cli: Cli, trained: Trained, tmp_path: Path) -> None:
    last = trained.folder / "checkpoints" / "last.ckpt"
    code, err = cli(f"ckpt_path={last}", "model.activation=tanh", "optimizer=sgd", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    assert err.startswith(f"cnnexp: error: ckpt_path={last} cannot resume this run: optimizer=torch.optim.Adam")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.slow
def test_resuming_in_a_new_folder_keeps_the_best_so_far_and_leaves_the_old_run_alone(
    trained: Trained, tiny_cfg: Tiny, tmp_path: Path
) -> None:
    # The trained epoch's score raised above anything the next epoch reaches: Lightning alone forgets the score
    # in a new folder, so its next epoch would be "best" and tested.
    content = torch.load(trained.folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    (key,) = [k for k in content["callbacks"] if "'monitor': 'val/acc'" in k]
    state = content["callbacks"][key]
    state.update(best_model_score=torch.tensor(1.0), kth_value=torch.tensor(1.0))
    state["best_k_models"] = dict.fromkeys(state["best_k_models"], torch.tensor(1.0))
    torch.save(content, tmp_path / "raised.ckpt")
    old = {p: p.read_bytes() for p in (trained.folder / "checkpoints").iterdir()}
    cfg = tiny_cfg(f"ckpt_path={tmp_path / 'raised.ckpt'}", "model.activation=tanh", "trainer.max_epochs=2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_job(cfg)
    assert not [w for w in caught if "dirpath has changed" in str(w.message)]
    metrics = json.loads((Path(cfg.output_dir) / "metrics.json").read_text())
    best = Path(cfg.output_dir) / "checkpoints" / Path(state["best_model_path"]).name
    assert metrics["checkpoint"] == str(best) and metrics["epochs"] == 2
    assert torch.load(best, map_location="cpu", weights_only=True)["epoch"] == 0  # the trained epoch, tested
    assert {p: p.read_bytes() for p in (trained.folder / "checkpoints").iterdir()} == old
