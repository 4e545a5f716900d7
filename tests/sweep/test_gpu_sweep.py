"""A parallel sweep on a machine with two fake GPUs (tests/cuda_site/fake_cuda.py): each job of
launcher=local_parallel with trainer.gpus=1 trains on a GPU it holds (train/gpu_slots.py), not on GPU 0 for all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fake_cuda import H100_X2, FakeCuda, trainers_built
from helpers import metrics
from support import Cli, job_overrides


@pytest.mark.slow
def test_each_job_of_a_parallel_sweep_trains_on_a_gpu_it_holds(
    fake_cuda: Callable[..., FakeCuda],
    tmp_path: Path,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    joblib_workers_end: None,
) -> None:
    # The sweep runs in this process (`cli`); its jobs in joblib's workers, processes that start with this
    # environment: the fake GPUs, and TMPDIR, where they keep this sweep's GPU locks, apart from any other test's
    # or user's on this machine.
    fake_cuda(H100_X2)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    sweep = tmp_path / "sweep"
    args = ("-m", "launcher=local_parallel", "trainer.gpus=1", "seed=1,2", "debug=fdr",
            "trainer.enable_progress_bar=false", f"hydra.sweep.dir={sweep}")  # fmt: skip
    code, err = cli(*args)
    assert code == 0, err[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [[o for o in job_overrides(job) if o.startswith("seed=")] for job in jobs] == [["seed=1"], ["seed=2"]]
    assert all(metrics(job)["status"] == "ok" for job in jobs)
    built = trainers_built(tmp_path / "fake_cuda.jsonl")
    assert len(built) == 2 and len({b["pid"] for b in built}) == 2  # one Trainer per job, each in a joblib worker
    for trainer in built:
        asked = trainer["asked"]
        assert (asked["accelerator"], asked["strategy"], asked["precision"]) == ("gpu", "auto", "bf16-mixed")
        assert asked["devices"] in ([0], [1])  # the one GPU the job holds, by index
    held = {f"gpu{b['asked']['devices'][0]}.lock" for b in built}
    assert held <= {p.name for p in (tmp_path / "cnnexp-gpu-locks").iterdir()}
