"""The slot-based decode engine shared by the engine, mamba_in_llama and llamba backends (see docs/engine.md).

It depends on nothing above it: models implement its protocols (``harness.engine.state``),
kernels come from ``harness.kernels``, and its sessions implement ``harness.session.Session``.
"""

from harness.engine.host import EngineHost, EngineOptions, default_sync_every, per_slot_bytes
from harness.engine.sampling import SamplingParams
from harness.engine.session import EngineSession
from harness.engine.slots import SlotEngine
from harness.engine.stop import StopChecker

__all__ = ["EngineHost", "EngineOptions", "EngineSession", "SamplingParams", "SlotEngine", "StopChecker",
           "default_sync_every", "per_slot_bytes"]
