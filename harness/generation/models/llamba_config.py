"""What a Llamba checkpoint's config.json says (cartesia's ``LlambaConfig``), as a plain dataclass
(no torch: the cost model reads it too). Sources: docs/llamba.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MODEL_TYPE = "llamba"
# ssm_cfg keys with the defaults of upstream's DiscreteMamba2; keys accepted only at one value.
_SSM_DEFAULTS = {"d_state": 64, "n_v_heads": 32, "n_qk_heads": 32, "expand": 1, "d_conv": 4, "conv_bias": True,
                 "chunk_size": 128}
_FIXED = {"ssm_cfg.activation": "identity", "ssm_cfg.bias": False, "mlp_cfg.bias": False, "mlp_cfg.act_fn": "silu",
          "lm_head_bias": False}
_IGNORED = {"model_type", "resid_dropout", "architectures", "transformers_version", "torch_dtype", "dtype"}


@dataclass(frozen=True)
class LlambaConfig:
    vocab_size: int  # tokens the head scores: config.json's, before padding
    d_model: int
    n_layer: int
    intermediate_size: int
    norm_epsilon: float  # the final norm's
    tie_word_embeddings: bool
    d_state: int
    n_v_heads: int
    n_qk_heads: int
    expand: int = 1
    d_conv: int = 4
    conv_bias: bool = True
    chunk_size: int = 128
    pad_vocab_size_multiple: int = 8
    attn_layers: tuple[int, ...] = ()  # none (what SlotLM asks of a config)

    def __post_init__(self) -> None:
        if self.d_inner % self.n_v_heads or self.n_v_heads % self.n_qk_heads:
            raise ValueError(f"d_model*expand={self.d_inner} must split into n_v_heads={self.n_v_heads} heads, "
                             f"a multiple of n_qk_heads={self.n_qk_heads}")

    @property
    def d_inner(self) -> int:
        return self.expand * self.d_model

    @property
    def head_dim(self) -> int:
        return self.d_inner // self.n_v_heads

    @property
    def rows(self) -> int:
        """Embedding rows: vocab_size padded up to a multiple of pad_vocab_size_multiple (as upstream)."""
        m = self.pad_vocab_size_multiple
        return -(-self.vocab_size // m) * m

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> LlambaConfig:
        """Parse config.json; unknown or unsupported settings fail here, naming the key."""
        if config.get("model_type") != MODEL_TYPE:
            raise ValueError(f"config.json model_type is {config.get('model_type')!r}, not {MODEL_TYPE!r}")
        mlp, ssm = config.get("mlp_cfg") or {}, config.get("ssm_cfg") or {}
        flat = {**{k: v for k, v in config.items() if k not in ("mlp_cfg", "ssm_cfg")},
                **{f"mlp_cfg.{k}": v for k, v in mlp.items()}, **{f"ssm_cfg.{k}": v for k, v in ssm.items()}}
        known = {"vocab_size", "pad_vocab_size_multiple", "tie_embeddings", "d_model", "n_layer", "norm_epsilon",
                 "mlp_cfg.intermediate_size", *_FIXED, *_IGNORED, *(f"ssm_cfg.{k}" for k in _SSM_DEFAULTS)}
        for key, value in flat.items():
            if key not in known:
                raise ValueError(f"Llamba config.json key {key!r} is not supported (known: {', '.join(sorted(known))})")
            if key in _FIXED and value != _FIXED[key]:
                raise ValueError(f"Llamba config.json {key}={value!r} is not supported (only {_FIXED[key]!r})")
        ssm = {**_SSM_DEFAULTS, **{k: v for k, v in ssm.items() if k in _SSM_DEFAULTS}}
        return cls(vocab_size=config["vocab_size"], d_model=config["d_model"], n_layer=config["n_layer"],
                   intermediate_size=mlp["intermediate_size"], norm_epsilon=config.get("norm_epsilon", 1e-5),
                   tie_word_embeddings=config.get("tie_embeddings", False),
                   pad_vocab_size_multiple=config.get("pad_vocab_size_multiple", 8), **ssm)

    def to_dict(self) -> dict[str, Any]:
        """config.json as the hub repos hold it."""
        ssm = {k: getattr(self, k) for k in _SSM_DEFAULTS}
        return {"model_type": MODEL_TYPE, "vocab_size": self.vocab_size, "tie_embeddings": self.tie_word_embeddings,
                "pad_vocab_size_multiple": self.pad_vocab_size_multiple, "lm_head_bias": False,
                "d_model": self.d_model, "n_layer": self.n_layer, "resid_dropout": 0.0,
                "norm_epsilon": self.norm_epsilon,
                "mlp_cfg": {"intermediate_size": self.intermediate_size, "bias": False, "act_fn": "silu"},
                "ssm_cfg": {**ssm, "activation": "identity", "bias": False}}
