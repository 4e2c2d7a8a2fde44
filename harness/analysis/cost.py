"""Analytic decode cost: a model's shape from its config files, FLOPs and bytes per generated token.

``read_model_shape`` turns config.json (plus mamba_config.json and the weight names for
MambaInLlama checkpoints; for Llamba its config.json alone) into a small JSON-able dict the
runner stores as ``model_shape`` in run.json; ``sample_flops`` / ``sample_bytes`` give the cost
of a sample of ``n`` tokens after a prompt of ``P`` tokens from that dict. These count what the model needs, not what an engine
does: formulas, conventions and what is left out are in docs/metrics.md ("Cost axes").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CONFIG_FILE, MAMBA_CONFIG_FILE = "config.json", "mamba_config.json"
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# FLOPs per SSM state element and token: decay multiply, input multiply and add, output
# multiply and add (the exponent of the decay is not counted).
SSM_FLOPS_PER_ELEMENT = 5


def model_shape(config: dict[str, Any], mamba: dict[str, Any] | None = None,
                weight_names: list[str] | None = None) -> dict[str, Any]:
    """The sizes the cost formulas need, from config.json (and mamba_config.json + weight names
    for a MambaInLlama checkpoint). Raises ValueError for an architecture it has no formulas for."""
    kind = config.get("model_type")
    if kind == "llamba":
        from harness.generation.models.llamba_config import LlambaConfig  # no torch: a plain dataclass

        c = LlambaConfig.from_dict(config)
        return {"arch": "llamba", "vocab_size": c.vocab_size, "d_model": c.d_model, "n_layer": c.n_layer,
                "tie_word_embeddings": c.tie_word_embeddings, "intermediate_size": c.intermediate_size,
                "d_inner": c.d_inner, "n_v_heads": c.n_v_heads, "n_qk_heads": c.n_qk_heads, "d_state": c.d_state,
                "d_conv": c.d_conv, "conv_bias": c.conv_bias}
    common = {"vocab_size": config["vocab_size"], "d_model": config["hidden_size"],
              "n_layer": config["num_hidden_layers"], "tie_word_embeddings": bool(config.get("tie_word_embeddings"))}
    if mamba is not None:
        from harness.generation.models.mamba_config import HybridConfig, Layout  # no torch: plain dataclasses

        if not weight_names:
            raise ValueError("a MambaInLlama checkpoint's mixer is told only by its weight names; none found")
        h = HybridConfig.from_dicts(config, mamba, Layout.detect(weight_names))
        return {"arch": "mamba_in_llama", **common, "intermediate_size": h.intermediate_size, "n_heads": h.n_heads,
                "n_kv_heads": h.n_kv_heads, "head_dim": h.head_dim, "attn_layers": list(h.attn_layers),
                "mixer": h.mixer, "d_inner": h.d_inner, "d_xb": h.d_xb, "d_state": h.d_state, "d_conv": h.d_conv,
                "dt_rank": h.dt_rank, "conv_bias": h.conv_bias, "repeat_kv_before_conv": h.repeat_kv_before_conv}
    if kind == "llama":
        if config.get("attention_bias") or config.get("mlp_bias"):
            raise ValueError("Llama configs with attention_bias / mlp_bias have no cost formulas here")
        heads = config["num_attention_heads"]
        return {"arch": "llama", **common, "intermediate_size": config["intermediate_size"], "n_heads": heads,
                "n_kv_heads": config.get("num_key_value_heads") or heads,
                "head_dim": config.get("head_dim") or config["hidden_size"] // heads,
                "attn_layers": list(range(config["num_hidden_layers"]))}
    if kind == "mamba2":
        return {"arch": "mamba2", **common, "d_inner": int(config["expand"] * config["hidden_size"]),
                "ssm_heads": config["num_heads"], "ssm_head_dim": config["head_dim"], "d_state": config["state_size"],
                "n_groups": config["n_groups"], "d_conv": config["conv_kernel"],
                "use_bias": bool(config.get("use_bias")), "conv_bias": bool(config.get("use_conv_bias", True))}
    raise ValueError(f"no cost formulas for model_type {kind!r} (llama, mamba2, llamba and MambaInLlama have them)")


def read_model_shape(path: str, revision: str | None = None) -> dict[str, Any]:
    """``model_shape`` of a local model directory or a hub id already in the local HF cache (never downloads)."""
    directory = Path(path)
    if not directory.is_dir():
        from huggingface_hub import snapshot_download

        directory = Path(snapshot_download(path, revision=revision, local_files_only=True))
    config = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    if not (directory / MAMBA_CONFIG_FILE).is_file():
        return model_shape(config)
    mamba = json.loads((directory / MAMBA_CONFIG_FILE).read_text(encoding="utf-8"))
    return model_shape(config, mamba, _weight_names(directory))


def _weight_names(directory: Path) -> list[str]:
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (directory / index).is_file():
            return list(json.loads((directory / index).read_text(encoding="utf-8"))["weight_map"])
    from safetensors import safe_open

    names: list[str] = []
    for file in sorted(directory.glob("*.safetensors")):
        with safe_open(str(file), framework="numpy") as f:  # reads the header only
            names += list(f.keys())
    return names


@dataclass(frozen=True)
class Counts:
    """Per-token sizes of one decode step, from a model_shape (docs/metrics.md, "Cost axes")."""

    matmul_params: int  # weights multiplied once per token (lm_head included, embedding lookup not)
    step_params: int  # every parameter a decode step reads (matmul weights + norms, conv, A, D, dt biases)
    attn_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    mamba_layers: int
    ssm_state: int  # SSM state elements per Mamba layer
    conv_state: int  # conv state elements per Mamba layer (channels x kernel width)
    ssm_state_bytes: int | None  # bytes per SSM state element; None: the weights' dtype


def counts(shape: dict[str, Any]) -> Counts:
    d, n_layer, vocab = shape["d_model"], shape["n_layer"], shape["vocab_size"]
    # lm_head (tied or not); an untied input embedding is a lookup of one row per token, not read whole
    head = d * vocab
    arch = shape["arch"]
    if arch == "mamba2":  # transformers Mamba-2: a norm and a mixer per layer, no MLP
        di, n, heads, g = shape["d_inner"], shape["d_state"], shape["ssm_heads"], shape["n_groups"]
        conv_ch = di + 2 * g * n
        in_out = 2 * di + 2 * g * n + heads
        mixer_mm = d * in_out + di * d
        small = (in_out + d if shape["use_bias"] else 0) + conv_ch * shape["d_conv"] + \
            (conv_ch if shape["conv_bias"] else 0) + 3 * heads + di + d  # conv, dt_bias/A_log/D, gated norm, norm
        return Counts(n_layer * mixer_mm + head, n_layer * (mixer_mm + small) + d + head, 0, 0, 0, 0,
                      n_layer, heads * shape["ssm_head_dim"] * n, conv_ch * shape["d_conv"], None)
    if arch == "llamba":  # Llamba: a Discrete Mamba-2 mixer and a SwiGLU MLP per layer
        di, n, k = shape["d_inner"], shape["d_state"], shape["d_conv"]
        heads, g = shape["n_v_heads"], shape["n_qk_heads"]
        conv_ch = di + 2 * g * n
        layer_mm = d * (conv_ch + di + heads) + di * d + 3 * d * shape["intermediate_size"]  # in/out_proj, MLP
        small = di + conv_ch * k + (conv_ch if shape["conv_bias"] else 0) + heads + 2 * d  # z_bias, conv, D, norms
        # State [heads, d_inner / heads, d_state] = d_inner x d_state elements, kept in float32.
        return Counts(n_layer * layer_mm + head, n_layer * (layer_mm + small) + d + head, 0, 0, 0, 0,
                      n_layer, di * n, conv_ch * k, 4)
    h, kv, hd = shape["n_heads"], shape["n_kv_heads"], shape["head_dim"]
    n_attn = len(shape["attn_layers"])
    n_mamba = n_layer - n_attn
    attn_mm = d * (h + 2 * kv) * hd + h * hd * d  # q, k, v, o
    mlp_mm = 3 * d * shape["intermediate_size"]  # gate, up, down
    mamba_mm = mamba_small = ssm = conv = 0
    if n_mamba:
        di, xb, n, k = shape["d_inner"], shape["d_xb"], shape["d_state"], shape["d_conv"]
        heads, repeat = di // n, shape["repeat_kv_before_conv"]
        if shape["mixer"] == "mamba1":  # in_proj -> z, x, B, C, dt_low; dt_proj; A per channel
            r = shape["dt_rank"]
            conv_ch = di if repeat else xb
            mamba_mm = d * (2 * di + 2 * xb + r) + r * di + di * d
            mamba_small = di + di * n + di  # dt_proj bias, A_log, D
        else:  # in_proj -> z, xBC, dt; A, D, dt_bias per head; gated norm
            conv_ch = 3 * di if repeat else di + 2 * xb
            mamba_mm = d * (2 * di + 2 * xb + heads) + di * d
            mamba_small = 3 * heads + di
        mamba_small += conv_ch * k + (conv_ch if shape["conv_bias"] else 0)
        ssm, conv = heads * n * n, conv_ch * k  # state [heads, d_state, d_state]; conv [channels, k]
    matmul = n_attn * attn_mm + n_mamba * mamba_mm + n_layer * mlp_mm + head
    step = matmul + n_mamba * mamba_small + n_layer * 2 * d + d  # + input and post-mixer norms, final norm
    # The MambaInLlama engine keeps SSM states in float32 whatever the weights are.
    return Counts(matmul, step, n_attn, h, kv, hd, n_mamba, ssm, conv, 4 if n_mamba else None)


def context_sum(prompt_tokens: np.ndarray, n_tokens: np.ndarray) -> np.ndarray:
    """Sum over a sample's tokens t = 1..n of the context L_t = P + t - 1 each is produced from."""
    n = np.asarray(n_tokens, dtype=float)
    return n * np.asarray(prompt_tokens, dtype=float) + n * (n - 1) / 2


