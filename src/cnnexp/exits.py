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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf.errors import OmegaConfBaseException

from cnnexp.errors import Stop, UserFacingError, closest
from cnnexp.report.callback import release_sweep_locks, running_sweep
from cnnexp.rundir.names import command, override, without
from cnnexp.train.signals import Interrupted, stop_on_signals

USER_CHOICE = "CNNEXP_HYDRA_FULL_ERROR"
SHOWN_KEYS = 12  # keys listed when a misspelled key resembles none


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
        if not stop.reported:
            _end_sweep(stop)
        raise SystemExit(stop.code) from None
    except Exception as err:
        explained = explain(err)
        if explained is None or traceback_wanted():
            raise
        print(f"cnnexp: error: {explained[0]}", file=sys.stderr, flush=True)
        raise SystemExit(explained[1]) from None


def _end_sweep(stop: Stop) -> None:
    """A sweep stopped by a job (or between jobs): its report first, then how to continue it."""
    sweep_dir = running_sweep()
    if sweep_dir is None:
        return
    try:
        from cnnexp.report.build import write_report  # only now: it pulls in matplotlib

        write_report(sweep_dir)
    except Exception as err:  # a report that cannot be drawn must not hide the stop itself
        print(f"cnnexp: warning: sweep report not written ({err}); python -m cnnexp.report {sweep_dir}", file=sys.stderr)
    if isinstance(stop, Interrupted):
        args = [*without(sys.argv[1:], "hydra.sweep.dir", "skip_completed"), override("hydra.sweep.dir", sweep_dir)]
        print(f"cnnexp: sweep interrupted; report in {sweep_dir}. Continue the sweep (finished jobs are skipped, "
              f"the interrupted one resumes) with: {command([*args, 'skip_completed=true'])}", file=sys.stderr, flush=True)  # fmt: skip


def explain(err: BaseException) -> tuple[str, int] | None:
    """(one paragraph, exit code) for an error that is the user's to fix; None for a bug."""
    if isinstance(err, UserFacingError):
        return str(err), err.exit_code
    for kind, explainer in EXPLAINERS:
        if isinstance(err, kind):
            return explainer(err), 2
    return None


def _missing_option(err: MissingConfigException) -> str:
    missing = str(err.missing_cfg_file or "")
    group, _, name = missing.rpartition("/")
    options = list(err.options or [])
    if not group or not options:
        return _lines(str(err).split("Config search path")[0])
    return (
        f"{group}={name}: conf/{group}/ has no {name}.yaml.{closest(name, options)} Choose one of: "
        f"{', '.join(options)}."
    )


def _composition(err: ConfigCompositionException) -> str:
    cause = err.__cause__
    parent = getattr(cause, "parent_node", None)
    key, full_key = getattr(cause, "key", None), getattr(cause, "full_key", None)
    if "not in struct" in str(cause) or "not in '" in str(cause):
        if key is not None and full_key and parent is not None and hasattr(parent, "keys"):
            return _unknown_key(str(full_key), str(key), [str(k) for k in parent.keys()])
    return _lines(f"{err} {cause or ''}")


def _unknown_key(full_key: str, key: str, known: list[str]) -> str:
    where = full_key.rpartition(".")[0] or "the main config"
    hint = closest(key, known)
    listed = "" if hint else f" Keys there: {', '.join(sorted(known)[:SHOWN_KEYS])}{', ...' if len(known) > SHOWN_KEYS else ''}."
    return (
        f"{full_key}: {where} has no key {key}.{hint}{listed} (Hydra's `+{full_key}=` would add a new key that "
        f"nothing reads; fix the name instead.)"
    )


def _override(err: OverrideParseException) -> str:
    return (
        f"{_lines(str(err).split('See https')[0])}. Quote a value that holds special characters, e.g. "
        f"key='a,b' or key=\"x=1\" (in a shell: 'key=\"x=1\"')."
    )


def _yaml(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    where = f"{mark.name}, line {mark.line + 1}: " if mark is not None else ""
    problem = getattr(err, "problem", None) or _lines(str(err))
    context = getattr(err, "context_mark", None)
    also = f" (in the mapping that starts on line {context.line + 1})" if context is not None else ""
    fix = "; keep one of them" if "duplicate key" in str(problem) else ""
    return f"{where}{problem}{also}{fix}."


def _omegaconf(err: OmegaConfBaseException) -> str:
    where = getattr(err, "full_key", None) or "the config"
    return f"{where}: {str(err).splitlines()[0]}; fix the interpolation (${{...}}) or the key it names."


def _folder(err: OSError) -> str:
    path = Path(str(err.filename or "."))
    blocking = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), None)
    why = f"{blocking} is a file, not a folder" if blocking is not None else (err.strerror or str(err))
    return (
        f"cannot create {path} ({why}); cnnexp writes each run under outputs/ where you start it: run it from a "
        f"folder you can write to, or point hydra.run.dir (hydra.sweep.dir for sweeps) at one."
    )


def _instantiation(err: InstantiationException) -> str:
    """A class Hydra itself builds before any task runs (hydra.callbacks, the launcher, the sweeper) that it refused
    or could not build; cnnexp's own groups say so themselves (train/instantiate.py)."""
    body, _, key = str(err).rpartition("\nfull_key: ")
    reason = _lines((body or str(err)).split(", set env var HYDRA_FULL_ERROR")[0])
    if not body:
        return f"Hydra cannot build a class the config names under hydra.*: {reason}. Fix its `_target_` or arguments."
    where = key.strip()
    return (
        f"{where}: Hydra cannot build it: {reason}. Fix its `_target_` or arguments, or drop it (~{where} on the "
        f"command line, or the entry in your config)."
    )


def _lines(text: str) -> str:
    return " ".join(line.strip() for line in text.splitlines() if line.strip()).rstrip(".")


EXPLAINERS: list[tuple[type[BaseException], Callable[[Any], str]]] = [
    (MissingConfigException, _missing_option),  # before ConfigCompositionException, its base class
    (OverrideParseException, _override),
    (ConfigCompositionException, _composition),
    (yaml.YAMLError, _yaml),
    (OmegaConfBaseException, _omegaconf),
    (OSError, _folder),
    (InstantiationException, _instantiation),
]
