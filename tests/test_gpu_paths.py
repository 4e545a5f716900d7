"""cnnexp's GPU-only decisions, each executed on fake GPUs (tests/cuda_site/fake_cuda.py) and checked: precision,
device counts, one device by default, memory, TF32 and channels_last, pinned memory, the device named in the
run's first line, the throughput clock's synchronisation, the GPUs' random state in checkpoints, predict's device.

Whole runs on fake GPUs (`trainer.gpus=2` with its DDP rank, a parallel sweep holding one GPU per job) are in
tests/test_headline.py and tests/sweep/test_gpu_sweep.py."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest
import torch
from fake_cuda import GIB, H100_X2, V100, FakeCuda
from omegaconf import DictConfig
from pytorch_lightning.accelerators import CUDAAccelerator
from pytorch_lightning.strategies import SingleDeviceStrategy
from torch import nn

from cnnexp.errors import ConfigError
from cnnexp.run import read_run
from cnnexp.tasks.assemble import assemble, make_datamodule
from cnnexp.tasks.predict import _device as predict_device
from cnnexp.train.instantiate import Target
from cnnexp.train.launch import ddp_processes
from cnnexp.train.memory import check_fits, device_memory
from cnnexp.train.module import Classifier
from cnnexp.train.notices import device_text
from cnnexp.train.precision import auto_precision
from cnnexp.train.speed import SpeedUp
from cnnexp.train.throughput import Throughput

Fake = Callable[..., FakeCuda]
Tiny = Callable[..., DictConfig]


def on(device: str, world_size: int = 1) -> SimpleNamespace:
    """What cnnexp's callbacks and data module read from a Trainer whose processes train on `device`."""
    strategy = SimpleNamespace(root_device=torch.device(device))
    return SimpleNamespace(
        strategy=strategy, world_size=world_size, global_rank=0, current_epoch=0, num_training_batches=3
    )


@pytest.mark.parametrize(("spec", "precision"), [(H100_X2, "bf16-mixed"), (V100, "16-mixed")])
def test_precision_auto_is_bf16_where_the_gpu_has_it_else_fp16(
    fake_cuda: Fake, tiny_cfg: Tiny, spec: str, precision: str
) -> None:
    fake_cuda(spec)
    assert auto_precision("gpu") == auto_precision("auto") == precision
    assert auto_precision("cpu") == "32-true"  # trainer.accelerator=cpu on a GPU machine
    args = read_run(tiny_cfg("trainer.gpus=1")).trainer.args
    assert (args["accelerator"], args["devices"], args["strategy"], args["precision"]) == ("gpu", 1, "auto", precision)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("trainer.gpus=4",), "trainer.gpus=4 asks for 4 GPU(s) but this machine has only 2; run on the CPU instead"),
        (
            ("trainer.accelerator=gpu", "trainer.devices=3"),
            "trainer.accelerator=gpu asks for 3 GPU(s) but this machine has only 2;",
        ),
    ],
)
def test_more_gpus_than_the_machine_has_is_a_config_error(
    fake_cuda: Fake, tiny_cfg: Tiny, overrides: tuple[str, ...], message: str
) -> None:
    fake_cuda(H100_X2)
    with pytest.raises(ConfigError) as refused:
        read_run(tiny_cfg(*overrides))
    assert str(refused.value).startswith(message)


def test_a_plain_run_on_a_machine_with_two_gpus_trains_on_one(fake_cuda: Fake, tiny_cfg: Tiny) -> None:
    """Lightning's devices=auto would take both and start a DDP process of its own that re-runs the command."""
    fake_cuda(H100_X2)
    exp = assemble(read_run(tiny_cfg()))
    assert isinstance(exp.trainer.accelerator, CUDAAccelerator)
    assert isinstance(exp.trainer.strategy, SingleDeviceStrategy) and exp.trainer.num_devices == 1
    assert exp.trainer.precision == "bf16-mixed"


def test_ddp_without_a_device_count_starts_a_process_per_gpu(fake_cuda: Fake) -> None:
    fake_cuda(H100_X2)
    for devices in (None, "auto", -1):
        assert ddp_processes({"strategy": "ddp", "accelerator": "gpu", "devices": devices}) == 2
    assert ddp_processes({"strategy": "ddp", "accelerator": "cuda"}) == 2
    assert ddp_processes({"strategy": "ddp", "accelerator": "cpu"}) == 1


def test_the_memory_checked_is_the_gpu_the_run_trains_on(fake_cuda: Fake) -> None:
    fake_cuda(H100_X2)
    assert device_memory({"accelerator": "gpu", "devices": [1]}) == (80 * GIB, "GPU 1 (NVIDIA H100 80GB HBM3)")
    assert device_memory({"accelerator": "auto"}) == (80 * GIB, "GPU 0 (NVIDIA H100 80GB HBM3)")


