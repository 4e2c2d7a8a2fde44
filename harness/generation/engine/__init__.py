"""The slot-based decode engine shared by the engine, mamba_in_llama and llamba backends (see docs/engine.md).

It depends on nothing above it: models implement its protocols (``harness.generation.engine.state``),
kernels come from ``harness.generation.kernels``, and its sessions implement ``harness.generation.session.Session``.
"""

from harness.generation.engine.host import EngineHost, EngineOptions, default_sync_every, per_slot_bytes
from harness.generation.engine.sampling import SamplingParams
from harness.generation.engine.session import EngineSession
from harness.generation.engine.slots import SlotEngine
from harness.generation.engine.stop import StopChecker

__all__ = ["EngineHost", "EngineOptions", "EngineSession", "SamplingParams", "SlotEngine", "StopChecker",
           "default_sync_every", "per_slot_bytes"]
