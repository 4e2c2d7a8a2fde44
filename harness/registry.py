"""Name -> entry: how datasets, selection methods, backends, builtin models and reward kinds are
looked up, and how a plugin adds one of its own (harness.plugins, docs/extending.md).

An entry is an object (a declaration, a function) or ``"module:attribute"``, imported on first
use, so a heavy library is imported only when its entry is chosen. A name not found loads the
installed plugins once before the one-line error that lists the names.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Generic, TypeVar

from harness import plugins
from harness.errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name, in the order they were registered (a display order)."""

    def __init__(self, what: str, usage: str, entries: dict[str, T | str] | None = None) -> None:
        self.what = what  # e.g. "backend", for the error message
        self.usage = usage  # how a user names an entry, e.g. "model.backend=<name>"
        self._entries: dict[str, T | str] = dict(entries or {})

    def register(self, name: str, entry: T | str) -> T | str:
        """Add ``entry`` under ``name``; a name taken by another entry is refused in one line."""
        if name in self._entries and self._entries[name] is not entry:
            raise UserError(f"{self.what} {name!r} is registered twice: rename one of them")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Drop an entry (a plugin unloaded, e.g. between tests)."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self)

    def __iter__(self) -> Iterator[str]:
        plugins.load_installed()
        return iter(list(self._entries))

    def __contains__(self, name: object) -> bool:
        plugins.load_installed()
        return name in self._entries

    def get(self, name: str) -> T:
        if name not in self:
            raise UserError(f"unknown {self.what} {name!r}: choose one of {', '.join(self.names())} ({self.usage})")
        return load(self._entries[name])


def load(entry: T | str) -> T:
    """An entry itself, or the attribute ``"module:attribute"`` names (its module imported now)."""
    if isinstance(entry, str):
        module, attribute = entry.split(":")
        return getattr(importlib.import_module(module), attribute)
    return entry
