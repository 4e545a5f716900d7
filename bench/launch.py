"""A minimal launcher: `python -I -S launch.py LOG PROGRAM ARGS...` runs one measured process.

Why a launcher: Linux charges a child's ru_maxrss with the resident size of the process it was forked from
(exec records the old address space's high-water mark). Spawned from the benchmark, which holds torch and
a dataset, every child would seem to peak near the benchmark's own size. Spawned from this process, which
imports nothing but builtins, the floor is a few MiB, the same for both sides.

Prints `started seconds peak_bytes exit_code` on one line: the wall-clock start, the wall time, the child's
own peak RSS, its exit code.
"""

import os
import sys
import time


def main() -> None:
    log, program = sys.argv[1], sys.argv[2:]
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    actions = [(os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)]
    started = time.time()
    pid = os.posix_spawn(program[0], program, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.time() - started
    print(repr(started), repr(seconds), usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status))  # KiB on Linux


if __name__ == "__main__":
    main()
