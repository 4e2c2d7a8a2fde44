"""mamba_in_llama backend: the MambaInLlama students (hybrids, and pure Mamba in that format) on the
slot engine.

Per problem the prompt is prefilled once; its state (conv + SSM state per Mamba layer, K/V
prefix per attention layer) and next-token logits are kept, and a sample starts by copying that
state into a free slot, so refilling a slot never prefills again. The slots, the in-graph
sampler and the CUDA-graph decode step are ``harness.generation.engine``'s (shared with the engine and
llamba backends); this module loads the model and mamba-ssm's kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import UserError
from harness.generation.backends.torch_backend import StudentBackend, StudentOptions
from harness.generation.models import resolve
from harness.generation.models.checkpoint import local_dir
from harness.generation.models.mamba_in_llama import ROPE_CHOICES, load_model


@dataclass(frozen=True)
class MambaInLlamaOptions(StudentOptions):
    # RoPE of the attention layers: "trained", as the checkpoint was distilled (transformers' Llama
    # attention: llama3 rope_scaling), or "plain" (rope_theta only), as the authors' inference code.
    rope: str = "trained"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rope not in ROPE_CHOICES:
            raise UserError(f"model.options.rope={self.rope!r}: use {' or '.join(ROPE_CHOICES)} (docs/mamba.md)")


class MambaInLlamaBackend(StudentBackend):
    options_type = MambaInLlamaOptions

    def _load_model(self) -> set[int]:
        cfg = self.model_cfg
        directory = local_dir(resolve(cfg.path), cfg.revision)
        self.tokenizer = self._tokenizer(str(directory))
        self.model, self.layout = load_model(directory, self.dtype, self.device, self.options.rope)
        self._use_kernels()
        return self._eos_ids(directory)

    def kernels_path(self) -> str:
        kernels = self.model.kernels
        if kernels is not None and self.layout.mixer == "mamba1" and kernels.selective_scan is None:
            return super().kernels_path() + " (Mamba-1 prompt scan in torch: no selective_scan_cuda)"
        return super().kernels_path()

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "mixer": self.layout.mixer, "attn_layers": list(self.model.cfg.attn_layers),
                "rope": self.options.rope}
