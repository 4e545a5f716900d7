"""The mission's command as written, `python -m cnnexp model=alexnet trainer.gpus=2`, as far as a machine
without GPUs can take it: two GPUs asked for become DDP with two processes, and AlexNet's fixed 3×227×227
input gets the 1×28×28 digits adapted, saying so, instead of stopping."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from omegaconf import DictConfig

from cnnexp.errors import ConfigError
from cnnexp.experiment import make_datamodule
from cnnexp.run import read_run
from cnnexp.train.launch import ddp_processes

Tiny = Callable[..., DictConfig]


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """What torch reports on a machine with two bfloat16 GPUs (nothing is run on them)."""
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    for key in ("LOCAL_RANK", "WORLD_SIZE", "SLURM_NTASKS", "SLURM_JOB_NAME"):
        monkeypatch.delenv(key, raising=False)


def test_gpus_2_is_ddp_on_two_gpus_with_the_data_adapted(two_gpus: None, tiny_cfg: Tiny) -> None:
    run = read_run(tiny_cfg("model=alexnet", "trainer.gpus=2"))
    args = run.trainer.args
    assert (args["accelerator"], args["devices"], args["strategy"], args["precision"]) == ("gpu", 2, "ddp", "bf16-mixed")
    assert "gpus" not in args
    assert ddp_processes(args) == 2  # cnnexp starts rank 1 itself (train/launch.py)
    datamodule = make_datamodule(run)
    assert (datamodule.spec.shape, datamodule.model_input) == ((1, 28, 28), (3, 227, 227))


def test_adapt_false_restores_the_error(two_gpus: None, tiny_cfg: Tiny) -> None:
    run = read_run(tiny_cfg("model=alexnet", "trainer.gpus=2", "data.adapt=false"))
    with pytest.raises(ConfigError, match=r"model takes 3×227×227 but data=digits gives 1×28×28; set data\.adapt=true \(or null\)"):
        make_datamodule(run)