def test_a_model_too_big_for_the_gpu_is_refused_with_the_gpu_named(fake_cuda: Fake) -> None:
    fake_cuda(V100)
    params = 2 * 10**9  # 8 GB of weights fit in 16 GiB; with gradients and Adam's two moments, 32 GB do not
    check_fits("big", params, params, Target("torch.optim.Adam"), {"accelerator": "gpu", "devices": 1}, training=False)
    with pytest.raises(ConfigError) as refused:
        check_fits(
            "big", params, params, Target("torch.optim.Adam"), {"accelerator": "gpu", "devices": 1}, training=True
        )
    assert str(refused.value).startswith(
        "model=big has 2,000,000,000 parameters: its weights, gradients and Adam's 2 state buffer(s) need 29.8 GiB "
        "(16 bytes per parameter) before any activations, but GPU 0 (Tesla V100-SXM2-16GB) has 16.0 GiB."
    )


def test_tf32_and_channels_last_follow_a_cuda_device_and_tf32_is_restored(fake_cuda: Fake) -> None:
    fake_cuda(H100_X2)
    before = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    net = nn.Conv2d(3, 8, 3)
    speed = SpeedUp()
    speed.setup(on("cuda:0"), net, "fit")  # type: ignore[arg-type]
    assert speed.applied == ["channels_last", "tf32"]
    assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32) == ("high", True)
    assert net.weight.is_contiguous(memory_format=torch.channels_last)
    speed.teardown(on("cuda:0"), net, "fit")  # type: ignore[arg-type]
    assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32) == before
    off = SpeedUp(tf32=False)
    off.setup(on("cuda:0"), nn.Conv2d(3, 8, 3), "fit")  # type: ignore[arg-type]
    assert off.applied == ["channels_last"] and torch.backends.cudnn.allow_tf32 is False
    off.teardown(on("cuda:0"), net, "fit")  # type: ignore[arg-type]


def test_streamed_batches_are_pinned_for_a_gpu_only(fake_cuda: Fake, tiny_cfg: Tiny) -> None:
    fake_cuda(H100_X2)
    run = read_run(tiny_cfg("data.in_memory=false"))
    pinned = {}
    for device in ("cuda:0", "cpu"):
        datamodule = make_datamodule(run)
        datamodule.trainer = on(device)  # type: ignore[assignment]
        datamodule.prepare_data()
        datamodule.setup("fit")
        pinned[device] = (datamodule.train_dataloader().pin_memory, datamodule.val_dataloader().pin_memory)
    assert pinned == {"cuda:0": (True, True), "cpu": (False, False)}


def test_the_run_names_the_cpu_with_its_threads() -> None:
    assert device_text(on("cpu")) == f"cpu ({torch.get_num_threads()} threads)"


def test_the_run_names_the_gpu_it_trains_on_with_its_processes(fake_cuda: Fake) -> None:
    fake_cuda(H100_X2)
    assert device_text(on("cuda:1", world_size=2)) == "cuda:1 (NVIDIA H100 80GB HBM3) × 2 processes"
    assert device_text(on("cuda:0")) == "cuda:0 (NVIDIA H100 80GB HBM3)"


def test_the_throughput_clock_waits_for_the_gpu_once_at_each_end_of_an_epoch(fake_cuda: Fake) -> None:
    fake = fake_cuda(H100_X2)
    meter, trainer, module = Throughput(), on("cuda:1"), SimpleNamespace(device=torch.device("cuda", 1))
    batch = (torch.zeros(4, 1), torch.zeros(4))
    for idx in range(trainer.num_training_batches):
        meter.on_train_batch_start(trainer, module, batch, idx)  # type: ignore[arg-type]
        meter.on_train_batch_end(trainer, module, None, batch, idx)  # type: ignore[arg-type]
    meter.on_train_epoch_end(trainer, module)  # type: ignore[arg-type]
    assert fake.synchronized == [1, 1]  # before the first step, after the last: never per step
    assert meter.images == 12


def test_checkpoints_carry_the_random_state_of_every_gpu(fake_cuda: Fake) -> None:
    fake = fake_cuda(H100_X2)
    module = Classifier(nn.Linear(4, 10), 10, optimizer=lambda params: torch.optim.SGD(params, lr=0.1))
    checkpoint: dict = {}
    module.on_save_checkpoint(checkpoint)
    assert [int(state[0]) for state in checkpoint["rng"]["cuda"]] == [0, 1]
    torch.cuda.set_rng_state_all([torch.full((16,), 9, dtype=torch.uint8)] * 2)  # training draws on
    module.on_load_checkpoint(checkpoint)  # a resumed run draws what the uninterrupted one would
    assert [int(state[0]) for state in fake.rng] == [0, 1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without GPUs")
def test_without_gpus_checkpoints_carry_no_gpu_state_and_need_none() -> None:
    module = Classifier(nn.Linear(4, 10), 10, optimizer=lambda params: torch.optim.SGD(params, lr=0.1))
    checkpoint: dict = {}
    module.on_save_checkpoint(checkpoint)
    assert list(checkpoint["rng"]) == ["torch"]
    module.on_load_checkpoint(
        {**checkpoint, "rng": {**checkpoint["rng"], "cuda": [torch.zeros(16, dtype=torch.uint8)]}}
    )


def test_predict_runs_on_the_gpu_unless_the_cpu_is_asked_for(fake_cuda: Fake, tiny_cfg: Tiny) -> None:
    fake_cuda(H100_X2)
    assert predict_device(read_run(tiny_cfg())) == torch.device("cuda")
    assert predict_device(read_run(tiny_cfg("trainer.accelerator=cpu"))) == torch.device("cpu")
