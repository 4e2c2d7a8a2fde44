"""What a backend needs to serve sessions from the slot engine: sizing, reuse, options."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from harness.errors import MissingPackage, UserError
from harness.generation.engine.sampling import SamplingParams
from harness.generation.engine.session import EngineSession
from harness.generation.engine.slots import SlotEngine
from harness.generation.engine.state import DecodeModel
from harness.generation.engine.stop import StopChecker
from harness.generation.kernels.decode_attention import attend_masked, attend_split_k
from harness.generation.kernels.top_p import nucleus_threshold

KERNEL_CHOICES = ("auto", "triton", "torch")


@dataclass(frozen=True)
class EngineOptions:
    """``model.options`` the engine reads (backends on the engine add their own)."""

    # Valid ranges as field metadata (ge / gt / le), checked when the options are parsed
    # (harness.config.check_ranges).
    # Share of free GPU memory the decode slots may fill.
    gpu_memory_utilization: float = field(default=0.9, metadata={"gt": 0, "le": 1})
    cuda_graph: bool = True  # capture the decode step (model + sampling + finish checks); CUDA only
    # Slot length is rounded up to this, so most problems reuse one graph.
    max_len_multiple: int = field(default=256, metadata={"ge": 1})
    # Decode attention: "triton" reads each slot's own length (split-K kernel); "torch" reads the
    # longest live slot's length rounded up to attn_bucket; "auto" is triton on CUDA, else torch.
    attention: str = "auto"
    attn_bucket: int = field(default=256, metadata={"ge": 0})
    # Top-p: "triton" finds the nucleus by a threshold search, "torch" by sorting the vocabulary.
    top_p: str = "auto"
    # Device steps between host syncs (finish times are this coarse). None: 4 on CUDA, where a
    # sync stalls the queued work; 1 on CPU, where it costs nothing.
    sync_every: int | None = field(default=None, metadata={"ge": 1})

    def __post_init__(self) -> None:
        for option in ("attention", "top_p"):
            if getattr(self, option) not in KERNEL_CHOICES:
                raise UserError(f"model.options.{option}={getattr(self, option)!r}: use auto, triton or torch")


TRITON_HINT = "pip install triton (CUDA torch wheels ship it; on CPU it runs only with TRITON_INTERPRET=1)"


def use_triton(choice: str, device: torch.device, option: str) -> bool:
    """``model.options.<option>``: "triton", "torch", or "auto" (Triton on CUDA when it imports)."""
    if choice == "torch":
        return False
    try:
        import triton  # noqa: F401
    except ImportError as err:
        if choice == "auto":
            return False
        raise MissingPackage(f"model.options.{option}=triton needs Triton: {TRITON_HINT} [{err}]") from None
    return choice == "triton" or device.type == "cuda"


def default_sync_every(device: torch.device) -> int:
    return 4 if device.type == "cuda" else 1


def per_slot_bytes(model: DecodeModel, max_len: int) -> int:
    """A slot's state and step temporaries, plus its share of the sampler's [B, V] buffers."""
    return model.slot_bytes(max_len) + 64 * model.vocab_size  # fp32 logits, softmax, race noise...


class EngineHost:
    """Holds one model's slot engine and reuses it across problems while its shape fits."""

    def __init__(self, model: DecodeModel, sampling: SamplingParams, generator: torch.Generator,
                 max_new_tokens: int, options: EngineOptions) -> None:
        self.model, self.sampling, self.generator = model, sampling, generator
        self.max_new_tokens, self.options = max_new_tokens, options
        self.engine: SlotEngine | None = None
        # Slot allocations and CUDA graphs captured so far (the runner counts those on a clock).
        self.events = {"allocations": 0, "graph_captures": 0}
        self.split_k = use_triton(options.attention, model.device, "attention")
        self.attend = attend_split_k if self.split_k else attend_masked
        self.nucleus = nucleus_threshold if use_triton(options.top_p, model.device, "top_p") else None

    def describe(self) -> dict[str, object]:
        """The engine's paths, for the backend's ``describe`` (run.json)."""
        attention = "triton split-K" if self.split_k else "torch, bucketed"
        return {"attention": attention if self.model.has_attention else "none",
                "top_p": "torch sort" if self.nucleus is None else "triton threshold search",
                "cuda_graph": self.cuda_graph, "sync_every": self.sync_every}

    @property
    def attn_bucket(self) -> int:
        # A kernel that reads each slot's own length needs no buckets: one graph.
        return 0 if self.split_k else self.options.attn_bucket

    @property
    def cuda_graph(self) -> bool:
        return self.model.device.type == "cuda" and self.options.cuda_graph

    @property
    def sync_every(self) -> int:
        return self.options.sync_every or default_sync_every(self.model.device)

    def max_len(self, prompt_tokens: int) -> int:
        multiple = self.options.max_len_multiple
        return -(-(prompt_tokens + self.max_new_tokens) // multiple) * multiple

    def fits(self, prompt_tokens: int) -> int:
        """How many slots fit in the GPU's free memory (plus the slots already held)."""
        max_len = self.max_len(prompt_tokens)
        held = self.model.state_bytes(self.engine.batch, self.engine.max_len) if self.engine else 0
        torch.cuda.empty_cache()  # memory PyTorch caches but no tensor holds is free for the slots
        free, _ = torch.cuda.mem_get_info(self.model.device)
        # The prompt's prefill runs beside the slots: keep room for its activations.
        usable = self.options.gpu_memory_utilization * (free + held) - self.model.prefill_bytes(prompt_tokens)
        return int(usable // per_slot_bytes(self.model, max_len))

    def engine_for(self, batch: int, prompt_tokens: int) -> SlotEngine:
        engine = self.engine
        if engine is None or engine.batch != batch or engine.max_len < prompt_tokens + self.max_new_tokens:
            self.engine = engine = None  # free the old slots before allocating new ones
            if self.model.device.type == "cuda":
                torch.cuda.empty_cache()
            engine = self.engine = SlotEngine(
                self.model, batch, self.max_len(prompt_tokens), self.max_new_tokens, self.sampling, self.generator,
                self.cuda_graph, self.attend, self.attn_bucket, self.nucleus)
            self.events["allocations"] += 1
            self.events["graph_captures"] += len(engine.graphs)
        return engine

    @torch.inference_mode()
    def session(self, prompt_ids: list[int], batch: int, eos: set[int], stop: StopChecker) -> EngineSession:
        engine = self.engine_for(batch, len(prompt_ids))
        prompt = self.model.prefill(torch.tensor([prompt_ids], device=self.model.device))
        return EngineSession(engine, prompt, eos, stop, self.sync_every)
