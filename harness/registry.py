"""Name -> lazily imported object: how backends, builtin models, selection methods and reward
kinds are looked up, so a heavy library is imported only when its entry is chosen."""

from __future__ import annotations

import importlib
from typing import Any

from harness.errors import UserError


class Registry:
    """``"name" -> "module:attribute"``; ``get`` imports the module on first use."""

    def __init__(self, what: str, usage: str, entries: dict[str, str]) -> None:
        self.what = what  # e.g. "backend", for the error message
        self.usage = usage  # how a user names an entry, e.g. "model.backend=<name>"
        self._entries = dict(entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self):
        """Names in the order they were given (a display order)."""
        return iter(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> Any:
        if name not in self._entries:
            raise UserError(f"unknown {self.what} {name!r}: choose one of {', '.join(self.names())} ({self.usage})")
        module, attribute = self._entries[name].split(":")
        return getattr(importlib.import_module(module), attribute)