def sample_flops(shape: dict[str, Any], prompt_tokens: np.ndarray, n_tokens: np.ndarray) -> np.ndarray:
    """FLOPs of generating samples of ``n_tokens`` after prompts of ``prompt_tokens`` (elementwise)."""
    c = counts(shape)
    per_token = 2 * c.matmul_params + c.mamba_layers * (SSM_FLOPS_PER_ELEMENT * c.ssm_state + 2 * c.conv_state)
    attention = 4 * c.attn_layers * c.n_heads * c.head_dim  # q.k and p.v per cached position
    return np.asarray(n_tokens, dtype=float) * per_token + attention * context_sum(prompt_tokens, n_tokens)


def sample_bytes(shape: dict[str, Any], dtype: str, prompt_tokens: np.ndarray, n_tokens: np.ndarray,
                 batch: np.ndarray) -> np.ndarray:
    """Bytes moved generating those samples, ``batch`` samples per decode step sharing one weight read."""
    c = counts(shape)
    w = DTYPE_BYTES[dtype]
    s = c.ssm_state_bytes or w
    kv = 2 * c.attn_layers * c.n_kv_heads * c.head_dim * w  # K and V of one position, all attention layers
    per_token = c.step_params * w / np.asarray(batch, dtype=float) + kv + \
        c.mamba_layers * (2 * c.ssm_state * s + 2 * c.conv_state * w)  # states read and written back
    return np.asarray(n_tokens, dtype=float) * per_token + kv * context_sum(prompt_tokens, n_tokens)
