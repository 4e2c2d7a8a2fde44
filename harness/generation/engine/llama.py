"""Llama-family transformers models as engine models.

A ``MambaInLlamaForCausalLM`` whose layers are all attention is exactly a Llama (checked
against transformers in tests/test_mamba_in_llama.py), so a transformers Llama runs on the
slot engine by handing its weights over (shared, except q/k/v which are fused into one matrix).
"""

from __future__ import annotations

import torch

from harness.generation.models.mamba_config import HybridConfig, Layout
from harness.generation.models.mamba_in_llama import to_internal
from harness.generation.models.mamba_model import MambaInLlamaForCausalLM

# The Mamba fields of an all-attention config are unused; these only satisfy its checks.
_HF_LAYOUT = Layout(mixer="mamba1", mamba_proj="fused", attn="hf")


def is_llama(model: torch.nn.Module) -> bool:
    return getattr(model.config, "model_type", None) == "llama"


@torch.no_grad()
def from_hf_llama(model: torch.nn.Module) -> MambaInLlamaForCausalLM:
    """The engine's model for a transformers ``LlamaForCausalLM``, on its device and dtype."""
    config = model.config.to_dict()
    n_layer = config["num_hidden_layers"]
    mamba = {"d_xb": config["hidden_size"], "attn_layers": list(range(n_layer))}
    cfg = HybridConfig.from_dicts(config, mamba, _HF_LAYOUT)
    with torch.device("meta"):
        engine_model = MambaInLlamaForCausalLM(cfg)
    engine_model.load_state_dict(to_internal(model.state_dict(), cfg, _HF_LAYOUT), strict=True, assign=True)
    if cfg.tie_word_embeddings:
        engine_model.tie_weights()
    return engine_model.eval().requires_grad_(False)
