"""Registries: one per kind of name a config may use (layer types, activations, ...)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from cnnexp.errors import ConfigError, closest

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> entry map that refuses duplicates and answers unknown names with the known ones."""

    def __init__(self, kind: str, plural: str | None = None) -> None:
        self.kind, self.plural = kind, plural or f"{kind}s"
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, *aliases: str) -> Callable[[T], T]:
        """Decorator form: `@REG.register("conv", "conv2d")`."""

        def add(entry: T) -> T:
            self.add(name, entry, *aliases)
            return entry

        return add

    def add(self, name: str, entry: T, *aliases: str) -> None:
        for key in (name, *aliases):
            if key in self._entries or key in self._aliases:
                raise KeyError(f"{self.kind} '{key}' is registered twice")
        self._entries[name] = entry
        self._aliases.update({alias: name for alias in aliases})

    def canonical(self, name: str, where: str) -> str:
        """The registered name for `name` or an alias of it; ConfigError naming `where` otherwise."""
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        known = sorted(self._entries)
        raise ConfigError(
            f"{where}: unknown {self.kind} '{name}'.{closest(name, [*known, *self._aliases])} "
            f"Known {self.plural}: {', '.join(known)}."
        )

    def get(self, name: str, where: str) -> T:
        return self._entries[self.canonical(name, where)]

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
