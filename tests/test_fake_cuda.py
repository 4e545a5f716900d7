"""tests/cuda_site/fake_cuda.py: the GPUs it describes, as torch and Lightning see them, in the test's process and in
the processes it starts; and the machine as it is again after the test."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from fake_cuda import GIB, H100_X2, V100, FakeCuda, trainers_built
from lightning_fabric.utilities.exceptions import MisconfigurationException
from pytorch_lightning.accelerators import AcceleratorRegistry, CUDAAccelerator

Fake = Callable[..., FakeCuda]
REPORT = "import torch; print(torch.cuda.device_count(), torch.cuda.get_device_name(0), torch.cuda.is_bf16_supported())"


def test_torch_reports_the_described_gpus(fake_cuda: Fake) -> None:
    fake = fake_cuda(H100_X2)
    assert (torch.cuda.is_available(), torch.cuda.device_count()) == (True, 2)
    assert torch.cuda.get_device_name("cuda:1") == "NVIDIA H100 80GB HBM3"
    assert torch.cuda.get_device_capability(torch.device("cuda", 1)) == (9, 0)
    assert torch.cuda.get_device_properties(0).total_memory == 80 * GIB
    assert torch.cuda.mem_get_info() == (80 * GIB, 80 * GIB)
    assert torch.cuda.is_bf16_supported() is True
    torch.cuda.synchronize(torch.device("cuda", 1))
    torch.cuda.synchronize()
    assert fake.synchronized == [1, 0]


def test_a_gpu_the_machine_lacks_is_an_error(fake_cuda: Fake) -> None:
    fake_cuda(V100)
    with pytest.raises(ValueError, match=r"^fake CUDA: GPU 1 asked for, but the machine has 1$"):
        torch.cuda.get_device_name(1)
    with pytest.raises(ValueError, match=r"^fake CUDA: cpu is not a CUDA device$"):
        torch.cuda.synchronize(torch.device("cpu"))


def test_a_malformed_description_names_the_format() -> None:
    with pytest.raises(
        ValueError, match=r"^CNNEXP_FAKE_CUDA='2:H100': expected COUNT:NAME:MAJOR\.MINOR:bf16\|fp16:NGiB"
    ):
        FakeCuda.parse("2:H100")


def test_the_random_states_are_one_per_gpu_and_set_as_given(fake_cuda: Fake) -> None:
    fake_cuda(H100_X2)
    states = torch.cuda.get_rng_state_all()
    assert [int(s[0]) for s in states] == [0, 1]
    torch.cuda.set_rng_state_all([s + 5 for s in states])
    assert [int(s[0]) for s in torch.cuda.get_rng_state_all()] == [5, 6]


def test_lightning_decides_as_on_the_gpus_and_runs_on_the_cpu(fake_cuda: Fake, tmp_path: Path) -> None:
    fake_cuda(H100_X2)
    quiet = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False, "default_root_dir": tmp_path}
    trainer = pl.Trainer(accelerator="gpu", devices=[1], precision="bf16-mixed", **quiet)
    assert isinstance(trainer.accelerator, CUDAAccelerator)
    assert (trainer.num_devices, trainer.strategy.root_device) == (1, torch.device("cpu"))
    with pytest.raises(MisconfigurationException, match=r"But your machine only has: \[0, 1\]"):
        pl.Trainer(accelerator="gpu", devices=3, **quiet)
    records = trainers_built(tmp_path / "fake_cuda.jsonl")
    assert [r["asked"] for r in records] == [
        {"accelerator": "gpu", "devices": [1], "strategy": None, "precision": "bf16-mixed"},
        {"accelerator": "gpu", "devices": 3, "strategy": None, "precision": None},
    ]


@pytest.mark.slow
def test_processes_the_test_starts_see_the_same_gpus(fake_cuda: Fake) -> None:
    fake_cuda(V100)
    started = subprocess.run([sys.executable, "-c", REPORT], capture_output=True, text=True, check=True)
    assert started.stdout == "1 Tesla V100-SXM2-16GB False\n"


@pytest.mark.slow
def test_processes_started_without_the_fake_see_the_machine() -> None:
    started = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.device_count())"],
                             capture_output=True, text=True, check=True)  # fmt: skip
    assert started.stdout == f"{torch.cuda.device_count()}\n"


def test_the_machine_is_as_it_was_once_the_fake_is_undone() -> None:
    def now() -> tuple[object, ...]:
        return torch.cuda.device_count(), torch.cuda.is_available(), pl.Trainer.__init__, AcceleratorRegistry["cuda"]

    real = now()
    with pytest.MonkeyPatch.context() as patch:
        FakeCuda.parse("3:Fake GPU:8.0:bf16:1GiB").install(patch)
        assert torch.cuda.device_count() == 3 and AcceleratorRegistry["cuda"]["accelerator"] is not CUDAAccelerator
    assert now() == real and AcceleratorRegistry["cuda"]["accelerator"] is CUDAAccelerator
