"""DDP processes started by cnnexp, so that `strategy=ddp` works in single runs and inside `-m` sweeps.

Lightning's own subprocess launcher re-runs `sys.argv` in each child: under a Hydra multirun every child
would then run the whole sweep. Instead cnnexp starts the other ranks itself, torchrun-style: each child
runs exactly this Hydra job (its overrides, its output folder) as a single run, with LOCAL_RANK, WORLD_SIZE,
MASTER_ADDR and MASTER_PORT in its environment. Lightning sees those variables, knows the processes were
created externally, and launches nothing. When the job ends its children exit and the process group is
destroyed, so the sweep's next job starts with fresh processes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.distributed as dist
from lightning_fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

from cnnexp.config.invocation import Invocation
from cnnexp.rundir.names import override

DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")

log = logging.getLogger(__name__)


def ddp_processes(trainer: Mapping[str, Any]) -> int:
    """How many processes cnnexp must start on this node for these Trainer arguments (1: none to start)."""
    if trainer.get("strategy") != "ddp" or int(trainer.get("num_nodes") or 1) > 1:
        return 1
    if "LOCAL_RANK" in os.environ or SLURMEnvironment.detect() or TorchElasticEnvironment.detect():
        return 1  # a child, or processes made by srun / torchrun: nothing to start
    devices = trainer.get("devices")
    if isinstance(devices, int) and devices > 0:
        return devices
    if devices in (None, "auto", -1) and str(trainer.get("accelerator")) in ("gpu", "cuda"):
        return torch.cuda.device_count()
    return 1


# What a collective raises when a peer's connection drops (gloo's words; NCCL raises torch's DistError kinds).
PEER_GONE = ("Connection reset by peer", "Connection closed by peer", "Broken pipe")
LOST_RANK_WAIT_S = 10.0  # how long a dropped connection gives the ranks to show which of them died


class Ranks:
    """The rank processes cnnexp started for this job (none without DDP), to tell whether one has died."""

    def __init__(self, children: list[subprocess.Popen[bytes]]) -> None:
        self.children = children

    def lost(self, err: BaseException, wait_s: float = LOST_RANK_WAIT_S) -> str:
        """The rank whose loss explains `err`, as dead() says it; '' when no rank died. A collective fails as soon as
        a killed peer's socket closes, which the kernel does before the peer's exit status can be read: for such an
        error the ranks get up to `wait_s` seconds to end (read at once, a killed rank still looked alive)."""
        if not self.children:
            return ""
        peer_gone = isinstance(err, dist.DistError) or any(text in str(err) for text in PEER_GONE)
        deadline = time.monotonic() + (wait_s if peer_gone else 0.0)
        while not (found := self.dead()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def dead(self) -> str:
        """'DDP rank 1 (pid 123) was killed by SIGKILL' for the first rank that ended badly; '' while all live."""
        for rank, child in enumerate(self.children, start=1):
            code = child.poll()
            if code not in (None, 0):
                how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
                return f"DDP rank {rank} (pid {child.pid}) {how}"
        return ""


@contextlib.contextmanager
def ddp_children(count: int, started: Invocation) -> Iterator[Ranks]:
    """Start ranks 1..count-1 as single runs of the job `started` describes; rank 0 is this process."""
    if count <= 1:
        yield Ranks([])
        return
    saved = {key: os.environ.get(key) for key in DDP_ENV}
    port = os.environ.get("MASTER_PORT") or str(_free_port())
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port, NODE_RANK="0", WORLD_SIZE=str(count), LOCAL_RANK="0")
    children = [_start(rank, started) for rank in range(1, count)]
    watcher = _Watcher(children)
    watcher.start()
    try:
        yield Ranks(children)
    finally:
        watcher.stop()
        _finish(children)
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def child_command(rank: int, started: Invocation) -> list[str]:
    """`python -m cnnexp <this job's overrides>` writing into this job's folder, as a single run, with this job's
    config folders (--config-dir, hydra.searchpath) and primary config."""
    return [
        sys.executable, "-m", "cnnexp", *started.child_arguments, *started.overrides,
        # Quoted as Hydra needs it: a sweep job's folder holds its overrides ("003_model=lenet5,seed=1"), and
        # an unquoted comma would make the child's override a sweep of its own.
        *([override("hydra.run.dir", str(started.job_dir))] if started.job_dir else []),
        "hydra.output_subdir=null",  # rank 0 already saved the config
        f"hydra.job.name=rank{rank}",
    ]  # fmt: skip


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(rank: int, started: Invocation) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LOCAL_RANK": str(rank)}
    return subprocess.Popen(child_command(rank, started), env=env, cwd=started.cwd)


def _finish(children: list[subprocess.Popen[bytes]], grace: float = 60.0) -> None:
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


class _Watcher(threading.Thread):
    """Stops rank 0 when a child dies, instead of leaving it waiting forever in a collective."""

    def __init__(self, children: list[subprocess.Popen[bytes]]) -> None:
        super().__init__(daemon=True)
        self.children, self._done = children, threading.Event()

    def run(self) -> None:
        while not self._done.wait(1.0):
            failed = [c for c in self.children if c.poll() not in (None, 0)]
            if failed:
                for child in self.children:
                    if child.poll() is None:
                        child.kill()
                # The ranks left stop on SIGTERM; the task then says which rank was lost and how to continue.
                log.warning(f"DDP rank process {failed[0].pid} exited with {failed[0].returncode}; stopping the others")
                os.kill(os.getpid(), signal.SIGTERM)
                return

    def stop(self) -> None:
        self._done.set()
