"""mamba backend: the MambaInLlama students (hybrid and pure Mamba) on the slot engine.

Per problem the prompt is prefilled once; its state (conv + SSM state per Mamba layer, K/V
prefix per attention layer) and next-token logits are kept, and a sample starts by copying that
state into a free slot, so refilling a slot never prefills again. The slots, the in-graph
sampler and the CUDA-graph decode step are ``harness.engine``'s (shared with the engine
backend); this module loads the model and mamba-ssm's kernels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from harness.backends.torch_backend import SlotEngineBackend, eos_ids
from harness.engine import EngineOptions
from harness.models import resolve
from harness.models.mamba_in_llama import load_model, local_dir


@dataclass(frozen=True)
class MambaOptions(EngineOptions):
    kernels: bool = True  # mamba-ssm kernels on CUDA; False runs the torch reference there too


class MambaBackend(SlotEngineBackend):
    options_type = MambaOptions

    def _load_model(self) -> set[int]:
        cfg = self.model_cfg
        directory = local_dir(resolve(cfg.path), cfg.revision)
        self.tokenizer = self._tokenizer(str(directory))
        self.model, self.layout = load_model(directory, self.dtype, self.device)
        if self.device.type == "cuda" and self.options.kernels:
            from harness.models.mamba_kernels import load_kernels

            self.model.kernels = load_kernels()
        generation = directory / "generation_config.json"
        eos = json.loads(generation.read_text()).get("eos_token_id") if generation.exists() else None
        return eos_ids(eos, self.tokenizer)

    def describe(self) -> dict[str, object]:
        kernels = self.model.kernels
        if kernels is None:
            path = "torch reference"
        elif self.layout.mixer == "mamba1" and kernels.selective_scan is None:
            path = "mamba-ssm (Mamba-1 prompt scan in torch: no selective_scan_cuda)"
        else:
            path = "mamba-ssm"
        return {**super().describe(), "mixer": self.layout.mixer, "attn_layers": list(self.model.cfg.attn_layers),
                "kernels": path}
