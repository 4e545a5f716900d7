"""One row of the results table, the goal it is checked against, and the table as Markdown."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

COLUMNS = ("figure", "device", "cnnexp", "peer", "ratio", "goal", "met")
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Goal:
    text: str  # as the issue states it, e.g. "≥ 0.95"
    bound: float
    at_least: bool  # True: the figure must be >= bound; False: <= bound (or < for times, same in practice)

    def met(self, value: float) -> bool:
        return value >= self.bound if self.at_least else value <= self.bound


@dataclass(frozen=True)
class Row:
    figure: str
    device: str
    cnnexp: str
    peer: str
    ratio: str
    goal: str
    met: str  # "yes", "no", or "not measured: why"

    def cells(self) -> tuple[str, ...]:
        return (self.figure, self.device, self.cnnexp, self.peer, self.ratio, self.goal, self.met)


def measured(figure: str, device: str, cnnexp: str, peer: str, value: float, shown: str, goal: Goal) -> Row:
    return Row(figure, device, cnnexp, peer, shown, goal.text, "yes" if goal.met(value) else "no")


def not_measured(figure: str, device: str, goal: str, why: str) -> Row:
    return Row(figure, device, "—", "—", "—", goal, f"{NOT_MEASURED}: {why}")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """min–max of the repeats, so a reader sees the noise behind a median."""
    return f"{min(values):.3g}–{max(values):.3g}" if len(values) > 1 else "one run"


def markdown(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row.cells()) + " |" for row in rows]
    return "\n".join(lines)
