"""What a backend needs to serve sessions from the slot engine: sizing, reuse, options."""

from __future__ import annotations

import torch

from harness.config import SamplingConfig
from harness.engine.session import EngineSession
from harness.engine.slots import SlotEngine
from harness.engine.top_p import nucleus_threshold
from harness.models.decode_attention import attend_masked, attend_split_k
from harness.models.mamba_model import MambaInLlamaForCausalLM
from harness.sampling import StopChecker

# model.options the engine reads, with their defaults (backends add their own).
ENGINE_OPTIONS: dict[str, object] = {
    "gpu_memory_utilization": 0.9,  # share of free GPU memory the decode slots may fill
    "cuda_graph": True,  # capture the decode step (model + sampling + finish checks); CUDA only
    "max_len_multiple": 256,  # slot length is rounded up to this, so most problems reuse one graph
    # Decode attention: "triton" reads each slot's own length (split-K kernel); "torch" reads the
    # longest live slot's length rounded up to attn_bucket; "auto" is triton on CUDA, else torch.
    "attention": "auto",
    "attn_bucket": 256,
    # Top-p: "triton" finds the nucleus by a threshold search, "torch" by sorting the vocabulary.
    "top_p": "auto",
    # Device steps between host syncs (finish times are this coarse). None: 4 on CUDA, where a
    # sync stalls the queued work; 1 on CPU, where it costs nothing.
    "sync_every": None,
}


TRITON_HINT = "pip install triton (CUDA torch wheels ship it; on CPU it runs only with TRITON_INTERPRET=1)"


def use_triton(choice: str, device: torch.device, option: str) -> bool:
    """``model.options.<option>``: "triton", "torch", or "auto" (Triton on CUDA when it imports)."""
    if choice not in ("auto", "triton", "torch"):
        raise ValueError(f"model.options.{option}={choice!r}: use auto, triton or torch")
    if choice == "torch":
        return False
    try:
        import triton  # noqa: F401
    except ImportError as err:
        if choice == "auto":
            return False
        raise ImportError(f"model.options.{option}=triton needs Triton: {TRITON_HINT} [{err}]") from None
    return choice == "triton" or device.type == "cuda"


def default_sync_every(device: torch.device) -> int:
    return 4 if device.type == "cuda" else 1


def per_slot_bytes(model: MambaInLlamaForCausalLM, max_len: int) -> int:
    """A slot's state plus an estimate of its share of the step's and the sampler's buffers."""
    c = model.cfg
    logits = 64 * c.vocab_size  # fp32 logits, sort/softmax/cumsum/race noise in sampling
    activations = 4 * (4 * c.d_inner + 3 * c.intermediate_size + 8 * c.d_model)
    attention = 16 * c.n_heads * max_len if c.attn_layers else 0  # fp32 scores and softmax
    ssm_temp = 3 * 4 * c.d_inner * c.d_state  # torch path's per-layer exp(dt*A) and products
    return model.state_bytes(1, max_len) + logits + activations + attention + ssm_temp


class EngineHost:
    """Holds one model's slot engine and reuses it across problems while its shape fits."""

    def __init__(self, model: MambaInLlamaForCausalLM, sampling: SamplingConfig, generator: torch.Generator,
                 max_new_tokens: int, options: dict[str, object]) -> None:
        self.model, self.sampling, self.generator = model, sampling, generator
        self.max_new_tokens, self.options = max_new_tokens, options
        self.engine: SlotEngine | None = None
        triton = lambda option: use_triton(str(options[option]), model.device, option)
        model.decode_attention = attend_split_k if triton("attention") else attend_masked
        self.nucleus = nucleus_threshold if triton("top_p") else None

    def describe(self) -> dict[str, object]:
        """The engine's paths, for the backend's ``describe`` (run.json)."""
        attention = "torch, bucketed" if self.model.decode_attention is attend_masked else "triton split-K"
        return {"attention": attention if self.model.cfg.attn_layers else "none",
                "top_p": "torch sort" if self.nucleus is None else "triton threshold search",
                "cuda_graph": self.cuda_graph, "sync_every": self.sync_every}

    @property
    def attn_bucket(self) -> int:
        # A kernel that reads each slot's own length needs no buckets: one graph.
        return int(self.options["attn_bucket"]) if self.model.decode_attention is attend_masked else 0

    @property
    def cuda_graph(self) -> bool:
        return self.model.device.type == "cuda" and bool(self.options["cuda_graph"])

    @property
    def sync_every(self) -> int:
        chosen = self.options["sync_every"]
        return int(chosen) if chosen else default_sync_every(self.model.device)

    def max_len(self, prompt_tokens: int) -> int:
        multiple = int(self.options["max_len_multiple"])
        return -(-(prompt_tokens + self.max_new_tokens) // multiple) * multiple

    def fits(self, prompt_tokens: int) -> int:
        """How many slots fit in the GPU's free memory (plus the slots already held)."""
        max_len = self.max_len(prompt_tokens)
        held = self.model.state_bytes(self.engine.batch, self.engine.max_len) if self.engine else 0
        free, _ = torch.cuda.mem_get_info(self.model.device)
        c = self.model.cfg
        # The prompt's prefill runs beside the slots: keep room for its activations.
        prefill = 16 * prompt_tokens * (4 * c.d_inner + 3 * c.intermediate_size)
        usable = float(self.options["gpu_memory_utilization"]) * (free + held) - prefill
        return int(usable // per_slot_bytes(self.model, max_len))

    def engine_for(self, batch: int, prompt_tokens: int) -> SlotEngine:
        engine = self.engine
        if engine is None or engine.batch != batch or engine.max_len < prompt_tokens + self.max_new_tokens:
            self.engine = engine = None  # free the old slots before allocating new ones
            if self.model.device.type == "cuda":
                torch.cuda.empty_cache()
            engine = self.engine = SlotEngine(
                self.model, batch, self.max_len(prompt_tokens), self.max_new_tokens, self.model.cfg.vocab_size,
                self.sampling, self.generator, self.cuda_graph, self.attn_bucket, self.nucleus)
        return engine

    @torch.inference_mode()
    def session(self, prompt_ids: list[int], batch: int, eos: set[int], stop: StopChecker) -> EngineSession:
        engine = self.engine_for(batch, len(prompt_ids))
        prompt = self.model.prefill(torch.tensor([prompt_ids], device=self.model.device))
        return EngineSession(engine, prompt, eos, stop, self.sync_every)
