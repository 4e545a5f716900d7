"""Mistakes found before training rather than after it, and files a run leaves clean: a model too large for the
machine, a monitor or optimized_metric nobody logs, a full disk, NaN in metrics.json, file modes."""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from cnnexp.app import run_job
from cnnexp.errors import ConfigError
from cnnexp.run import read_run
from cnnexp.rundir.files import NoSpace, write_json
from cnnexp.tasks.assemble import assemble
from cnnexp.tasks.train import logged_metrics
from cnnexp.train.faults import AtomicCheckpointIO
from cnnexp.train.instantiate import Target
from cnnexp.train.memory import check_fits, state_buffers

Tiny = Callable[..., DictConfig]


def test_a_model_too_large_for_the_machine_is_refused_before_allocation(tiny_cfg: Tiny) -> None:
    run = read_run(tiny_cfg("model.layers.fc1.out=1000000000"))  # 320 × 10⁹ + 10 × 10⁹ weights: 5.3 TB with Adam
    with pytest.raises(ConfigError) as refused:
        assemble(run)
    assert str(refused.value).startswith(
        "model=lenet5 has 331,000,010,550 parameters: its weights, gradients and Adam's 2 state buffer(s) need "
        "4,932.3 GiB (16 bytes per parameter) before any activations, but this machine's RAM has "
    )
    assert str(refused.value).endswith("GiB. Make the model smaller (fewer or narrower layers: see the summary table, "
                                       "task=summary) or run it on a device with more memory.")  # fmt: skip


def test_the_state_an_optimizer_keeps_per_parameter() -> None:
    assert state_buffers(Target("torch.optim.Adam")) == 2
    assert state_buffers(Target("torch.optim.Adam", {"amsgrad": True})) == 3
    assert state_buffers(Target("torch.optim.SGD")) == 0
    assert state_buffers(Target("torch.optim.SGD", {"momentum": 0.9})) == 1
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    params = ram // 8  # fits as weights alone (4 bytes each), not with gradients and Adam's moments
    check_fits("m", params, params, Target("torch.optim.Adam"), {"accelerator": "cpu"}, training=False)
    with pytest.raises(ConfigError, match="model=m has .* parameters: its weights, gradients and Adam's"):
        check_fits("m", params, params, Target("torch.optim.Adam"), {"accelerator": "cpu"}, training=True)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "callbacks.checkpoint.monitor=val/acc_bset",
            r"callbacks\.checkpoint\.monitor=val/acc_bset: the run logs no "
            r"metric of that name\. Did you mean 'val/acc_best'\? Logged metrics: lr-Adam, test/acc, ",
        ),
        (
            "optimized_metric=test_accuracy",
            r"optimized_metric=test_accuracy is not a figure of metrics\.json\. Did you "
            r"mean 'test_acc'\? Choose one of test_acc, test_loss, ",
        ),
    ],
    ids=["monitor", "optimized_metric"],
)
def test_names_of_metrics_are_checked_before_training(tiny_cfg: Tiny, override: str, message: str) -> None:
    cfg = tiny_cfg(override)
    with pytest.raises(SystemExit) as ended:
        run_job(cfg)
    run = Path(cfg.output_dir)
    recorded = json.loads((run / "metrics.json").read_text())
    assert ended.value.code == 2 and recorded["status"] == "failed" and re.match(message, recorded["reason"])
    assert not (run / "checkpoints").exists()  # stopped before epoch 0


def test_metrics_json_is_strict_json_and_files_have_the_usual_mode(tmp_path: Path) -> None:
    write_json(tmp_path / "metrics.json", {"test_loss": math.nan, "history": {"0": {"train/loss": math.inf}}})
    text = (tmp_path / "metrics.json").read_text()
    assert json.loads(text) == {"test_loss": None, "history": {"0": {"train/loss": None}}} and "NaN" not in text
    AtomicCheckpointIO().save_checkpoint({"w": torch.ones(2)}, tmp_path / "last.ckpt")
    umask = os.umask(0)
    os.umask(umask)
    for name in ("metrics.json", "last.ckpt"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt", "metrics.json"]  # no temporary left


def test_a_full_disk_is_one_paragraph_and_the_old_file_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"step": 1}, target)

    def full(obj: object, handle: object) -> None:
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 576 vs 470")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(NoSpace) as err:
        AtomicCheckpointIO().save_checkpoint({"step": 2}, target)
    assert str(err.value).startswith(f"cannot write {target}: the disk is full or a quota refused the write (")
    assert "unexpected pos 576 vs 470). The file it would have replaced is intact." in str(err.value)
    assert torch.load(target, weights_only=True)["step"] == 1 and sorted(p.name for p in tmp_path.iterdir()) == [
        "last.ckpt"
    ]

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(NoSpace, match=r"cannot write .*metrics\.json: the disk is full"):
        write_json(tmp_path / "metrics.json", {"status": "ok"})


def test_a_run_whose_checkpoint_hits_a_full_disk_says_so_and_records_it(tiny_cfg: Tiny, monkeypatch: pytest.MonkeyPatch,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    save = torch.save

    def full(obj: object, handle: object) -> None:
        if not (isinstance(obj, dict) and "state_dict" in obj):
            return save(obj, handle)  # the digits cache, not a checkpoint: written
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", full)
    cfg = tiny_cfg()
    with pytest.raises(SystemExit) as ended:
        run_job(cfg)
    err = capsys.readouterr().err
    assert ended.value.code == 2 and err.startswith("cnnexp: error: cannot write ") and "Traceback" not in err
    recorded = json.loads((Path(cfg.output_dir) / "metrics.json").read_text())
    assert recorded["status"] == "failed" and "the disk is full or a quota refused the write" in recorded["reason"]


def test_the_names_monitors_are_checked_against_are_what_a_run_logs(tiny_cfg: Tiny) -> None:
    exp = assemble(
        read_run(
            tiny_cfg("trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "trainer.log_every_n_steps=1")
        )
    )
    exp.trainer.fit(exp.module, datamodule=exp.datamodule)
    logged = set(exp.trainer.callback_metrics)
    exp.trainer.test(exp.module, datamodule=exp.datamodule, verbose=False)
    logged |= set(exp.trainer.callback_metrics)
    assert logged == set(logged_metrics(exp.run))
