"""Your own layer types, activations and joins: Python modules of yours that register them, named by `plugins`.

A module named in `plugins=[mypkg.layers]` (the command line, or a config of yours) is imported before the run
is read; at import it adds to the registries (`LAYERS`, `ACTIVATIONS`, `JOINS`), and a model YAML then uses its
names like built-in ones. Importing runs code, so only the trusted side names what to import: a model YAML, a
checkpoint or its run record never does. A record names the plugins its run used, as data: a checkpoint whose
layer types are not loaded says which module to name (`missing_hint`), and cnnexp does not import it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from cnnexp.config.registry import Registry
from cnnexp.errors import ConfigError

PLUGINS = "plugins"  # the top-level option


def load_plugins(modules: Sequence[str]) -> None:
    """Import each module (once), recording it as the origin of the names it registers."""
    for i, name in enumerate(modules):
        if name in sys.modules:
            continue
        with Registry.loading(name):
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as err:
                if err.name is None or not name.startswith(err.name):
                    raise  # the plugin itself imports something missing: its own traceback says what
                raise ConfigError(
                    f"{PLUGINS}[{i}]={name}: no module of that name on the Python path ({sys.path[0] or '.'} first); "
                    f"install the package that holds it, or add its folder to PYTHONPATH."
                ) from None
            except KeyError as err:  # Registry.add refuses a name registered twice
                sys.modules.pop(name, None)
                raise ConfigError(f"{PLUGINS}[{i}]={name}: {err.args[0]}; give it a name of its own.") from None


def read_plugins(value: Any, where: str = PLUGINS) -> tuple[str, ...]:
    """`plugins`: a module name or a list of them, dotted Python names."""
    values = [] if value is None else [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)):
        raise ConfigError(f"{where} must be a list of Python modules, e.g. {where}=[mypkg.layers]; got {value!r}.")
    for i, name in enumerate(values):
        if not isinstance(name, str) or not all(part.isidentifier() for part in name.split(".")):
            raise ConfigError(f"{where}[{i}] must be a Python module name such as mypkg.layers, got {name!r}.")
    return tuple(values)


def missing_hint(recorded: Any) -> str:
    """For a run (a checkpoint's record) that named plugins: those not loaded now, and how to load them."""
    try:
        names = read_plugins(recorded)
    except ConfigError:
        return ""
    missing = [name for name in names if name not in sys.modules]
    if not missing:
        return ""
    listed = ",".join(missing)
    return (
        f" The run used {PLUGINS}=[{', '.join(names)}], modules of its own layer types, and {listed} is not loaded: "
        f"cnnexp never imports a module that a file names; if you trust it, add {PLUGINS}=[{listed}] to the command line."
    )


@contextmanager
def snapshot() -> Iterator[None]:
    """The registries as they are, restored on exit (for tests that load plugins)."""
    from cnnexp.model.activations import ACTIVATIONS
    from cnnexp.model.layers import LAYERS
    from cnnexp.model.layers.joins import JOINS

    registries: list[Registry[Any]] = [LAYERS, ACTIVATIONS, JOINS]
    saved = [(dict(r._entries), dict(r._aliases), dict(r.origin)) for r in registries]
    try:
        yield
    finally:
        for registry, (entries, aliases, origin) in zip(registries, saved):
            registry._entries, registry._aliases, registry.origin = entries, aliases, origin
