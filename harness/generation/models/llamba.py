"""Llamba checkpoints (cartesia-ai/Llamba-{1B,3B,8B}: Llama-3.x distilled into Discrete Mamba-2 by
MOHAWK): config, the model, loading and tiny random ones. Each fact's upstream source: docs/llamba.md.

On disk: ``config.json`` (cartesia's ``LlambaConfig``: ``model_type: llamba``, ``vocab_size``,
``pad_vocab_size_multiple``, ``tie_embeddings``, ``lm_head_bias``, ``d_model``, ``n_layer``,
``norm_epsilon``, ``mlp_cfg``, ``ssm_cfg``) and the weights (the hub's ``model.safetensors``;
upstream's own ``save_pretrained`` writes ``pytorch_model.bin``; sharded safetensors load too):

    backbone.embedding.weight                   [vocab rows, padded up to pad_vocab_size_multiple]
    backbone.layers.N.mixer.{in_proj.weight, z_bias, conv1d.weight, conv1d.bias, D, out_proj.weight}
    backbone.layers.N.{input_layernorm, post_attention_layernorm}.weight, ...mlp.{gate,up,down}_proj.weight
    backbone.final_layernorm.weight, lm_head.weight (untied only)

No tokenizer or generation config: the teacher's serve (``model.tokenizer``).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from harness.errors import UserError
from harness.generation.models.checkpoint import random_init_, read_tensors, write_generation_config, write_tensors
from harness.generation.models.discrete_mamba2 import DiscreteMamba2Mixer
from harness.generation.models.llamba_config import LlambaConfig
from harness.generation.models.mamba_model import DecoderLayer, SlotLM

CONFIG_FILE = "config.json"
BLOCK_NORM_EPS = 1e-5  # upstream's Block builds both of its norms with eps=1e-5, whatever norm_epsilon says
# Checkpoint name prefix <-> internal (``SlotLM``) prefix; a layer's ``.mixer.`` is the internal ``.mamba.``.
_PREFIXES = (("backbone.embedding.", "model.embed_tokens."), ("backbone.final_layernorm.", "model.norm."),
             ("backbone.layers.", "model.layers."))


def llamba_layer(cfg: LlambaConfig) -> DecoderLayer:
    mixer = DiscreteMamba2Mixer(cfg.d_model, cfg.d_inner, cfg.d_state, cfg.n_v_heads, cfg.n_qk_heads, cfg.d_conv,
                                cfg.conv_bias, cfg.chunk_size)
    return DecoderLayer(cfg.d_model, cfg.intermediate_size, BLOCK_NORM_EPS, mixer, is_attention=False)


class LlambaForCausalLM(SlotLM):
    """Llamba on the slot engine: every layer a Discrete Mamba-2 mixer (internal names: ``SlotLM``'s)."""

    def __init__(self, cfg: LlambaConfig) -> None:
        super().__init__(cfg, [llamba_layer(cfg) for _ in range(cfg.n_layer)], cfg.norm_epsilon, cfg.rows)


def _rename(name: str, pairs: tuple[tuple[str, str], ...], mixer: tuple[str, str]) -> str:
    for old, new in pairs:
        if name.startswith(old):
            return re.sub(rf"^({re.escape(new)}\d+\.){re.escape(mixer[0])}", rf"\g<1>{mixer[1]}",
                          new + name[len(old):])
    return name


def to_internal(tensors: dict[str, Tensor], cfg: LlambaConfig) -> dict[str, Tensor]:
    out = {_rename(k, _PREFIXES, ("mixer.", "mamba.")): v for k, v in tensors.items()}
    if cfg.tie_word_embeddings:
        out["lm_head.weight"] = out["model.embed_tokens.weight"]
    return out


def to_checkpoint(state_dict: dict[str, Tensor], cfg: LlambaConfig) -> dict[str, Tensor]:
    back = tuple((new, old) for old, new in _PREFIXES)
    out = {_rename(k, back, ("mamba.", "mixer.")): v for k, v in state_dict.items()}
    if cfg.tie_word_embeddings:
        del out["lm_head.weight"]
    return out


def read_checkpoint(directory: Path) -> tuple[LlambaConfig, dict[str, Tensor]]:
    """Config and every tensor (on CPU, as stored) of a Llamba checkpoint directory."""
    if not (directory / CONFIG_FILE).exists():
        raise UserError(f"{directory} has no {CONFIG_FILE}: not a Llamba checkpoint")
    cfg = LlambaConfig.from_dict(json.loads((directory / CONFIG_FILE).read_text()))
    return cfg, read_tensors(directory)


def load_model(directory: Path, dtype: torch.dtype, device: torch.device) -> LlambaForCausalLM:
    cfg, tensors = read_checkpoint(directory)
    with torch.device("meta"):
        model = LlambaForCausalLM(cfg)
    state = {k: v.to(device=device, dtype=dtype) for k, v in to_internal(tensors, cfg).items()}
    model.load_state_dict(state, strict=True, assign=True)
    if cfg.tie_word_embeddings:
        model.tie_weights()
    return model.eval().requires_grad_(False)


def write_checkpoint(model: LlambaForCausalLM, out_dir: Path, tokenizer=None) -> None:
    """config.json + model.safetensors in the hub's layout (+ generation_config.json for a tokenizer)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if tokenizer is not None:
        write_generation_config(tokenizer, out_dir)
    (out_dir / CONFIG_FILE).write_text(json.dumps(model.cfg.to_dict(), indent=2))
    write_tensors(to_checkpoint(model.state_dict(), model.cfg), out_dir)


def tiny_config(vocab_size: int, tie: bool = True, n_layer: int = 2) -> LlambaConfig:
    """A few-KB Llamba with every feature of the real ones: B/C groups shared by 2 value heads, head
    width (8) unlike d_state (16), padded vocabulary rows, final-norm eps unlike the blocks'."""
    return LlambaConfig(vocab_size=vocab_size, d_model=64, n_layer=n_layer, intermediate_size=128, norm_epsilon=1e-6,
                        tie_word_embeddings=tie, d_state=16, n_v_heads=8, n_qk_heads=4, chunk_size=8,
                        pad_vocab_size_multiple=256)


def build_tiny_llamba(out_dir: Path, seed: int = 0) -> None:
    """Tiny random Llamba exactly in the hub's layout: config.json and model.safetensors, no
    tokenizer (conf/model/tiny_llamba.yaml takes tiny_llama's, the same tiny tokenizer, as the real
    configs take the teacher's)."""
    from harness.generation.models.tiny import make_tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        vocab = len(make_tokenizer(Path(tmp)))
    model = LlambaForCausalLM(tiny_config(vocab))
    random_init_(model, seed)
    write_checkpoint(model, out_dir)
