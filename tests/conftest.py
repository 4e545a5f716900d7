"""Shared fixtures: the real conf/ composed with hydra.compose, as the command line would compose it."""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fake_cuda import DDP_ENV, ENV, H100_X2, LOG_ENV, FakeCuda
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, open_dict
from support import CONF, CUDA_SITE, TINY, TINY_PICTURES, Compose, Trained, Typed

from cnnexp.app import main
from cnnexp.cli.configdirs import command_line
from cnnexp.cli.invocation import from_hydra
from cnnexp.schemas import register_schemas


@pytest.fixture(autouse=True, scope="session")
def _cuda_site_in_started_processes() -> Iterator[None]:
    """Every process a test starts imports tests/cuda_site/sitecustomize.py: one started by a test that uses
    `fake_cuda` sees the test's fake GPUs; any other, none (the module does nothing without CNNEXP_FAKE_CUDA)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(CUDA_SITE), os.environ.get("PYTHONPATH")])))
        yield


@pytest.fixture(autouse=True, scope="session")
def _bytecode_kept_by_started_processes() -> Iterator[None]:
    """The processes the tests start (about 70 `python` processes per run, DDP ranks and launchers' workers
    included) keep the bytecode of cnnexp and of the test code they compile, as a user's shell does.

    With PYTHONDONTWRITEBYTECODE=1 (set on the development and CI machines) each of them compiled all of src/
    again: 0.8 of its 9.5 s of imports on a slow 2-core AMD EPYC. The files land in __pycache__/, which git
    ignores and the wheel leaves out."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
        yield


