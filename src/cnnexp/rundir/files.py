"""Files in a run's folder written so that a reader never sees half of one: through a temporary file beside it,
renamed into place; a full disk is one paragraph (NoSpace), not a traceback. metrics.json, run.json and the
exports go through here."""

from __future__ import annotations

import errno
import json
import math
import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from cnnexp.errors import UserFacingError

# torch's zip writer reports a failed write (a full disk, a quota) with these words, not with an errno.
TORCH_WRITE_FAILED = ("unexpected pos", "file write failed")


class NoSpace(UserFacingError):
    """A file could not be written because its disk is full (or a quota refused it)."""


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Write through a temporary file beside `path` (`.NAME.<random>.tmp`), then rename it into place.

    A reader never sees half a file and a kill during the write leaves the previous one whole. The file gets
    the usual mode (0666 less the umask), as any file the user writes; a full disk becomes NoSpace.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:
        tmp.unlink(missing_ok=True)
        if _out_of_space(err):
            raise NoSpace(_no_space(path, err)) from None
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _out_of_space(err: BaseException) -> bool:
    if isinstance(err, OSError):
        return err.errno in (errno.ENOSPC, errno.EDQUOT)
    return any(words in str(err) for words in TORCH_WRITE_FAILED)


def _no_space(path: Path, err: BaseException) -> str:
    free = shutil.disk_usage(path.parent).free / 2**20
    return (
        f"cannot write {path}: the disk is full or a quota refused the write ({free:.1f} MiB free there; "
        f"{str(err).splitlines()[0].strip()}). The file it would have replaced is intact. Free some space, or "
        f"point hydra.run.dir (hydra.sweep.dir for sweeps) at another disk."
    )


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Strict JSON, written atomically: NaN and infinities become null (JSON has no such numbers)."""
    text = json.dumps(_finite(data), indent=2, allow_nan=False) + "\n"
    atomic_write(path, lambda handle: handle.write(text.encode()))


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; {} when the file is missing, unreadable or holds something else."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
