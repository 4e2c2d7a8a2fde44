"""MambaInLlama checkpoints: load them (hub id or local dir) and build tiny random ones.

On disk (JunxiongWang/MambaInLlama{1B,3B}_{Distill,SFT}_MATH and kin): ``config.json`` (the
teacher's Llama config), ``mamba_config.json`` (Mamba sizes and ``attn_layers``), safetensors
(sharded with an index or not) whose names follow the training code, e.g.

    model.layers.N.mamba.in_proj_x.weight, ...B_proj, C_proj, dt_proj_down, dt_proj, A_log, D, conv1d, out_proj
    model.layers.N.self_attn.q_proj.weight (attention layers), model.layers.N.mlp.gate_proj.weight

and the tokenizer with its chat template. ``to_internal`` maps any supported ``Layout`` to the
model's fused parameters; ``to_checkpoint`` maps back (the builders write with it).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from torch import Tensor

from harness.errors import UserError
from harness.generation.models.checkpoint import random_init_, read_tensors, write_generation_config, write_tensors
from harness.generation.models.mamba_config import HybridConfig, Layout
from harness.generation.models.mamba_model import MambaInLlamaForCausalLM

CONFIG_FILE, MAMBA_CONFIG_FILE = "config.json", "mamba_config.json"
# The real 3B/1B checkpoints' layout (file sizes and index size match it, see docs/mamba.md).
MATH_LAYOUT = Layout(mixer="mamba1", mamba_proj="split", attn="hf")
ROPE_CHOICES = ("trained", "plain")


def _fusions(cfg: HybridConfig, layout: Layout, attention: bool) -> dict[str, list[tuple[str, int]]]:
    """Internal parameter (under a layer) -> its checkpoint tensors and their row counts."""
    if attention:
        q, kv = cfg.n_heads * cfg.head_dim, cfg.n_kv_heads * cfg.head_dim
        if layout.attn == "mha":
            return {"self_attn.qkv_proj.weight": [("mha.in_proj.weight", q + 2 * kv)],
                    "self_attn.o_proj.weight": [("mha.out_proj.weight", cfg.d_model)]}
        parts = (("q", q), ("k", kv), ("v", kv))
        return {"self_attn.qkv_proj.weight": [(f"self_attn.{n}_proj.weight", rows) for n, rows in parts]}
    if layout.mixer == "mamba1" and layout.mamba_proj == "split":
        parts = (("in_proj_z", cfg.d_inner), ("in_proj_x", cfg.d_xb), ("B_proj", cfg.d_xb), ("C_proj", cfg.d_inner),
                 ("dt_proj_down", cfg.dt_rank))
        return {"mamba.in_proj.weight": [(f"mamba.{n}.weight", r) for n, r in parts]}
    return {}


def to_internal(tensors: dict[str, Tensor], cfg: HybridConfig, layout: Layout) -> dict[str, Tensor]:
    # Older transformers saved RoPE's inv_freq buffer; it is recomputed from the config.
    out = {k: v for k, v in tensors.items() if not k.endswith("rotary_emb.inv_freq")}
    for i in range(cfg.n_layer):
        prefix = f"model.layers.{i}."
        for name, parts in _fusions(cfg, layout, i in cfg.attn_layers).items():
            out[prefix + name] = torch.cat([out.pop(prefix + part) for part, _ in parts])
    if cfg.tie_word_embeddings:
        out["lm_head.weight"] = out["model.embed_tokens.weight"]
    return out


def to_checkpoint(state_dict: dict[str, Tensor], cfg: HybridConfig, layout: Layout) -> dict[str, Tensor]:
    out = dict(state_dict)
    if cfg.tie_word_embeddings:
        del out["lm_head.weight"]
    for i in range(cfg.n_layer):
        prefix = f"model.layers.{i}."
        for name, parts in _fusions(cfg, layout, i in cfg.attn_layers).items():
            pieces = out.pop(prefix + name).split([rows for _, rows in parts])
            out.update({prefix + part: piece for (part, _), piece in zip(parts, pieces)})
    return out


def read_checkpoint(directory: Path) -> tuple[HybridConfig, Layout, dict[str, Tensor]]:
    """Config, layout and every tensor (on CPU, as stored) of a checkpoint directory."""
    for name in (CONFIG_FILE, MAMBA_CONFIG_FILE):
        if not (directory / name).exists():
            raise UserError(f"{directory} has no {name}: not a MambaInLlama checkpoint")
    tensors = read_tensors(directory)
    layout = Layout.detect(tensors)
    cfg = HybridConfig.from_dicts(json.loads((directory / CONFIG_FILE).read_text()),
                                  json.loads((directory / MAMBA_CONFIG_FILE).read_text()), layout)
    return cfg, layout, tensors


def load_model(directory: Path, dtype: torch.dtype, device: torch.device,
               rope: str = "trained") -> tuple[MambaInLlamaForCausalLM, Layout]:
    """The model of a checkpoint directory. ``rope`` (``ROPE_CHOICES``): "trained" is the RoPE its
    attention layers were distilled with (HF layout: transformers' Llama attention, so the
    config's llama3 ``rope_scaling``); "plain" is ``rope_theta`` alone, as the authors' inference
    code applies it (mamba-ssm's ``MHA`` built with ``rotary_emb_base`` only; docs/mamba.md)."""
    if rope not in ROPE_CHOICES:
        raise ValueError(f"rope={rope!r}: use one of {', '.join(ROPE_CHOICES)}")
    cfg, layout, tensors = read_checkpoint(directory)
    if rope == "plain":
        cfg = dataclasses.replace(cfg, rope_scaling=None)
    with torch.device("meta"):
        model = MambaInLlamaForCausalLM(cfg)
    state = {k: v.to(device=device, dtype=dtype) for k, v in to_internal(tensors, cfg, layout).items()}
    model.load_state_dict(state, strict=True, assign=True)
    if cfg.tie_word_embeddings:
        model.tie_weights()
    return model.eval().requires_grad_(False), layout


def write_checkpoint(model: MambaInLlamaForCausalLM, layout: Layout, out_dir: Path, tokenizer=None) -> None:
    """config.json + mamba_config.json + model.safetensors (+ generation_config.json for a tokenizer)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = write_generation_config(tokenizer, out_dir) if tokenizer is not None else {}
    config, mamba = model.cfg.to_dicts(**ids)
    (out_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    (out_dir / MAMBA_CONFIG_FILE).write_text(json.dumps(mamba, indent=4))
    write_tensors(to_checkpoint(model.state_dict(), model.cfg, layout), out_dir)


def tiny_config(vocab_size: int, attn_layers: tuple[int, ...], mixer: str = "mamba1", attn: str = "hf",
                n_layer: int = 4) -> HybridConfig:
    """A few-KB model with every feature of the real ones: GQA, grouped x/B, tied head, llama3 RoPE."""
    rope = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64}
    return HybridConfig(
        vocab_size=vocab_size, d_model=64, n_layer=n_layer, intermediate_size=128, n_heads=4, n_kv_heads=2,
        head_dim=16, rms_norm_eps=1e-5, rope_theta=10000.0, rope_scaling=rope if attn == "hf" else None,
        tie_word_embeddings=True, attn_layers=attn_layers, mixer=mixer, d_inner=64, d_xb=32, d_state=16, d_conv=4,
        dt_rank=4, conv_bias=True, repeat_kv_before_conv=mixer == "mamba1")


def build_tiny(out_dir: Path, attn_layers: tuple[int, ...], layout: Layout = MATH_LAYOUT, seed: int = 0) -> None:
    from harness.generation.models.tiny import make_tokenizer

    tokenizer = make_tokenizer(out_dir)
    model = MambaInLlamaForCausalLM(tiny_config(len(tokenizer), attn_layers, layout.mixer, layout.attn))
    random_init_(model, seed)
    write_checkpoint(model, layout, out_dir, tokenizer)


def build_tiny_hybrid(out_dir: Path) -> None:
    """Tiny random hybrid in the released MATH checkpoints' layout: attention in 2 of 4 layers."""
    build_tiny(out_dir, attn_layers=(1, 3))


def build_tiny_pure_mamba(out_dir: Path) -> None:
    """Tiny random pure-Mamba model (empty attn_layers)."""
    build_tiny(out_dir, attn_layers=())
