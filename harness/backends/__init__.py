"""Backends by name; each is imported only when chosen, so vLLM / mamba-ssm stay optional."""

from __future__ import annotations

import importlib

from harness.backends.base import Backend, Finished, Session

# name -> "module:class"; heavy libraries are imported by the module, never here.
BACKENDS = {
    "hf": "harness.backends.hf:HFBackend",
    "mamba": "harness.backends.mamba:MambaBackend",
    "vllm": "harness.backends.vllm:VLLMBackend",
}


def backend_class(name: str) -> type[Backend]:
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}: choose one of {', '.join(sorted(BACKENDS))} (model.backend=...)")
    module, cls = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["BACKENDS", "Backend", "Finished", "Session", "backend_class"]
