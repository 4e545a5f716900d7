"""Typed readers for YAML values, shared by every config group (model layers, data, tasks).

Each reader takes the raw YAML value and the place it came from, and returns a clean Python value or raises a
ConfigError that names the place, the value and what is allowed. Dataclasses name a reader per field in
`field(metadata=...)`, so reading a layer or a group is one loop over its fields.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cnnexp.errors import ConfigError, closest

Pair = tuple[int, int]
Reader = Callable[[Any, str], Any]
# PyTorch's pooling kernels take F, S and P as 32-bit ints (and any size past int64 fails to unpack): a bound
# here turns "value cannot be converted to type int without overflow" at the first forward into a ConfigError.
LARGEST_INT = 2**31 - 1


def _is_int(value: Any) -> bool:
    # YAML `true` is a bool, and bool is an int subclass in Python: a flag is never a size.
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: float) -> bool:
    # YAML's .nan passes every range check (all comparisons are false) and torch then refuses it (dropout p)
    # or computes NaN silently; .inf is no setting either, nor an integer too large for a float (10**400).
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def integer(minimum: int) -> Reader:
    def read(value: Any, where: str) -> int:
        if not _is_int(value):
            raise ConfigError(f"{where} must be an integer, got {value!r}; write e.g. {max(minimum, 1) + 2}.")
        if value < minimum:
            raise ConfigError(f"{where} must be at least {minimum}, got {value}.")
        if value > LARGEST_INT:
            raise ConfigError(
                f"{where} must be at most {LARGEST_INT} (PyTorch takes sizes as 32-bit integers), got {value}."
            )
        return value

    return read


def pair(minimum: int) -> Reader:
    """An int used for both spatial dimensions, or [height, width]."""
    one = integer(minimum)

    def read(value: Any, where: str) -> Pair:
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise ConfigError(f"{where} must be one integer or [height, width], got {list(value)}.")
            return (one(value[0], f"{where}[0]"), one(value[1], f"{where}[1]"))
        size = one(value, where)
        return (size, size)

    return read


def padding(value: Any, where: str) -> Pair | str:
    """P as in the lecture: an integer (or [h, w]), or PyTorch's 'same' / 'valid'."""
    if isinstance(value, str):
        if value not in ("same", "valid"):
            raise ConfigError(f"{where} must be an integer, [h, w], 'same' or 'valid', got {value!r}.")
        return value
    return pair(0)(value, where)


def number(minimum: float, maximum: float | None = None, *, open_max: bool = False) -> Reader:
    def read(value: Any, where: str) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where} must be a number, got {value!r}.")
        if not _finite(value):
            raise ConfigError(f"{where} must be a finite number, got {value!r}.")
        too_big = maximum is not None and (value >= maximum if open_max else value > maximum)
        if value < minimum or too_big:
            upper = "" if maximum is None else f" and {'below' if open_max else 'at most'} {maximum}"
            raise ConfigError(f"{where} must be at least {minimum}{upper}, got {value}.")
        return float(value)

    return read


def boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}.")
    return value


def text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} must be a name, got {value!r}.")
    return value


def optional(reader: Reader) -> Reader:
    def read(value: Any, where: str) -> Any:
        return None if value is None else reader(value, where)

    return read


def matrix(value: Any, where: str) -> tuple[tuple[tuple[float, ...], ...], ...]:
    """A kernel written in YAML: one matrix [[...], ...] or a list of them (one per filter).

    Returned as a tuple of 2-D matrices so that a single kernel and a bank of kernels look alike.
    """
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{where} must be a matrix of numbers such as [[0, 1, 0], [1, -4, 1], [0, 1, 0]].")
    # A bank is a list of matrices; `value[0]` may be an empty row (`[[]]`), which _one_matrix then refuses.
    first = value[0]
    bank = value if isinstance(first, (list, tuple)) and first and isinstance(first[0], (list, tuple)) else [value]
    mats = tuple(_one_matrix(m, f"{where}[{i}]" if len(bank) > 1 else where) for i, m in enumerate(bank))
    if len({(len(m), len(m[0])) for m in mats}) > 1:
        raise ConfigError(f"{where}: every kernel of the bank must have the same size.")
    return mats


def _one_matrix(rows: Any, where: str) -> tuple[tuple[float, ...], ...]:
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, (list, tuple)) for r in rows):
        raise ConfigError(f"{where} must be a list of rows, e.g. [[1, 2, 1], [2, 4, 2], [1, 2, 1]].")
    if len({len(r) for r in rows}) != 1 or not rows[0]:
        raise ConfigError(f"{where}: every row must have the same, non-zero length; got {[len(r) for r in rows]}.")
    for r in rows:
        for x in r:
            if not isinstance(x, (int, float)) or isinstance(x, bool):
                raise ConfigError(f"{where}: kernel entries must be numbers, got {x!r}.")
            if not _finite(x):
                raise ConfigError(f"{where}: kernel entries must be finite, got {x!r}.")
    return tuple(tuple(float(x) for x in r) for r in rows)


def no_unknown(raw: Mapping[str, Any], known: Iterable[str], where: str) -> None:
    """Refuse a key that nothing reads, with the closest known key as a hint."""
    names = list(known)
    for key in raw:
        if key not in names:
            raise ConfigError(
                f"{where}: unknown key '{key}'.{closest(str(key), names)} Known keys: {', '.join(names)}."
            )


def fmt_shape(shape: tuple[int, ...]) -> str:
    """(3, 227, 227) -> '3×227×227': how every message and table writes a shape."""
    return "×".join(str(x) for x in shape)
