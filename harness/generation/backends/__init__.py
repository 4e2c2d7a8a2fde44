"""Backends by registry: what each declares (what it runs, when ``model.backend=auto`` picks it, its
speed class), and its implementation, imported only when chosen, so vLLM / mamba-ssm stay optional.

Reading the declarations imports no torch (the report reads speed classes, config validation the
names), so the built-in ones are declared here, each naming its file; a plugin declares its own
beside its class (docs/extending.md, "A backend"). ``auto.py`` turns the declarations into the
choice of ``model.backend=auto`` / ``slot`` and its recorded reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.generation.backends.base import Backend
from harness.registry import Registry, load


@dataclass(frozen=True)
class Auto:
    """When ``model.backend=auto`` picks a backend: the first one (by ``rank``) that runs the model
    and whose needs this machine meets."""

    rank: int
    cuda: bool = False  # only on a CUDA device
    package: str | None = None  # only where this package is installed (its import name)
    choice: str = ""  # what the reason says it chose, e.g. "vLLM, the engine the field serves it with"


@dataclass(frozen=True)
class BackendSpec:
    name: str  # model.backend=<name>
    impl: type[Backend] | str  # the class, or "module:Class" imported when chosen
    # What it runs, as harness.generation.models.hub names architectures (config.json's model_type,
    # or mamba_in_llama); None: whatever transformers loads, except a format another backend owns.
    architectures: frozenset[str] | None
    # Owns its architectures: a checkpoint in that format runs on this backend only (a student's format).
    exclusive: bool
    speed_class: str  # the report warns when one figure mixes classes: "optimized" | "plain"
    auto: Auto
    slot_engine: bool = False  # on the project's slot engine (model.backend=slot picks it)
    label: str = ""  # what it runs, in messages: "llama", "MambaInLlama"
    title: str = ""  # how a reason names it: "vLLM", "the slot engine"


BACKENDS: Registry[BackendSpec] = Registry("backend", "model.backend=<name>")


def register_backend(spec: BackendSpec) -> BackendSpec:
    """Add a backend (a plugin's, docs/extending.md)."""
    return BACKENDS.register(spec.name, spec)


def backend_class(name: str) -> type[Backend]:
    return load(BACKENDS.get(name).impl)


_STUDENT = "a {label} checkpoint runs on the {name} backend (slot engine)"
register_backend(BackendSpec(
    "mamba_in_llama", "harness.generation.backends.mamba_in_llama:MambaInLlamaBackend", frozenset({"mamba_in_llama"}),
    exclusive=True, speed_class="optimized", auto=Auto(rank=0, choice=_STUDENT), slot_engine=True,
    label="MambaInLlama"))
register_backend(BackendSpec(
    "llamba", "harness.generation.backends.llamba:LlambaBackend", frozenset({"llamba"}), exclusive=True,
    speed_class="optimized", auto=Auto(rank=0, choice=_STUDENT), slot_engine=True, label="Llamba"))
register_backend(BackendSpec(
    "vllm", "harness.generation.backends.vllm:VLLMBackend", None, exclusive=False, speed_class="optimized",
    auto=Auto(rank=1, cuda=True, package="vllm", choice="vLLM, the engine the field serves it with"), title="vLLM"))
register_backend(BackendSpec(
    "engine", "harness.generation.backends.engine:EngineBackend", frozenset({"llama"}), exclusive=False,
    speed_class="optimized", auto=Auto(rank=2, cuda=True, choice="the slot engine (CUDA-graph decode)"),
    slot_engine=True, label="llama", title="the slot engine"))
register_backend(BackendSpec(
    "hf", "harness.generation.backends.hf:HFBackend", None, exclusive=False, speed_class="plain",
    auto=Auto(rank=3, choice="hf")))

__all__ = ["BACKENDS", "Auto", "Backend", "BackendSpec", "backend_class", "register_backend"]
