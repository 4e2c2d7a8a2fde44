"""Backends by name; each is imported only when chosen, so vLLM / mamba-ssm stay optional."""

from __future__ import annotations

from harness.generation.backends.base import Backend
from harness.registry import Registry

BACKENDS = Registry("backend", "model.backend=<name>", {
    "hf": "harness.generation.backends.hf:HFBackend",
    "engine": "harness.generation.backends.engine:EngineBackend",
    "mamba_in_llama": "harness.generation.backends.mamba_in_llama:MambaInLlamaBackend",
    "llamba": "harness.generation.backends.llamba:LlambaBackend",
    "vllm": "harness.generation.backends.vllm:VLLMBackend",
})


def backend_class(name: str) -> type[Backend]:
    return BACKENDS.get(name)


__all__ = ["BACKENDS", "Backend", "backend_class"]
