"""Groups that name a class to build (`_target_`): their schema, their typed value, and their instantiation.

A schema lists exactly the constructor arguments of its class (torch.optim.Adam, pl.Trainer, ...), so a
misspelled key fails when Hydra composes the config, and every real argument can be overridden from the
command line without a `+`. The typed value, `Target`, is the class's dotted name and its arguments as plain
data: what a run records, and what is built (with a bad class or argument named by its group) when needed.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import get_class, instantiate
from omegaconf import MISSING

from cnnexp.errors import ConfigError, closest

TARGET, PARTIAL = "_target_", "_partial_"
PRIMITIVE = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class Target:
    """A class to build: `target` names it, `args` are its keyword arguments (plain data, read-only by use)."""

    target: str
    args: Mapping[str, Any] = field(default_factory=dict)
    partial: bool = False  # build a functools.partial waiting for the rest (an optimizer's parameters)

    @property
    def class_name(self) -> str:
        return self.target.rsplit(".", 1)[-1]

    def build(self, group: str, **kwargs: Any) -> Any:
        return instantiate_target(self.to_dict(), group, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        return {TARGET: self.target, **({PARTIAL: True} if self.partial else {}), **self.args}


def read_target(raw: Any, group: str) -> Target:
    """A Target from a group's plain mapping (`_target_`, `_partial_`, then the arguments)."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get(TARGET), str) or not raw[TARGET]:
        raise ConfigError(
            f"{group}: needs a `_target_` naming the class to build, e.g. choose {group}= from conf/{group}/."
        )
    args = {str(k): v for k, v in raw.items() if k not in (TARGET, PARTIAL)}
    return Target(raw[TARGET], args, bool(raw.get(PARTIAL, False)))


def instantiate_target(cfg: Mapping[str, Any], group: str, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate`, where a bad class name or argument names the config group to fix."""
    if not isinstance(cfg, Mapping) or TARGET not in cfg:
        raise ConfigError(
            f"{group}: needs a `_target_` naming the class to build, e.g. choose {group}= from conf/{group}/."
        )
    found = find(str(cfg[TARGET]))  # None: not importable; instantiate says so below
    if inspect.isclass(found):
        _check_arguments(found, [str(k) for k in cfg if k not in (TARGET, PARTIAL)], group)
    try:
        return instantiate(dict(cfg), **kwargs)
    except InstantiationException as err:
        lines = [line.strip() for line in str(err).strip().splitlines() if not line.startswith("full_key:")]
        reason = " ".join(lines).split(", set env var HYDRA_FULL_ERROR")[0]  # cnnexp shows no traceback to see
        hint = "; is its package installed, or its module on PYTHONPATH?" if found is None else ""
        raise ConfigError(f"{group}: cannot build {cfg[TARGET]}: {reason}{hint}") from None


def _check_arguments(cls: type, given: list[str], group: str) -> None:
    """An argument the class does not take, named with its group and the closest real one."""
    params = _init_parameters(cls)
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return  # takes any keyword: nothing to check here
    known = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for name in given:
        if name not in known:
            raise ConfigError(
                f"{group}.{name}: {cls.__name__} takes no argument '{name}'.{closest(name, known)} "
                f"Its arguments: {', '.join(known)}."
            )


def build_subclass(target: Target, group: str, base: type, fix: str) -> Any:
    """`target` built once the class it names is known to be a `base` (a Lightning Callback, a Logger): a function or
    any other class is refused, naming `group`, before anything is called. Its module is imported to tell: the
    name comes from the command line or the user's config, never from a file (targets.py)."""
    found = find(target.target)
    if found is not None and not (inspect.isclass(found) and issubclass(found, base)):
        what = "a class" if inspect.isclass(found) else f"a {type(found).__name__}"
        kind = f"{base.__module__.split('.')[0]} {base.__name__}"
        raise ConfigError(f"{group}._target_={target.target}: {target.target} is {what}, not a {kind}; {fix}")
    return target.build(group)  # not found: instantiate says why, naming the group


def find(path: str) -> Any | None:
    """What a dotted name names (a module's attribute, or a module), importing the longest module prefix it has;
    None when there is none. Nothing is called but the imports."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:end]))
        except Exception:  # not a module, or one that fails to import: instantiate names the error, as a ConfigError
            continue
        for part in parts[end:]:
            found = getattr(found, part, None)
            if found is None:
                return None
        return found
    return None


def locate(path: str) -> type:
    """The class a dotted name such as pytorch_lightning.callbacks.ModelCheckpoint names (imports its module)."""
    return get_class(path)


def preset_schemas(prefix: str, classes: Mapping[str, str]) -> dict[str, type]:
    """`PREFIX_KEY` -> the schema of each class named in `classes` (key -> dotted name); imports the classes."""
    schemas = {}
    for key, path in classes.items():
        cls = locate(path)
        schemas[f"{prefix}_{key}"] = signature_schema(cls, f"{cls.__name__}Conf")
    return schemas


def _init_parameters(cls: type) -> list[inspect.Parameter]:
    """The constructor's parameters after `self`, as written on the class (not on an instance)."""
    return list(inspect.signature(cls.__init__).parameters.values())[1:]  # type: ignore[misc]


def _copier(value: list[Any]) -> Callable[[], list[Any]]:
    return lambda: list(value)


def signature_schema(cls: type, name: str, partial: bool = False, skip: tuple[str, ...] = ()) -> type:
    """A dataclass with `_target_` and one field per constructor argument of `cls`."""
    fields: list[tuple[str, Any, Any]] = [(TARGET, str, field(default=f"{cls.__module__}.{cls.__qualname__}"))]
    if partial:
        fields.append((PARTIAL, bool, field(default=True)))
    for param in _init_parameters(cls):
        if param.name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        value = _default(param)
        # A list default must be built fresh for each config (dataclasses refuse a shared mutable default).
        made = field(default_factory=_copier(value)) if isinstance(value, list) else field(default=value)
        fields.append((param.name, Any, made))
    return dataclasses.make_dataclass(name, fields)


def _default(param: inspect.Parameter) -> Any:
    if param.default is inspect.Parameter.empty:
        return MISSING
    value = param.default
    if isinstance(value, tuple) and all(isinstance(v, PRIMITIVE) for v in value):
        return list(value)
    # Objects (a Tensor, an enum) cannot live in YAML: null means "the class's own default".
    return value if isinstance(value, PRIMITIVE) else None
