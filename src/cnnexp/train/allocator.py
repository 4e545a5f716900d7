"""Freed memory kept in the process between training steps (Linux, glibc): `keep_freed_memory`.

torch allocates a CPU tensor with the C library's malloc. glibc hands memory that is free at the top of its
heap back to the system once more than its trim threshold (a few MiB, adjusted as it goes) is free there, and
serves large blocks from fresh mappings; a training step frees its activations and gradients and allocates
them again at the next step. Depending on how the heap happens to lie, each step then faults its pages in
anew: on the development CPU, LeNet5 at batch 128 ran between 1 and 5,700 minor page faults per step from one
run to the next, 20 to 31 ms per step (docs/benchmarks.md). With a fixed trim threshold of 1 GiB and
blocks up to 32 MiB (glibc's own ceiling for its adaptive threshold) served from the heap, the memory a step
frees is there for the next: 1 to 4 faults per step, 19.5 to 22.8 ms, for every run.

The setting is process-wide, and glibc cannot say what it was, so it is made once and kept. It is left alone
where the user has tuned the allocator (MALLOC_* variables, GLIBC_TUNABLES, or another allocator preloaded:
jemalloc, tcmalloc) and where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
TRIM_BYTES = 1 << 30  # free memory the heap may keep at its top
MMAP_BYTES = 32 << 20  # blocks below this come from the heap (glibc's ceiling for its adaptive threshold)
USER_TUNING = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")

_done: bool | None = None  # None: not tried yet in this process; then whether the setting was made
_why = ""  # why it was not made


def keep_freed_memory() -> bool:
    """Set glibc to keep freed memory for the next step, once per process; whether it is set."""
    global _done, _why
    if _done is None:
        chosen = _tuned_by_user()
        libc = None if chosen else _glibc()
        _done = _set(libc)
        if not _done:
            _why = (
                f"you chose the allocator ({chosen})" if chosen
                else "the C library is not glibc" if libc is None
                else "glibc refused the values"
            )  # fmt: skip
    return _done


def why_not() -> str:
    """Why keep_freed_memory did not make the setting ('' if it did, or was not called)."""
    return _why  # set only when the setting was not made


def _tuned_by_user() -> str | None:
    """The variable by which the user chose the allocator's behaviour, if any."""
    preload = os.environ.get("LD_PRELOAD", "")
    if any(name in preload for name in ("jemalloc", "tcmalloc", "mimalloc")):
        return "LD_PRELOAD"
    return next((name for name in USER_TUNING if name in os.environ), None)


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None)  # the symbols the process has loaded, the C library's among them
    return libc if hasattr(libc, "gnu_get_libc_version") else None  # glibc's alone (not musl's)


def _set(libc: ctypes.CDLL | None) -> bool:
    if libc is None:
        return False
    # mallopt returns 1 on success; the trim threshold is set only once the (fixed) mmap threshold took.
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))
