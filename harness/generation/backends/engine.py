"""engine backend: a transformers Llama-family model on the project's slot engine.

The weights load through transformers and are handed over to the engine's model (see
``harness.generation.engine.llama``): static per-slot K/V cache, sampling and finish checks inside the decode
step, one CUDA graph per step on a GPU (docs/engine.md). Same prompts, sampling and records as
the hf backend, on the engine the students run on (mamba_in_llama, llamba backends): the
like-for-like choice.
"""

from __future__ import annotations

from harness.errors import UserError
from harness.generation.backends.torch_backend import SlotEngineBackend, eos_ids
from harness.generation.engine.llama import from_hf_llama, is_llama


class EngineBackend(SlotEngineBackend):
    def _load_model(self) -> set[int]:
        hf_model = self._load_causal_lm()
        if not is_llama(hf_model):
            raise UserError(f"backend=engine needs a Llama-family model, not {hf_model.config.model_type!r}: "
                             "use model.backend=hf")
        self.model = from_hf_llama(hf_model)
        return eos_ids(hf_model.generation_config.eos_token_id, self.tokenizer)
