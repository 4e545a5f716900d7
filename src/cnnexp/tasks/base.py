"""The registry of tasks that `task=NAME` selects; each task module registers itself here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from cnnexp.registry import Registry

TASKS: Registry[Callable[[DictConfig], Any]] = Registry("task")
