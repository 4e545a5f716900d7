"""Registries: one per kind of name a config may use (layer types, activations, ...).

An unknown name is answered with the known ones and, where the name is a slip of the pen for one of them (a
letter or two off, another case, `_` or `-`), that one. A near spelling of another operation is not a slip:
`layernorm` is no misspelt `batchnorm`. A registry may name the operations it does not hold (`others`), and a
name that is one of those is said to be that operation, never corrected into a known one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import ClassVar, Generic, TypeVar

from cnnexp.errors import ConfigError

T = TypeVar("T")


def _normalised_name(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _edits(a: str, b: str) -> int:
    """Letters inserted, deleted, replaced or swapped with a neighbour to turn `a` into `b` (Damerau)."""
    before, row = None, list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            cost = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (x != y))
            if before is not None and i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, before[j - 2] + 1)
            current.append(cost)
        before, row = row, current
    return row[-1]


def slip_of(name: str, known: Iterable[str]) -> str | None:
    """The known name `name` misspells: equal but for case, `_` and `-`, or within one edit (two past 6 letters)."""
    typed = _normalised_name(name)
    allowed = 1 if len(typed) <= 6 else 2
    # Ties go to the closer spelling as written, then to the earlier name (a registry lists entries before aliases).
    ranked = sorted(
        (_edits(typed, _normalised_name(k)), _edits(name.lower(), k.lower()), i, k) for i, k in enumerate(known)
    )
    return ranked[0][3] if ranked and ranked[0][0] <= allowed else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """' Did you mean X?' for a slip of the pen, or ''."""
    match = slip_of(str(name), [str(k) for k in known])
    return f" Did you mean '{match}'?" if match else ""


class Registry(Generic[T]):
    """A name -> entry map that refuses duplicates and answers unknown names with the known ones."""

    _loading: ClassVar[str | None] = None  # the user's module being imported (model/plugins.py), if any

    def __init__(
        self, kind: str, plural: str | None = None, others: Callable[[], Mapping[str, str]] | None = None
    ) -> None:
        self.kind, self.plural = kind, plural or f"{kind}s"
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._others = others  # name (lower case, no _ or -) -> the operation of that name this registry lacks
        self.origin: dict[str, str] = {}  # name -> the user's module that registered it (a plugin)

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Decorator form: `@REG.register("conv", "conv2d")`."""

        def add(entry: T) -> T:
            self.add(name, entry, *aliases)
            return entry

        return add

    def add(self, name: str, entry: T, *aliases: str) -> None:
        for key in (name, *aliases):
            if key in self._entries or key in self._aliases:
                owner = self.origin.get(self._aliases.get(key, key), "cnnexp")
                raise KeyError(f"{self.kind} '{key}' is registered twice (it is {owner}'s)")
        self._entries[name] = entry
        self._aliases.update({alias: name for alias in aliases})
        if Registry._loading:
            self.origin[name] = Registry._loading

    @staticmethod
    @contextmanager
    def loading(module: str) -> Iterator[None]:
        """While `module` is imported, what it registers is recorded as its own."""
        Registry._loading = module
        try:
            yield
        finally:
            Registry._loading = None

    def canonical(self, name: str, where: str) -> str:
        """The registered name for `name` or an alias of it; ConfigError naming `where` otherwise."""
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        known = sorted(self._entries)
        raise ConfigError(
            f"{where}: unknown {self.kind} '{name}'.{self.hint(name)} Known {self.plural}: {', '.join(known)}."
        )

    def hint(self, name: str, extra: Iterable[str] = ()) -> str:
        """What to say about an unknown `name`: the operation it names instead, or the known name it misspells."""
        names = [*self._entries, *self._aliases, *extra]
        other = (self._others() if self._others else {}).get(_normalised_name(name))
        if other and _normalised_name(name) not in {_normalised_name(k) for k in names}:
            return f" '{name}' is {other}, another operation; none of the known {self.plural} computes it."
        return did_you_mean(name, names)

    def get(self, name: str, where: str) -> T:
        return self._entries[self.canonical(name, where)]

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
