"""The user's words for the errors Hydra, OmegaConf and YAML raise while a config is composed: a misspelled key,
a missing option, an override that does not parse, a duplicate YAML key, a broken interpolation, a folder that
cannot be made, a hydra.callbacks class Hydra refuses or cannot build. The command line prints them
(cli/exits.py), the Python API raises them as ConfigError, a sweep's pre-flight says them for its jobs."""

from __future__ import annotations

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

from cnnexp.errors import UserFacingError, closest

SHOWN_KEYS = 12  # keys listed when a misspelled key resembles none


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
    listed = (
        ""
        if hint
        else f" Keys there: {', '.join(sorted(known)[:SHOWN_KEYS])}{', ...' if len(known) > SHOWN_KEYS else ''}."
    )
    return (
        f"{full_key}: {where} has no key {key}.{hint}{listed} (Hydra's `+{full_key}=` would add a new key that "
        f"nothing reads; fix the name instead.)"
    )


def _override(err: OverrideParseException) -> str:
    said = _lines(str(err).split("See https")[0])
    given = getattr(err, "override", None)  # the override as typed; some of Hydra's messages leave it out
    if given and given not in said:
        said = f"Error parsing override '{given}': {said}"
    return (
        f"{said}. Quote a value that holds special characters, e.g. "
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
