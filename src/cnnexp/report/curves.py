"""Validation accuracy per epoch, read back from a job's TensorBoard event files.

Lightning logs `val/acc` at the global step, and beside it an `epoch` scalar at the same step; the epoch is
what a reader compares across runs with different batch sizes, so the step is mapped to it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

log = logging.getLogger(__name__)

VAL_ACC = "val/acc"
EPOCH = "epoch"

Curve = list[tuple[float, float]]  # (epochs completed, val accuracy)


def read_val_curve(job_folder: Path) -> Curve:
    """(epoch, val/acc) pairs, epoch counted from 1; [] when the job logged none (or its events are unreadable)."""
    val: dict[int, float] = {}
    epochs: dict[int, float] = {}
    for events in _event_folders(job_folder):
        try:
            file_val, file_epochs = _scalars(events)
        except Exception as err:  # a truncated event file (a killed job) must not cost the whole report
            log.warning("skipping unreadable TensorBoard events in %s: %s", events, err)
            continue
        val.update(file_val)  # later files win: a resumed run logs the steps it repeats again
        epochs.update(file_epochs)
    steps = sorted(val)
    return [(epochs[s] + 1 if s in epochs else i + 1, val[s]) for i, s in enumerate(steps)]


def _event_folders(job_folder: Path) -> list[Path]:
    """Folders holding event files (tb/, or tb/version_N/ for other logger layouts), oldest first."""
    files = sorted(job_folder.rglob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime)
    return list(dict.fromkeys(p.parent for p in files))


def _scalars(folder: Path) -> tuple[dict[int, float], dict[int, float]]:
    """({step: val/acc}, {step: epoch}) from one folder's event files."""
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # 0: keep every point, not a sample
    acc.Reload()
    tags = set(acc.Tags().get("scalars", []))
    val = {e.step: e.value for e in acc.Scalars(VAL_ACC)} if VAL_ACC in tags else {}
    epochs: dict[int, float] = {}
    for event in acc.Scalars(EPOCH) if EPOCH in tags else []:
        # The epoch at a step as first logged there: Lightning logs it beside every metric of that step.
        epochs.setdefault(event.step, event.value)
    return val, epochs
