"""Extensions from outside the package: a dataset, a selection method or a backend of one's own.

A plugin is a Python module that registers entries when it is imported (docs/extending.md). Two
ways to have it imported:

- named in the config: ``python -m harness plugins=[my_plugin]`` imports ``my_plugin`` at start
  (from ``PYTHONPATH`` or the working directory). run.json records the list, so grading, reward
  scoring and the report of that run import the same modules again;
- installed: a package declares an entry point in the group ``harness.plugins``
  (``[project.entry-points."harness.plugins"] mine = "my_package.harness_plugin"``); every
  entry point of the harness imports it, and so does a registry asked for a name it lacks.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from harness.errors import UserError

GROUP = "harness.plugins"
_installed_loaded = False


class PluginError(UserError):
    pass


def load_installed() -> None:
    """Import every installed plugin (entry points of the group ``harness.plugins``), once."""
    global _installed_loaded
    if _installed_loaded:
        return
    _installed_loaded = True  # first: a plugin reading a registry while it is imported must not recurse
    for point in entry_points(group=GROUP):
        try:
            point.load()
        except ImportError as err:
            raise PluginError(f"installed plugin {point.name} ({point.value}, entry point group {GROUP}) cannot "
                              f"be imported: {err}; reinstall or uninstall its package") from None


def load(modules: Iterable[str] = ()) -> None:
    """The installed plugins, then the modules named (a config's ``plugins``)."""
    load_installed()
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise PluginError(f"plugins: cannot import {name!r} ({err}): put the folder holding it on PYTHONPATH "
                              "(or run from that folder), or install its package") from None


def load_for(config: Mapping[str, Any]) -> None:
    """The plugins a recorded run's config names (run.json ``config``), so its entries resolve again."""
    load(config.get("plugins") or ())
