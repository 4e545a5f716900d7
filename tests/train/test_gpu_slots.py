"""GPU slots for parallel sweep jobs: running jobs never share a GPU, a finished job frees its GPU."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path
from typing import Any

import pytest

from cnnexp.train import gpu_slots


def _hold(lock_dir: str, seconds: float, out: mp.Queue[tuple[int, float, float]], ready: Any) -> None:
    gpu_slots.LOCK_DIR = Path(lock_dir)
    ready.wait()  # all ask at once: a job that started late would find the slots free again
    with gpu_slots.gpu_slot(2, poll_s=0.05) as index:
        start = time.monotonic()
        time.sleep(seconds)
        out.put((index, start, time.monotonic()))


def test_three_jobs_on_two_gpus_never_overlap_on_one(tmp_path: Path) -> None:
    # Forked: three processes of their own, each with its own lock files, without importing torch and the
    # tests again as a spawned process would (four seconds each); the children touch nothing but files.
    ctx = mp.get_context("fork")
    out, ready = ctx.Queue(), ctx.Barrier(3)
    jobs = [ctx.Process(target=_hold, args=(str(tmp_path), 1.0, out, ready)) for _ in range(3)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=60)
    held = sorted(out.get(timeout=5) for _ in jobs)
    assert {index for index, _, _ in held} == {0, 1}
    by_gpu: dict[int, list[tuple[float, float]]] = {}
    for index, start, end in held:
        by_gpu.setdefault(index, []).append((start, end))
    for spans in by_gpu.values():
        spans.sort()
        assert all(earlier[1] <= later[0] for earlier, later in zip(spans, spans[1:]))  # one job at a time


def test_the_slot_is_free_again_after_the_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_slots, "LOCK_DIR", tmp_path)
    with gpu_slots.gpu_slot(1) as first:
        pass
    with gpu_slots.gpu_slot(1) as again:
        assert (first, again) == (0, 0)
