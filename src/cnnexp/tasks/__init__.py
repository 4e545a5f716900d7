"""Tasks that `task=NAME` selects, one module each (train, test, predict, export, summary, lr_find, kernels),
and the lifecycle every run goes through (lifecycle.py). A task's module is imported only when that task runs:
task=summary never imports Lightning, and importing this package imports nothing heavy.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cnnexp.config.task_names import TASK_MODULES

if TYPE_CHECKING:
    from cnnexp.run import Run


def task_named(name: str) -> Callable[[Run], Any]:
    """The task registered as `name`, importing only its module (config/task_names.py); every module of this
    package when the name is not listed there."""
    from cnnexp.tasks.base import TASKS  # here: the registry's module reads runs, with torch

    if name in TASK_MODULES:
        importlib.import_module(f"cnnexp.tasks.{TASK_MODULES[name][0]}")
    if name not in TASKS:
        import_all_tasks()  # registered in a module not listed, or a misspelling: the error lists every task
    return TASKS.get(name, "task")


def import_all_tasks() -> None:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"cnnexp.tasks.{module.name}")
