"""GPUs as torch reports them, on a machine without any: the CUDA boundary (torch.cuda) faked for tests.

CNNEXP_FAKE_CUDA="2:NVIDIA H100 80GB HBM3:9.0:bf16:80GiB" (count:name:capability:bf16|fp16:memory) describes the
machine. The `fake_cuda` fixture (tests/conftest.py) installs it in the test's process and sets the variable, and
sitecustomize.py beside this file installs it in every Python process the test starts (the DDP ranks cnnexp
starts, the joblib workers of a parallel sweep): the whole run sees the same GPUs.

torch.cuda answers as that machine would, and nothing runs on a GPU: Lightning's CUDA accelerator is replaced by
one whose devices are the CPU, so Lightning still chooses the strategy, the devices and the precision plugin as
on those GPUs. Each Trainer built records what it was asked for (and the DDP variables of its process) as one
JSON line in $CNNEXP_FAKE_CUDA_LOG: the test reads cnnexp's decisions in every process from there.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

ENV, LOG_ENV = "CNNEXP_FAKE_CUDA", "CNNEXP_FAKE_CUDA_LOG"
H100_X2 = "2:NVIDIA H100 80GB HBM3:9.0:bf16:80GiB"
V100 = "1:Tesla V100-SXM2-16GB:7.0:fp16:16GiB"  # Volta: no bfloat16
DDP_ENV = ("LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")
ASKED = ("accelerator", "devices", "strategy", "precision")
SPEC = re.compile(r"(?P<count>\d+):(?P<name>[^:]+):(?P<major>\d+)\.(?P<minor>\d+):(?P<bf16>bf16|fp16):(?P<gib>\d+)GiB")
GIB = 2**30


class Patcher(Protocol):
    """pytest's MonkeyPatch (undone after the test), or `Permanent` (a process started with the fake)."""

    def setattr(self, target: Any, name: str, value: Any) -> None: ...
    def setitem(self, mapping: Any, name: Any, value: Any) -> None: ...


class Permanent:
    def setattr(self, target: Any, name: str, value: Any) -> None:
        setattr(target, name, value)

    def setitem(self, mapping: Any, name: Any, value: Any) -> None:
        mapping[name] = value


@dataclass(frozen=True)
class Properties:
    """torch.cuda.get_device_properties(i), as far as code reads it."""

    name: str
    major: int
    minor: int
    total_memory: int


@dataclass
class FakeCuda:
    count: int
    name: str
    capability: tuple[int, int]
    bf16: bool
    memory: int  # bytes per GPU
    synchronized: list[int] = field(default_factory=list)  # the GPUs torch.cuda.synchronize was called for
    rng: list[torch.Tensor] = field(default_factory=list)  # one generator state per GPU

    @classmethod
    def parse(cls, text: str) -> FakeCuda:
        found = SPEC.fullmatch(text)
        if found is None:
            raise ValueError(f"{ENV}={text!r}: expected COUNT:NAME:MAJOR.MINOR:bf16|fp16:NGiB, e.g. {H100_X2!r}")
        count, capability = int(found["count"]), (int(found["major"]), int(found["minor"]))
        fake = cls(count, found["name"], capability, found["bf16"] == "bf16", int(found["gib"]) * GIB)
        fake.rng = [torch.full((16,), i, dtype=torch.uint8) for i in range(count)]  # told apart by their bytes
        return fake

    def index(self, device: Any = None) -> int:
        """The GPU `device` names (None, 1, "cuda:1", torch.device("cuda", 1)); a GPU the machine lacks is an error."""
        if device is None:
            return 0
        if isinstance(device, (str, torch.device)):
            device = torch.device(device)
            if device.type != "cuda":
                raise ValueError(f"fake CUDA: {device} is not a CUDA device")
            device = device.index or 0
        if not 0 <= int(device) < self.count:
            raise ValueError(f"fake CUDA: GPU {device} asked for, but the machine has {self.count}")
        return int(device)

    def properties(self, device: Any = None) -> Properties:
        self.index(device)
        return Properties(self.name, *self.capability, self.memory)

    def device_capability(self, device: Any = None) -> tuple[int, int]:
        self.index(device)
        return self.capability

    def synchronize(self, device: Any = None) -> None:
        self.synchronized.append(self.index(device))

    def set_rng_state_all(self, states: list[torch.Tensor]) -> None:
        self.rng = [state.clone() for state in states]

    def install(self, patch: Patcher) -> FakeCuda:
        cuda = torch.cuda
        answers = {
            "is_available": lambda: self.count > 0,
            "device_count": lambda: self.count,
            "get_device_name": lambda device=None: self.properties(device).name,
            "get_device_capability": self.device_capability,
            "get_device_properties": self.properties,
            "is_bf16_supported": lambda including_emulation=True: self.bf16,
            "mem_get_info": lambda device=None: (self.properties(device).total_memory,) * 2,
            "synchronize": self.synchronize,
            "get_rng_state_all": lambda: [state.clone() for state in self.rng],
            "set_rng_state_all": self.set_rng_state_all,
        }
        for name, answer in answers.items():
            patch.setattr(cuda, name, answer)
        # torch's own tensor machinery (torch.optim asks it for a stream) sees no accelerator: tensors stay on the CPU.
        patch.setattr(torch.accelerator, "current_accelerator", lambda check_available=False: None)
        _lightning_on_the_cpu(self, patch)
        return self

    def record(self, kwargs: dict[str, Any]) -> None:
        """One JSON line for a Trainer being built: its GPU arguments and this process's DDP variables."""
        path = os.environ.get(LOG_ENV)
        if not path:
            return
        asked, env = {k: kwargs.get(k) for k in ASKED}, {k: os.environ.get(k) for k in DDP_ENV}
        with open(path, "a") as log:
            log.write(json.dumps({"pid": os.getpid(), "asked": asked, "env": env}) + "\n")


def _lightning_on_the_cpu(fake: FakeCuda, patch: Patcher) -> None:
    """Lightning's "cuda" accelerator, replaced by one whose devices are the CPU; Trainers record their arguments."""
    import pytorch_lightning as pl
    from pytorch_lightning.accelerators import AcceleratorRegistry, CUDAAccelerator

    class CpuForCuda(CUDAAccelerator):
        """Chosen, parsed and counted as the faked GPUs (the parent's logic); set up and run as the CPU."""

        def setup_device(self, device: torch.device) -> None:
            if device.type != "cpu":
                raise ValueError(f"fake CUDA: Lightning was to train on {device}")

        def setup(self, trainer: pl.Trainer) -> None:
            pass

        def teardown(self) -> None:
            pass

        @staticmethod
        def get_parallel_devices(devices: list[int]) -> list[torch.device]:
            return [torch.device("cpu") for _ in devices]

    # The entry's own dict: the registry's get() builds an accelerator, so MonkeyPatch could not undo a new entry.
    patch.setitem(AcceleratorRegistry["cuda"], "accelerator", CpuForCuda)
    build = pl.Trainer.__init__

    def init(trainer: pl.Trainer, *args: Any, **kwargs: Any) -> None:
        fake.record(kwargs)
        build(trainer, *args, **kwargs)

    patch.setattr(pl.Trainer, "__init__", init)


def install_from_env() -> FakeCuda | None:
    """The fake described by $CNNEXP_FAKE_CUDA, installed for good in this process (None when unset)."""
    text = os.environ.get(ENV)
    return FakeCuda.parse(text).install(Permanent()) if text else None


def trainers_built(log: Path) -> list[dict[str, Any]]:
    """Every Trainer built under the fake, in every process, in the order built: pid, `asked`, `env`."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
