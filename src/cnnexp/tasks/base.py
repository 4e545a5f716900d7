"""The registry of tasks that `task=NAME` selects; each task module registers itself here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnnexp.registry import Registry
from cnnexp.run import Run

TASKS: Registry[Callable[[Run], Any]] = Registry("task")