@pytest.fixture(autouse=True, scope="session")
def _a_core_per_worker() -> Iterator[None]:
    """Each pytest-xdist worker, and every process it starts, gets its share of the cores as torch threads.

    torch sizes its thread pool to every core of the machine, so `-n 2` on two cores ran four compute threads on
    two cores, and a test's DDP ranks two more each: oversubscribed, the heavy tests (the large models' forward
    and backward, the exports) took a third longer. Outside xdist torch keeps its own choice."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers < 1:
        yield
        return
    import torch

    threads = max(1, (os.cpu_count() or 1) // workers)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", str(threads))  # read by torch when a started process imports it
        yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def onnx_table_once() -> Iterator[None]:
    """torch.onnx's exporter builds its table of ATen-to-ONNX functions afresh for every export: 0.7-0.9 s here,
    onnxscript reading the source of about 500 functions each time. A cnnexp process exports once; a test worker
    exports dozens of times (the layer search of a failing export once per layer), so the table is built once per
    worker and each export gets a copy of its own, the same entries torch would have built."""
    if importlib.util.find_spec("onnxscript") is None:  # without the onnx extra the ONNX tests skip
        yield
        return
    from torch.onnx._internal.exporter import _registration

    registry = _registration.ONNXRegistry
    build = registry.from_torchlib.__func__  # type: ignore[attr-defined]
    built: dict[tuple[object, ...], _registration.ONNXRegistry] = {}

    def from_torchlib(cls: type[_registration.ONNXRegistry], *args: object, **kwargs: object) -> object:
        key = (*args, *sorted(kwargs.items()))
        if key not in built:
            built[key] = build(cls, *args, **kwargs)
        copied = copy.copy(built[key])
        copied.functions = {op: list(metas) for op, metas in built[key].functions.items()}
        return copied

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "from_torchlib", classmethod(from_torchlib))
        yield


@pytest.fixture
def joblib_workers_end() -> Iterator[None]:
    """For a test that runs a launcher=local_parallel sweep in-process: joblib keeps its worker processes for the
    next sweep of the process, with the environment they started with (this test's folders, fake GPUs); they end
    with the test instead."""
    yield
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., FakeCuda]:
    """fake_cuda(spec=H100_X2) -> the machine's GPUs as `spec` describes them (tests/cuda_site/fake_cuda.py), in
    this process and in every process the test starts, undone after the test. Nothing runs on a GPU: Lightning
    trains on the CPU, and each Trainer's arguments are recorded in tmp_path/fake_cuda.jsonl (`trainers_built`)."""

    def install(spec: str = H100_X2) -> FakeCuda:
        monkeypatch.setenv(ENV, spec)
        monkeypatch.setenv(LOG_ENV, str(tmp_path / "fake_cuda.jsonl"))
        for key in (*DDP_ENV, "SLURM_NTASKS", "SLURM_JOB_NAME"):  # as a plain shell has it: not a DDP child
            monkeypatch.delenv(key, raising=False)
        return FakeCuda.parse(spec).install(monkeypatch)

    return install


@pytest.fixture(scope="session")
def compose_cfg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    """compose_cfg("model=alexnet", ...) -> the composed config, as `python -m cnnexp ...` would see it.

    Outside a Hydra run there is no hydra.runtime.output_dir for `output_dir` to follow: a session folder
    stands in (an `output_dir=` override given to `run` wins)."""
    register_schemas()
    scratch = tmp_path_factory.mktemp("composed")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        composed: dict[tuple[str, ...], DictConfig] = {}
        parser = OverridesParser.create()

        def run(*overrides: str) -> DictConfig:
            # Read as the command line reads them (GROUP=null drops a group).
            given = command_line(overrides)
            # Hydra takes 0.2 s to compose, and most tests' overrides differ from others' only in output_dir: the
            # config of the other overrides is composed once, and each call gets a copy with its output_dir, read
            # as Hydra reads that override (the default's `${output_dir}/...` values follow it when they are read).
            rest = tuple(o for o in given if not o.startswith("output_dir="))
            if rest not in composed:
                composed[rest] = compose(config_name="config", overrides=[f"output_dir={scratch}", *rest])
            cfg = copy.deepcopy(composed[rest])
            outputs = [o for o in given if o.startswith("output_dir=")]
            if outputs:
                cfg.output_dir = parser.parse_overrides(outputs[-1:])[0].value()
            return cfg

        yield run


@pytest.fixture
def tiny_cfg(compose_cfg: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., DictConfig]:
    """tiny_cfg("model=alexnet_small", ...): the real config, small and fast, writing under tmp_path; without the
    pictures unless `pictures=True`."""
    monkeypatch.setenv("CNNEXP_DATA", str(tmp_path.parent / "data"))  # the rendered digits are shared by tests

    def make(*overrides: str, run: str = "run", pictures: bool = False) -> DictConfig:
        return compose_cfg(*(TINY_PICTURES if pictures else TINY), f"output_dir={tmp_path / run}", *overrides)

    return make


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str]]:
    """cli(*args) -> (exit code, stderr) of `python -m cnnexp ARGS` run in tmp_path, in this process; cli.out is
    what the last call printed to stdout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNEXP_DATA", str(tmp_path.parent / "data"))
    for key in ("HYDRA_FULL_ERROR", "CNNEXP_HYDRA_FULL_ERROR"):
        monkeypatch.delenv(key, raising=False)

    def run(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["cnnexp", *args])
        capsys.readouterr()
        # As a fresh process has it: no Hydra set up yet (compose_cfg holds one for the whole session), and
        # afterwards as this process had it: no Hydra run's config or signal handlers left for later tests.
        held, run_cfg = GlobalHydra.instance().hydra, HydraConfig.instance().cfg
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        root = logging.getLogger()
        logging_was = (root.handlers[:], root.level)  # Hydra's job logging would keep writing to this run's log
        GlobalHydra.instance().clear()
        try:
            main()
            code = 0
        except SystemExit as ended:
            code = int(ended.code or 0)
        finally:
            GlobalHydra.instance().hydra, HydraConfig.instance().cfg = held, run_cfg
            for handler in root.handlers:
                if handler not in logging_was[0]:
                    handler.close()
            root.handlers[:], root.level = logging_was
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        printed = capsys.readouterr()
        run.out = printed.out  # type: ignore[attr-defined]  # its stdout, for the tests that read it: cli.out
        return code, printed.err

    return run


@pytest.fixture
def typed(compose_cfg: Compose, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Typed]]:
    """typed("task=test", ...): the tiny config as `python -m cnnexp ...` composes it, with the Invocation the
    door reads from Hydra's state (the overrides as typed): `run_job(*typed(...))`."""
    monkeypatch.setenv("CNNEXP_DATA", str(tmp_path.parent / "data"))

    def make(*overrides: str, run: str = "run") -> Typed:
        cfg = compose(
            config_name="config",
            overrides=[*TINY, f"output_dir={tmp_path / run}", *overrides],
            return_hydra_config=True,
        )
        HydraConfig.instance().set_config(cfg)
        try:
            started = from_hydra()  # the door's own reader, as in a real run
        finally:
            HydraConfig.instance().cfg = None
        with open_dict(cfg):
            del cfg["hydra"]
        return Typed(cfg, started)

    yield make


@pytest.fixture(scope="session")
def trained(compose_cfg: Compose, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """LeNet5 with tanh (the YAML says relu, so a test that ignores the record gets another network), trained one
    tiny epoch, once per session: what the checkpoint tests start from."""
    from cnnexp.app import run_job

    base = tmp_path_factory.getbasetemp()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNNEXP_DATA", str(base / "data"))  # the folder tiny_cfg and typed use too
        cfg = compose_cfg(*TINY, f"output_dir={base / 'trained'}", "model.activation=tanh")
        run_job(cfg)
    metrics = json.loads((base / "trained" / "metrics.json").read_text())
    return Trained(Path(metrics["checkpoint"]), base / "trained", metrics)
