"""The clock both sides of a throughput row share (torch only: the plain loop's process imports nothing else).

A clock reads time only at the start of an iteration (after its batch is fetched and transformed, before
its step) and, on a GPU, synchronises there: so a window of N iterations holds N fetches, N transforms and
N steps on either side, and nothing is synchronised inside the window.
"""

from __future__ import annotations

import time

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepWindow:
    """Seconds from the start of iteration `first` to the start of iteration `first + count`."""

    def __init__(self, first: int, count: int) -> None:
        self.first, self.count = first, count
        self.seconds = 0.0
        self._start = 0.0

    @property
    def last(self) -> int:
        """The iteration whose start closes the window: run at least last + 1 iterations."""
        return self.first + self.count

    def at_start(self, index: int, device: torch.device) -> None:
        if index == self.first:
            sync(device)
            self._start = time.perf_counter()
        elif index == self.last:
            sync(device)
            self.seconds = time.perf_counter() - self._start
