"""The slot-based decode engine shared by the mamba backend and the hf backend's engine path
(see docs/engine.md)."""

from harness.engine.host import ENGINE_OPTIONS, EngineHost, default_sync_every, per_slot_bytes
from harness.engine.session import EngineSession
from harness.engine.slots import SlotEngine

__all__ = ["ENGINE_OPTIONS", "EngineHost", "EngineSession", "SlotEngine", "default_sync_every", "per_slot_bytes"]
