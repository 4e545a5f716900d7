"""Resuming into a new run folder (`ckpt_path=outputs/runs/<run>/checkpoints/last.ckpt trainer.max_epochs=6`):
the run's best checkpoints so far come along into the new folder.

Lightning's ModelCheckpoint reloads its record of the best epochs only when it saves to the folder it saved to
before. In a new folder it keeps the old best path but forgets its score (and warns "The dirpath has changed"),
so the first epoch after the resume counted as the best whatever it scored, and the test after training
evaluated that epoch while the run reported an earlier, better one as its best val accuracy. Here, before
the callbacks' states are loaded, each monitored ModelCheckpoint's best files are linked into the new folder
(copied where the folders are on different file systems) and its state points at them: epochs compare as in an
uninterrupted run, the test evaluates the true best, and a checkpoint Lightning replaces later is removed from
the new folder, never from the old run's. Checkpoints are written through a temporary file renamed into place
(train/faults.py), so writing one in the new folder never changes the old run's file behind a link.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

BEST = ("best_model_path", "kth_best_model_path")  # ModelCheckpoint's state keys that name its best files


class CarryBestOnResume(pl.Callback):
    """Rewrites the loaded checkpoint's ModelCheckpoint states that name another folder (see the module)."""

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        states = checkpoint.get("callbacks") or {}
        for callback in trainer.checkpoint_callbacks:
            if not isinstance(callback, ModelCheckpoint) or not callback.dirpath:
                continue
            state = states.get(callback.state_key)
            if isinstance(state, dict) and state.get("dirpath") not in (None, callback.dirpath):
                states[callback.state_key] = carried(state, Path(callback.dirpath), link=trainer.is_global_zero)


def carried(state: dict[str, Any], folder: Path, link: bool = True) -> dict[str, Any]:
    """`state` with its best files in `folder`, linked there when `link` (rank 0; the other ranks only read the
    paths). Unchanged when a best file it names is gone: Lightning's own handling (forget the scores) applies.

    Only a monitored callback's best files come along (their names carry epoch and score). Its last file, and
    the file of a callback without a monitor (last.ckpt), may hold a later epoch than the checkpoint resumed
    from: they are forgotten, and the new run writes its own at its first save (before that, an interrupted
    run continues from the checkpoint it resumed)."""
    monitored = state.get("monitor") is not None
    best_k = state.get("best_k_models", {}) if monitored else {}
    named = {p for p in [*best_k, *(state.get(key) for key in BEST)] if p} if monitored else set()
    if not all(Path(p).is_file() for p in named):
        return state
    moved = {p: str(folder / Path(p).name) for p in named}
    if link:
        folder.mkdir(parents=True, exist_ok=True)
        for source, target in moved.items():
            _link(Path(source), Path(target))
    return {
        **state,
        "dirpath": str(folder),
        "best_k_models": {moved[p]: score for p, score in best_k.items()},
        **{key: moved.get(state.get(key) or "", "") for key in BEST},
        "last_model_path": "",
    }


def _link(source: Path, target: Path) -> None:
    if target.exists():
        return  # already carried (a state shared by two callbacks, or the same file named twice)
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        shutil.copy2(source, target)
