"""The files a task writes into its run folder beside the run's own record: task=export's model file and sidecar,
task=predict's predictions.csv. Checked before any work, recorded before they are written.

cnnexp never replaces a file that no run wrote: a target that is there already is refused unless overwrite=true,
and so is a target that is a folder, or whose folder cannot be written to, before the network is built or an
image read. A run's targets go into its metrics.json ("outputs") before it writes them: they are its own, so a
run that replaces or continues it (rundir/claim.py) removes them first, and an interrupted export continues.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cnnexp.errors import ConfigError
from cnnexp.rundir.claim import METRICS, OUTPUTS
from cnnexp.rundir.files import read_json, write_json

ELSEWHERE = "choose another folder for the run (hydra.run.dir=...)"
NOT_A_FOLDER = "it is not a folder"


def target(run_dir: Path, name: str, chosen: Path | None, task: str) -> tuple[Path, str]:
    """(folder, file name) a task writes: `output=` when the user chose a file (of the same kind as `name`), else
    `name` in the run folder."""
    if chosen is None:
        return run_dir, name
    suffix = "".join(Path(name).suffixes[-1:])
    if chosen.suffix != suffix:
        raise ConfigError(
            f"output={chosen}: task={task} writes a {suffix} file here ({name}); give a path that ends in {suffix}, "
            f"e.g. output={chosen.with_suffix(suffix)}."
        )
    return chosen.parent, chosen.name


def reserve_outputs(folder: Path, names: Sequence[str], task: str, overwrite: bool, record: bool = True) -> list[Path]:
    """The paths of `names` in `folder`, each checked, then (`record`: `folder` is the run folder) recorded as this
    run's in its metrics.json; a folder of the user's (output=) gets no metrics.json.

    Nothing is removed here: the task writes each file beside its target and renames it into place once whole,
    so a failed or interrupted run leaves a replaced file as it was, and a link is replaced, not its target."""
    paths = [folder / name for name in names]
    try:
        folder.mkdir(parents=True, exist_ok=True)  # a run folder already, unless the task runs without one
    except OSError as err:
        why = NOT_A_FOLDER if folder.exists() and not folder.is_dir() else err.strerror or str(err)
        raise ConfigError(_unwritable(task, paths[0], folder, why)) from None
    for path in paths:
        check_output(path, task, overwrite)
    if record:
        metrics = folder / METRICS
        old = read_json(metrics)
        write_json(metrics, {**old, OUTPUTS: sorted({*_names(old.get(OUTPUTS)), *names})})
    return paths


def check_output(path: Path, task: str, overwrite: bool) -> None:
    """ConfigError unless `path` can be written by `task`: not a folder, in a folder it may write to, and not an
    existing file unless `overwrite`."""
    if path.is_dir():
        raise ConfigError(
            f"task={task} writes {path}, but that path is a folder; cnnexp does not replace a folder, not even with "
            f"overwrite=true. Move the folder away, or {ELSEWHERE}."
        )
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(_unwritable(task, path, folder, NOT_A_FOLDER if folder.exists() else "no such folder"))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(_unwritable(task, path, folder, "permission denied"))
    if (path.is_symlink() or path.exists()) and not overwrite:
        raise ConfigError(
            f"task={task} writes {path}, but a file of that name is there already and no run in this folder wrote it; "
            f"cnnexp never replaces a file it did not write. Add overwrite=true to replace it, or {ELSEWHERE}."
        )


def _unwritable(task: str, path: Path, folder: Path, why: str) -> str:
    return f"task={task} writes {path}, but its folder {folder} cannot be written to ({why}); {ELSEWHERE}."


def _names(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
