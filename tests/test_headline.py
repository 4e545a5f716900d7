"""The mission's command as written, `python -m cnnexp model=alexnet trainer.gpus=2`, on a machine with two fake
GPUs (tests/cuda_site/fake_cuda.py): two GPUs asked for become DDP with two processes, cnnexp starting the second,
and AlexNet's fixed 3×227×227 input gets the 1×28×28 digits adapted, saying so, instead of stopping."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from fake_cuda import H100_X2, FakeCuda, trainers_built
from omegaconf import DictConfig

from cnnexp.errors import ConfigError
from cnnexp.run import read_run
from cnnexp.tasks.assemble import make_datamodule
from cnnexp.train.launch import ddp_processes

Tiny = Callable[..., DictConfig]


@pytest.fixture
def two_gpus(fake_cuda: Callable[..., FakeCuda]) -> FakeCuda:
    """A machine with two bfloat16 GPUs, in this process and in the DDP rank it starts."""
    return fake_cuda(H100_X2)


def test_gpus_2_is_ddp_on_two_gpus_with_the_data_adapted(two_gpus: FakeCuda, tiny_cfg: Tiny) -> None:
    run = read_run(tiny_cfg("model=alexnet", "trainer.gpus=2"))
    args = run.trainer.args
    assert (args["accelerator"], args["devices"], args["strategy"], args["precision"]) == (
        "gpu",
        2,
        "ddp",
        "bf16-mixed",
    )
    assert "gpus" not in args
    assert ddp_processes(args) == 2  # cnnexp starts rank 1 itself (train/launch.py)
    datamodule = make_datamodule(run)
    assert (datamodule.spec.shape, datamodule.model_input) == ((1, 28, 28), (3, 227, 227))


def test_adapt_false_restores_the_error(two_gpus: FakeCuda, tiny_cfg: Tiny) -> None:
    run = read_run(tiny_cfg("model=alexnet", "trainer.gpus=2", "data.adapt=false"))
    with pytest.raises(
        ConfigError, match=r"model takes 3×227×227 but data=digits gives 1×28×28; set data\.adapt=true \(or null\)"
    ):
        make_datamodule(run)


@pytest.mark.slow
def test_the_command_runs_to_the_end_with_rank_1_started_by_cnnexp(
    two_gpus: FakeCuda, cli: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    """Rank 0 is this process; cnnexp starts rank 1 with the DDP variables; Lightning trains both on the CPU."""
    code, err = cli("model=alexnet", "trainer.gpus=2", "debug=fdr", "data.batch_size=2", "hydra.run.dir=run")
    assert code == 0, err[-3000:]
    ranks = trainers_built(tmp_path / "fake_cuda.jsonl")
    assert [r["asked"] for r in ranks] == [
        {"accelerator": "gpu", "devices": 2, "strategy": "ddp", "precision": "bf16-mixed"}
    ] * 2
    assert [(r["env"]["LOCAL_RANK"], r["env"]["WORLD_SIZE"], r["env"]["NODE_RANK"]) for r in ranks] == [
        ("0", "2", "0"),
        ("1", "2", "0"),
    ]
    assert ranks[0]["pid"] == os.getpid() != ranks[1]["pid"]
    assert ranks[0]["env"]["MASTER_ADDR"] == ranks[1]["env"]["MASTER_ADDR"] == "127.0.0.1"
    assert ranks[0]["env"]["MASTER_PORT"] == ranks[1]["env"]["MASTER_PORT"]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["world_size"] == 2
    assert "LOCAL_RANK" not in os.environ  # this process is no DDP rank once the run is over
