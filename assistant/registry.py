"""Registries of named extensions (input formats, retrieval signals): what a package's modules
declare, and what is registered from elsewhere (a plugin, a test).

A module of the package declares its extension as a module attribute (``FORMAT``, ``SIGNAL``);
the modules are imported when the registry is first read, so that adding one is adding a
module. Extensions come out in ``rank`` order (lower first; one rank: the order they came in).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["Named", "Registry"]


class Named(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def rank(self) -> int: ...


T = TypeVar("T", bound=Named)


class Registry(Generic[T]):
    """The extensions of one kind, by name."""

    def __init__(self, package: str, attribute: str, declares: Callable[[str], bool]) -> None:
        """``package``'s modules whose name ``declares`` accepts may declare one as
        ``attribute``."""
        self._package = package
        self._attribute = attribute
        self._declares = declares
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, item: T) -> None:
        """Make ``item`` known (replacing one of the same name)."""
        self._items[item.name] = item

    def unregister(self, name: str) -> None:
        """Forget the one called ``name`` (if any)."""
        self._items.pop(name, None)

    def all(self) -> list[T]:
        """Every one known, in rank order (the package's own imported first)."""
        if not self._loaded:
            self._loaded = True
            package = importlib.import_module(self._package)
            for found in pkgutil.iter_modules(package.__path__):
                if self._declares(found.name):
                    module = importlib.import_module(f"{self._package}.{found.name}")
                    declared = getattr(module, self._attribute, None)
                    if declared is not None:
                        self._items.setdefault(declared.name, declared)
        return sorted(self._items.values(), key=lambda item: item.rank)
