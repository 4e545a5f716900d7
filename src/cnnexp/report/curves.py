"""Validation accuracy per epoch, from the history each job records in its metrics.json.

The run keeps its epoch figures itself (train/module.py `history`, saved in checkpoints so that a resumed run
has every epoch) and writes them into metrics.json; the report reads them there, not from event files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

VAL_ACC = "val/acc"

Curve = list[tuple[float, float]]  # (epochs completed, val accuracy)


def val_curve(metrics: Mapping[str, Any]) -> Curve:
    """(epoch, val/acc) pairs, epoch counted from 1; [] when the job recorded none."""
    history = metrics.get("history")
    if not isinstance(history, Mapping):
        return []
    points = []
    for epoch, values in history.items():
        acc = values.get(VAL_ACC) if isinstance(values, Mapping) else None
        if str(epoch).isdigit() and isinstance(acc, (int, float)) and not isinstance(acc, bool):
            points.append((int(epoch) + 1, float(acc)))
    return sorted(points)
