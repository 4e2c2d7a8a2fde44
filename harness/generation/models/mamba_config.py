"""What a MambaInLlama checkpoint says about its model: config.json + mamba_config.json + weight names.

config.json is the teacher's Llama config (sizes, RoPE, tied head); mamba_config.json adds the
Mamba layers (d_inner, d_xb, ssm_cfg) and ``attn_layers``, the layers that stay attention
(empty: a pure Mamba model). Which mixer the Mamba layers are, and how attention weights are
stored, is not in either file: only the weight names tell (``Layout.detect``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

# ssm_cfg keys each mixer understands, with the defaults of the code that trained the checkpoints.
_SSM_DEFAULTS: dict[str, dict[str, Any]] = {
    "mamba1": {"d_state": 16, "d_conv": 4, "expand": 2, "dt_rank": "auto", "repeat_kv_before_conv": True,
               "conv_bias": True},
    "mamba2": {"d_state": 128, "d_conv": 4, "expand": 2, "ngroups": 1, "repeat_kv_before_conv": False,
               "conv_bias": True, "norm_before_gate": False, "chunk_size": 256},
}
# Keys that only shape training or initialisation.
_SSM_IGNORED = {"dt_min", "dt_max", "dt_init", "dt_scale", "dt_init_floor", "use_fast_path", "conv_init",
                "A_init_range", "use_mem_eff_path", "headdim", "d_ssm", "layer_idx"}
# Keys accepted only at the value this implementation computes with.
_SSM_FIXED = {"proj_x_bias": False, "proj_z_bias": False, "out_proj_bias": False, "bias": False, "rmsnorm": True,
              "D_has_hdim": False, "dt_limit": [0.0, float("inf")]}


@dataclass(frozen=True)
class Layout:
    """How the weights are named on disk (several training codebases wrote these checkpoints)."""

    mixer: Literal["mamba1", "mamba2"]
    # Mamba-1 input projection: one ``in_proj`` or five (in_proj_z/x, B_proj, C_proj, dt_proj_down).
    mamba_proj: Literal["fused", "split"]
    # Attention: HF Llama ``self_attn.{q,k,v,o}_proj`` (trained with HF's RoPE, scaling included)
    # or mamba-ssm's MHA ``mha.{in_proj,out_proj}`` (trained with plain RoPE).
    attn: Literal["hf", "mha"]

    @classmethod
    def detect(cls, keys: Iterable[str]) -> Layout:
        keys = list(keys)
        has = lambda suffix: any(k.endswith(suffix) for k in keys)
        mixer = "mamba2" if has(".mamba.dt_bias") else "mamba1"
        proj = "split" if has(".mamba.in_proj_x.weight") else "fused"
        return cls(mixer, proj, "mha" if has(".mha.in_proj.weight") else "hf")


@dataclass(frozen=True)
class HybridConfig:
    vocab_size: int
    d_model: int
    n_layer: int
    intermediate_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: dict | None  # llama3 scaling dict, or None for plain RoPE
    tie_word_embeddings: bool
    attn_layers: tuple[int, ...]
    mixer: Literal["mamba1", "mamba2"]
    d_inner: int
    d_xb: int
    d_state: int
    d_conv: int
    dt_rank: int  # Mamba-1 only
    conv_bias: bool
    repeat_kv_before_conv: bool
    norm_before_gate: bool = False  # Mamba-2 only
    chunk_size: int = 256  # Mamba-2 only

    def __post_init__(self) -> None:
        n, inner, xb = self.d_state, self.d_inner, self.d_xb
        if inner % n or xb % n or (inner // n) % (xb // n):
            raise ValueError(f"d_inner={inner} and d_xb={xb} must be multiples of d_state={n}, "
                             "with d_inner/d_xb groups a whole number")
        if any(not 0 <= i < self.n_layer for i in self.attn_layers):
            raise ValueError(f"attn_layers {list(self.attn_layers)} outside 0..{self.n_layer - 1}")

    @classmethod
    def from_dicts(cls, config: dict, mamba: dict, layout: Layout) -> HybridConfig:
        """Parse config.json and mamba_config.json; unknown or unsupported settings fail here."""
        if config.get("hidden_act", "silu") != "silu" or mamba.get("hidden_act", "silu") != "silu":
            raise ValueError("only hidden_act=silu is supported")
        d_model, n_heads = config["hidden_size"], config["num_attention_heads"]
        for key, value in (("d_model", d_model), ("n_layer", config["num_hidden_layers"]),
                           ("intermediate_size", config["intermediate_size"])):
            if mamba.get(key, value) != value:
                raise ValueError(f"mamba_config.json {key}={mamba[key]} disagrees with config.json ({value})")
        ssm = _ssm_settings(mamba.get("ssm_cfg") or {}, layout.mixer)
        d_inner = mamba.get("d_inner") or ssm["expand"] * d_model
        if layout.mixer == "mamba2" and ssm["ngroups"] * ssm["d_state"] != d_inner:
            raise ValueError(f"Mamba-2 layers need ngroups*d_state == d_inner "
                             f"({ssm['ngroups']}*{ssm['d_state']} != {d_inner})")
        rope_theta, rope_scaling = _rope(config)
        return cls(
            vocab_size=config["vocab_size"], d_model=d_model, n_layer=config["num_hidden_layers"],
            intermediate_size=config["intermediate_size"], n_heads=n_heads,
            n_kv_heads=config.get("num_key_value_heads", n_heads),
            head_dim=config.get("head_dim") or d_model // n_heads,
            rms_norm_eps=config.get("rms_norm_eps", 1e-5), rope_theta=rope_theta,
            rope_scaling=rope_scaling if layout.attn == "hf" else None,
            tie_word_embeddings=config.get("tie_word_embeddings", False),
            attn_layers=tuple(sorted(mamba.get("attn_layers") or [])), mixer=layout.mixer, d_inner=d_inner,
            d_xb=mamba["d_xb"], d_state=ssm["d_state"], d_conv=ssm["d_conv"],
            dt_rank=math.ceil(d_model / 16) if ssm.get("dt_rank", "auto") == "auto" else ssm["dt_rank"],
            conv_bias=ssm["conv_bias"], repeat_kv_before_conv=ssm["repeat_kv_before_conv"],
            norm_before_gate=ssm.get("norm_before_gate", False), chunk_size=ssm.get("chunk_size", 256),
        )

    def to_dicts(self, bos_token_id: int | None = None, eos_token_id: int | None = None) -> tuple[dict, dict]:
        """config.json and mamba_config.json as the released checkpoints write them."""
        config = {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
            "hidden_size": self.d_model, "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.n_layer, "num_attention_heads": self.n_heads,
            "num_key_value_heads": self.n_kv_heads, "head_dim": self.head_dim, "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta, "rope_scaling": self.rope_scaling, "max_position_embeddings": 131072,
            "tie_word_embeddings": self.tie_word_embeddings, "vocab_size": self.vocab_size,
            "bos_token_id": bos_token_id, "eos_token_id": eos_token_id,
        }
        ssm_cfg: dict[str, Any] = {"expand": 1, "d_state": self.d_state, "d_conv": self.d_conv,
                                   "repeat_kv_before_conv": self.repeat_kv_before_conv, "conv_bias": self.conv_bias}
        if self.mixer == "mamba1":
            ssm_cfg["dt_rank"] = self.dt_rank
        else:
            ssm_cfg.update(ngroups=self.d_inner // self.d_state, norm_before_gate=self.norm_before_gate,
                           chunk_size=self.chunk_size)
        mamba = {"d_model": self.d_model, "ssm_cfg": ssm_cfg, "rms_norm_eps": self.rms_norm_eps, "vocab_size": None,
                 "d_inner": self.d_inner, "d_xb": self.d_xb, "intermediate_size": self.intermediate_size,
                 "hidden_act": "silu", "n_layer": self.n_layer, "attn_layers": list(self.attn_layers)}
        return config, mamba


def _ssm_settings(ssm_cfg: dict, mixer: str) -> dict[str, Any]:
    settings = dict(_SSM_DEFAULTS[mixer])
    for key, value in ssm_cfg.items():
        if key in settings:
            settings[key] = value
        elif key in _SSM_FIXED:
            if (list(value) if isinstance(value, (list, tuple)) else value) != _SSM_FIXED[key]:
                raise ValueError(f"mamba_config.json ssm_cfg {key}={value!r} is not supported "
                                 f"(only {_SSM_FIXED[key]!r})")
        elif key not in _SSM_IGNORED:
            raise ValueError(f"mamba_config.json ssm_cfg key {key!r} is not supported for {mixer} layers")
    return settings


def _rope(config: dict) -> tuple[float, dict | None]:
    """RoPE base and llama3 scaling from a transformers-4 (rope_theta/rope_scaling) or -5
    (rope_parameters) config."""
    params = config.get("rope_parameters") or {}
    theta = config.get("rope_theta") or params.get("rope_theta") or 10000.0
    scaling = config.get("rope_scaling") or (params if params.get("rope_type", "default") != "default" else None)
    if not scaling:
        return float(theta), None
    kind = scaling.get("rope_type") or scaling.get("type")
    if kind == "default":
        return float(theta), None
    if kind != "llama3":
        raise ValueError(f"rope scaling {kind!r} is not supported (only llama3)")
    keys = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")
    return float(theta), {"rope_type": "llama3", **{k: scaling[k] for k in keys}}
