"""Plain trees (what Run.to_dict gives: dicts, lists, str, numbers, bools, None): look up, set, compare, print."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

ABSENT = object()  # a key the tree does not have (None is a value: null)


def lookup(tree: Any, path: Sequence[str]) -> Any:
    """The value at `path` (keys, outermost first), or ABSENT."""
    for part in path:
        if not isinstance(tree, Mapping) or part not in tree:
            return ABSENT
        tree = tree[part]
    return tree


def assign(tree: dict[str, Any], path: Sequence[str], value: Any) -> None:
    """Set the value at `path`, creating mappings on the way; ABSENT removes the key."""
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    if value is ABSENT:
        tree.pop(path[-1], None)
    else:
        tree[path[-1]] = value


def fmt_value(value: Any) -> str:
    """A value as an override writes it: [5,5], null, true, text; long ones cut."""
    if value is ABSENT:
        return "(not set)"
    if isinstance(value, Mapping):
        text = "{" + ", ".join(f"{k}: {fmt_value(v)}" for k, v in value.items()) + "}"
    elif isinstance(value, (list, tuple)):
        text = "[" + ",".join(fmt_value(v) for v in value) + "]"
    elif value is None or isinstance(value, bool):
        text = {None: "null", True: "true", False: "false"}[value]
    else:
        text = str(value)
    return text if len(text) <= 120 else text[:117] + "..."


def diff(a: Any, b: Any, key: str) -> Iterator[tuple[str, Any, Any]]:
    """(dotted key, a's value, b's value) for every leaf where two trees differ, a's keys first."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for name in [*a, *(k for k in b if k not in a)]:
            yield from diff(a.get(name, ABSENT), b.get(name, ABSENT), f"{key}.{name}")
    elif a != b:
        yield key, a, b
