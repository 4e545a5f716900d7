"""How a `python -m cnnexp` process ends: one paragraph and an exit code for every mistake, also those Hydra
finds before any task runs (a misspelled key, a missing option, a duplicate YAML key, a broken interpolation
in a folder name, a folder that cannot be made, a hydra.callbacks class it refuses or cannot build).

Exit codes: 0 success (every job of a sweep ok); 1 a bug (with its traceback) or a sweep with failed jobs of
different kinds; 2 a user mistake; 3 a training that failed (a loss that became NaN); 143 SIGTERM or Ctrl-C.
Hydra prints what it catches and exits 1; with HYDRA_FULL_ERROR=1 it raises it instead, which is documented
behaviour, so cnnexp sets it and explains the error itself. The user's own HYDRA_FULL_ERROR=1 still means
"show me the traceback" (kept in CNNEXP_HYDRA_FULL_ERROR, which DDP children inherit).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from cnnexp.config.explain import explain
from cnnexp.errors import Stop, UserFacingError
from cnnexp.report.callback import release_sweep_locks, running_sweep
from cnnexp.rundir.names import command, override, without
from cnnexp.train.signals import Interrupted, stop_on_signals

USER_CHOICE = "CNNEXP_HYDRA_FULL_ERROR"


def traceback_wanted() -> bool:
    """Did the user ask for tracebacks (HYDRA_FULL_ERROR=1)?"""
    return os.environ.get(USER_CHOICE, os.environ.get("HYDRA_FULL_ERROR", "")) == "1"


def run_app(app: Callable[[], Any]) -> None:
    """Run the Hydra app; every error it raises ends the process with one paragraph and its exit code."""
    saved = {key: os.environ.get(key) for key in ("HYDRA_FULL_ERROR", USER_CHOICE)}
    os.environ.setdefault(USER_CHOICE, os.environ.get("HYDRA_FULL_ERROR", ""))
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises what it finds instead of printing it
    try:
        with stop_on_signals():
            _run(app)
    finally:
        release_sweep_locks()  # a sweep a job stopped never reached its end
        for key, value in saved.items():  # as it was, for a caller in the same process (tests)
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def _run(app: Callable[[], Any]) -> None:
    try:
        app()
    except Stop as stop:
        if not stop.said:
            say(stop.message)
        if not stop.reported:
            _end_sweep(stop)
        raise SystemExit(stop.code) from None
    except Exception as err:
        end(err)


def end(err: Exception, task: bool = False) -> NoReturn:
    """The process ends on `err`: one paragraph and its exit code for the user's mistake; a bug (or any error,
    with HYDRA_FULL_ERROR=1) with its traceback. Hydra's errors are the user's too, unless they come from a
    running task (`task`): there only a UserFacingError is, and the traceback is printed here, with its code."""
    if task:  # explain() reads a UserFacingError as its own message too, and Hydra's errors as the user's
        explained = (str(err), err.exit_code) if isinstance(err, UserFacingError) else None
    else:
        explained = explain(err)
    if explained is not None and not traceback_wanted():
        say(explained[0])
        raise SystemExit(explained[1]) from None
    if not task:
        raise err  # Python prints the traceback and exits 1
    traceback.print_exception(err)
    raise SystemExit(explained[1] if explained else 1) from None


def say(paragraph: str) -> None:
    """An error's paragraph, as cnnexp prints every one."""
    print(f"cnnexp: error: {paragraph}", file=sys.stderr, flush=True)


def _end_sweep(stop: Stop) -> None:
    """A sweep stopped by a job (or between jobs): its report first, then how to continue it."""
    sweep_dir = running_sweep()
    if sweep_dir is None:
        return
    try:
        from cnnexp.report.build import write_report  # only now: it pulls in matplotlib

        write_report(sweep_dir)
    except Exception as err:  # a report that cannot be drawn must not hide the stop itself
        print(
            f"cnnexp: warning: sweep report not written ({err}); python -m cnnexp.report {sweep_dir}", file=sys.stderr
        )
    if isinstance(stop, Interrupted):
        args = [*without(sys.argv[1:], "hydra.sweep.dir", "skip_completed"), override("hydra.sweep.dir", sweep_dir)]
        print(f"cnnexp: sweep interrupted; report in {sweep_dir}. Continue the sweep (finished jobs are skipped, "
              f"the interrupted one resumes) with: {command([*args, 'skip_completed=true'])}", file=sys.stderr, flush=True)  # fmt: skip
