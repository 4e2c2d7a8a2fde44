"""The MambaInLlama causal LM and its decode state.

Decoding keeps B slots. A prompt is prefilled once (``prefill``) into a ``PromptState``: per
Mamba layer its conv + SSM state, per attention layer its K/V prefix, and the next-token logits.
A sample starts by copying that into a free slot (``DecodeState.load``); ``step`` then advances
every slot by one token. Shapes never change between steps, so the step can be a CUDA graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from harness.kernels.decode_attention import Attend
from harness.models.mamba_config import HybridConfig
from harness.models.mamba_kernels import Kernels
from harness.models.mamba_layers import MLP, Attention, Mamba1Mixer, Mamba2Mixer, RMSNorm

# SSM states stay fp32 whatever the weights are: they integrate over the whole sample.
SSM_STATE_DTYPE = torch.float32


@dataclass
class PromptState:
    length: int
    logits: Tensor  # [1, V] fp32, the next-token distribution after the prompt
    layers: list[tuple[Tensor, Tensor]]  # per layer: (conv, ssm) state or (K, V) prefix, batch 1


@dataclass
class DecodeState:
    layers: list[tuple[Tensor, Tensor]]  # per layer: (conv [B,C,K], ssm [B,H,P,N]) or (K, V [B,n_kv,T,hd])
    attention: list[bool]
    lengths: Tensor  # [B] tokens each slot holds, i.e. the position of the next token fed
    max_len: int  # tokens a slot can hold (prompt included)

    def load(self, slots: Tensor, prompt: PromptState) -> None:
        """Start samples in ``slots`` from the saved prompt state (no prefill)."""
        for (a, b), (pa, pb), is_attention in zip(self.layers, prompt.layers, self.attention):
            if is_attention:
                a[slots, :, : prompt.length] = pa
                b[slots, :, : prompt.length] = pb
            else:
                a[slots] = pa.to(a.dtype)
                b[slots] = pb.to(b.dtype)
        self.lengths[slots] = prompt.length

    def cut(self, length: int) -> DecodeState:
        """The state with attention caches cut to ``length`` (views: writes land in the full cache)."""
        layers = [(k[:, :, :length], v[:, :, :length]) if attention else (k, v)
                  for (k, v), attention in zip(self.layers, self.attention)]
        return DecodeState(layers, self.attention, self.lengths, length)


class DecoderLayer(nn.Module):
    def __init__(self, cfg: HybridConfig, index: int) -> None:
        super().__init__()
        self.is_attention = index in cfg.attn_layers
        self.input_layernorm = RMSNorm(cfg.d_model, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.d_model, cfg.rms_norm_eps)
        self.mlp = MLP(cfg.d_model, cfg.intermediate_size)
        if self.is_attention:
            self.self_attn = Attention(cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.rope_theta,
                                       cfg.rope_scaling)
        elif cfg.mixer == "mamba1":
            self.mamba = Mamba1Mixer(cfg.d_model, cfg.d_inner, cfg.d_xb, cfg.d_state, cfg.d_conv, cfg.dt_rank,
                                     cfg.conv_bias, cfg.repeat_kv_before_conv)
        else:
            self.mamba = Mamba2Mixer(cfg.d_model, cfg.d_inner, cfg.d_xb, cfg.d_state, cfg.d_conv, cfg.conv_bias,
                                     cfg.repeat_kv_before_conv, cfg.norm_before_gate, cfg.chunk_size)

    def forward(self, h: Tensor, kernels: Kernels | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        x = self.input_layernorm(h)
        x, state = self.self_attn(x) if self.is_attention else self.mamba(x, kernels)
        h = h + x
        return h + self.mlp(self.post_attention_layernorm(h)), state

    def step(self, h: Tensor, state: tuple[Tensor, Tensor], positions: Tensor, kernels: Kernels | None,
             attend: Attend) -> Tensor:
        x = self.input_layernorm(h)
        if self.is_attention:
            x = self.self_attn.step(x, *state, positions, attend)
        else:
            x = self.mamba.step(x, *state, kernels)
        h = h + x
        return h + self.mlp(self.post_attention_layernorm(h))


class Backbone(nn.Module):
    def __init__(self, cfg: HybridConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(DecoderLayer(cfg, i) for i in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.d_model, cfg.rms_norm_eps)


class MambaInLlamaForCausalLM(nn.Module):
    """Parameter names follow the fused internal layout (see ``mamba_in_llama.to_internal``)."""

    def __init__(self, cfg: HybridConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.model = Backbone(cfg)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.tie_weights()
        # mamba-ssm's kernels, set by the backend on CUDA; None runs the pure-torch reference.
        self.kernels: Kernels | None = None

    def tie_weights(self) -> None:
        self.lm_head.weight = self.model.embed_tokens.weight

    @property
    def device(self) -> torch.device:
        return self.lm_head.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.lm_head.weight.dtype

    @property
    def vocab_size(self) -> int:
        return self.cfg.vocab_size

    @property
    def has_attention(self) -> bool:
        return bool(self.cfg.attn_layers)

    def _run(self, input_ids: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
        h = self.model.embed_tokens(input_ids)
        states = []
        for layer in self.model.layers:
            h, state = layer(h, self.kernels)
            states.append(state)
        return self.model.norm(h), states

    def forward(self, input_ids: Tensor) -> Tensor:
        """Logits [b, L, V] (fp32) at every position: the plain, cache-free forward."""
        h, _ = self._run(input_ids)
        return self.lm_head(h).float()

    def prefill(self, input_ids: Tensor) -> PromptState:
        """Run one prompt [1, L] and keep what a sample needs to continue from it."""
        h, states = self._run(input_ids)
        return PromptState(input_ids.shape[1], self.lm_head(h[:, -1]).float(), states)

    def _state_specs(self, batch: int, max_len: int) -> list[tuple[tuple[int, ...], torch.dtype, tuple[int, ...],
                                                                     torch.dtype]]:
        """Per layer: shape and dtype of its two state tensors."""
        specs = []
        for layer in self.model.layers:
            if layer.is_attention:
                kv = (batch, self.cfg.n_kv_heads, max_len, self.cfg.head_dim)
                specs.append((kv, self.dtype, kv, self.dtype))
            else:
                conv, ssm = layer.mamba.state_shapes()
                specs.append(((batch, *conv), self.dtype, (batch, *ssm), SSM_STATE_DTYPE))
        return specs

    def state_bytes(self, batch: int, max_len: int) -> int:
        """Memory of a DecodeState, without allocating it."""
        size = lambda shape, dtype: torch.Size(shape).numel() * dtype.itemsize
        return sum(size(s1, d1) + size(s2, d2) for s1, d1, s2, d2 in self._state_specs(batch, max_len))

    def slot_bytes(self, max_len: int) -> int:
        """A slot's state plus an estimate of its share of a decode step's temporaries."""
        c = self.cfg
        activations = 4 * (4 * c.d_inner + 3 * c.intermediate_size + 8 * c.d_model)
        attention = 16 * c.n_heads * max_len if c.attn_layers else 0  # fp32 scores and softmax
        ssm_temp = 3 * 4 * c.d_inner * c.d_state  # torch path's per-layer exp(dt*A) and products
        return self.state_bytes(1, max_len) + activations + attention + ssm_temp

    def prefill_bytes(self, prompt_tokens: int) -> int:
        c = self.cfg
        return 16 * prompt_tokens * (4 * c.d_inner + 3 * c.intermediate_size)

    def allocate(self, batch: int, max_len: int) -> DecodeState:
        """Slots for ``batch`` samples of up to ``max_len`` tokens (prompt included)."""
        new = lambda shape, dtype: torch.zeros(shape, dtype=dtype, device=self.device)
        layers = [(new(s1, d1), new(s2, d2)) for s1, d1, s2, d2 in self._state_specs(batch, max_len)]
        attention = [layer.is_attention for layer in self.model.layers]
        return DecodeState(layers, attention, torch.zeros(batch, dtype=torch.long, device=self.device), max_len)

    def step(self, tokens: Tensor, state: DecodeState, attend: Attend) -> Tensor:
        """Feed one token per slot (tokens [B]); returns next-token logits [B, V] (fp32).
        ``attend`` is the attention layers' decode kernel (``harness.kernels.decode_attention``)."""
        # Free slots step too (static shapes); clamping keeps their writes inside the cache.
        positions = state.lengths.clamp(max=state.max_len - 1)
        h = self.model.embed_tokens(tokens)
        for layer, layer_state in zip(self.model.layers, state.layers):
            h = layer.step(h, layer_state, positions, self.kernels, attend)
        state.lengths.add_(1)
        return self.lm_head(self.model.norm(h)).float()
