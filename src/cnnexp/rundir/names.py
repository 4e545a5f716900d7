"""Folder names any value can produce, and command lines a user can paste back as they are.

conf/config.yaml names run, sweep and job folders through these, as the resolvers of cli/resolvers.py:
`${cnnexp.name:TEXT}` (one safe path component), `${cnnexp.model:NAME,TASK,CKPT_PATH}` (the model a run folder
is named after: the checkpoint's own for a task that reads its model from one), `${cnnexp.token:}` (a random
tag, the same everywhere in one composed config) and `${cnnexp.job:NUM,OVERRIDES}` (a sweep job's folder: its
number, then a short readable form of its overrides). A value holding `/`, `..`, quotes or a thousand characters still gives one short
folder inside outputs/.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shlex
from collections.abc import Sequence
from typing import Any

SWEPT_ENV = "CNNEXP_SWEPT_KEYS"  # the keys a running multirun sweeps, comma-separated (report/callback.py sets it)
NAME_LIMIT = 40  # characters of a model name in a run folder's name
JOB_LIMIT = 48  # characters of a job folder's readable part (the job number makes it unique)
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]+")  # anything else (/, \, spaces, quotes, ...) becomes "-"
# Override values Hydra reads back unchanged without quotes: path-like text that is no number, bool or null.
_PLAIN = re.compile(r"[A-Za-z0-9_./+@%-]+")
_PARSED_OTHERWISE = re.compile(r"[-+]?[0-9._]*([eE][-+]?[0-9]+)?|(?i:true|false|null|nan|[-+]?inf)")


def safe_name(text: Any, limit: int = NAME_LIMIT) -> str:
    """One path component made of [A-Za-z0-9._=,+-], never hidden nor `..`, at most `limit` characters.

    A cut name ends in 6 hex digits of the whole text's hash, so two long names that share a beginning stay
    apart."""
    raw = str(text)
    name = _UNSAFE.sub("-", raw).strip(".-") or "run"
    if len(name) > limit:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:6]
        name = f"{name[: limit - 7].rstrip('.-')}-{digest}"
    return name


def job_folder(num: Any, overrides: Any) -> str:
    """A sweep job's folder: its zero-padded number (unique in the sweep, so sorting follows launch order),
    then its overrides as a short readable tag, e.g. `003_model=lenet5,seed=1`: only the swept ones when the
    sweep said which (SWEPT_ENV), since the others are the same in every job."""
    items = _items(str(overrides))
    swept = set(filter(None, os.environ.get(SWEPT_ENV, "").split(",")))
    chosen = [item for item in items if item.split("=", 1)[0].lstrip("+~") in swept] or items
    tag = safe_name(",".join(chosen), JOB_LIMIT) if chosen else ""
    return f"{int(num):03d}_{tag}" if tag else f"{int(num):03d}"


def _items(overrides: str) -> list[str]:
    """Hydra's override_dirname ("a=1,b=x") as its overrides; a piece without `=` belongs to the value before."""
    items: list[str] = []
    for piece in overrides.split(",") if overrides else []:
        if "=" in piece or not items:
            items.append(piece)
        else:
            items[-1] += "," + piece
    return items


def token() -> str:
    """A random tag (`${cnnexp.token:}`), the same everywhere in one composed config (cli/resolvers.py caches it)."""
    return secrets.token_hex(3)


def hydra_quote(value: str) -> str:
    """`value` as a quoted Hydra override value that parses back to exactly `value`.

    Inside Hydra's quotes only the quote itself and the backslashes before a quote (or before the closing
    quote) are special, and `${` would start an interpolation (so backslashes before it double too). Double quotes where the value has none: a
    shell then wraps the whole argument in single quotes, which reads best."""
    quote = '"' if '"' not in value else "'"
    body = re.sub(rf"(\\+)(?={quote}|\Z|\$\{{)", lambda m: m.group(1) * 2, value)
    return quote + body.replace(quote, "\\" + quote).replace("${", "\\${") + quote


def override(key: str, value: Any) -> str:
    """`key=value` for Hydra: as it is when Hydra reads it back as that very string, quoted otherwise."""
    text = str(value)
    if _PLAIN.fullmatch(text) and not _PARSED_OTHERWISE.fullmatch(text):
        return f"{key}={text}"
    return f"{key}={hydra_quote(text)}"


def command(args: Sequence[str]) -> str:
    """`python -m cnnexp ARGS` with each argument quoted for a POSIX shell: pasteable as it is printed."""
    return shlex.join(["python", "-m", "cnnexp", *args])


def without(args: Sequence[str], *keys: str) -> list[str]:
    """The overrides in `args` that set none of `keys` (with or without Hydra's +, ++ or ~ prefix)."""
    return [a for a in args if a.split("=", 1)[0].lstrip("+~") not in keys]
