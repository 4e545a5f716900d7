"""A lock file that marks a folder as in use by a running process.

The mark is an exclusive `flock` on the file, not the file itself: the kernel drops it when the holder ends,
however it ends (kill -9 included), so a lock left by a dead process is never mistaken for a live one. The
file holds the holder's pid, host and start time for the message another process shows.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path


class FolderLock:
    """`acquire()` takes the lock or says False when another process holds it; `release()` removes the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            # The holder before us may have removed the file between our open and our flock: then we hold a
            # lock on a file nobody else will ever open; start again on the file now at that path.
            if self._same_file(fd):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}\n".encode())
        self._fd = fd
        return True

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        """Remove the file (while still holding it, so no one takes a lock on a file that is going away)."""
        if self._fd is None:
            return
        if self._same_file(self._fd):
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> str:
        """Who holds it, as its file says ("another process" when unreadable)."""
        try:
            return self.path.read_text().strip() or "another process"
        except OSError:
            return "another process"
