"""Test-time scaling under a fixed wall-clock budget: Transformers vs distilled Mamba reasoners.

The Python API (docs/api.md), for notebooks and scripts: ``harness.run(*overrides)`` runs a job as
``python -m harness`` does, ``harness.load(*paths)`` reads runs with their curves and tables as
pandas DataFrames. Imported on first use, so ``import harness`` stays light (no torch).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> the module that defines it, imported when the name is first asked for
_LAZY = {"run": "harness.api", "load": "harness.api", "Job": "harness.api", "Runs": "harness.api",
         "UserError": "harness.errors"}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
