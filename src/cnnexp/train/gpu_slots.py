"""One GPU per job when several sweep jobs run side by side on one machine (launcher=local_parallel).

Jobs of a joblib sweep run in worker processes that know nothing of each other. Each job that wants one GPU
takes the lowest-numbered GPU whose lock file it can lock, and holds the lock until it ends: jobs that start
as others finish always land on a free GPU, whatever order they end in. The lock is released by the
operating system if the job dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_DIR = Path(tempfile.gettempdir()) / "cnnexp-gpu-locks"


@contextlib.contextmanager
def gpu_slot(count: int, poll_s: float = 1.0) -> Iterator[int]:
    """Wait for a free GPU among `count`, hold it for the block, and give its index."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    while True:
        for index in range(count):
            handle = open(LOCK_DIR / f"gpu{index}.lock", "w")  # noqa: SIM115 (held for the whole block)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            try:
                handle.write(str(os.getpid()))
                handle.flush()
                yield index
                return
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
        time.sleep(poll_s)
