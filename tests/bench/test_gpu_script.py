"""bench/gpu.py: which pinned packages a bare GPU machine gets from .whl/, and which it must bring itself."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from support import ROOT


def _gpu_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_script", ROOT / "bench" / "gpu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_carried_wheels_are_the_lock_less_torch_and_the_test_tools() -> None:
    names = {pin.split("==")[0].lower() for pin in _gpu_script().pinned()}
    assert {
        "hydra-core",
        "omegaconf",
        "antlr4-python3-runtime",
        "pytorch-lightning",
        "torchmetrics",
        "tensorboard",
    } <= names
    assert not names & {
        "torch",
        "torchvision",
        "triton",
        "numpy",
        "pillow",
        "pytest",
        "hypothesis",
        "pytest-cov",
        "coverage",
    }
    assert not any(name.startswith(("nvidia-", "cuda-")) for name in names)


def test_only_packages_that_are_not_installed_are_missing() -> None:
    gpu = _gpu_script()
    assert gpu.missing(["omegaconf==0.0.1", "no-such-package-cnnexp==1.0"]) == ["no-such-package-cnnexp==1.0"]
