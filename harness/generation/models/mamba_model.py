"""The students' causal LMs (MambaInLlama hybrids here, Llamba in ``llamba``) and their decode
state.

Both are stacks of Llama decoder layers whose mixer is attention or a Mamba mixer, so one base
class (``SlotLM``) runs them on the engine's protocols. Decoding keeps B slots. A prompt is
prefilled once (``prefill``) into a ``PromptState``: per Mamba layer its conv + SSM state, per
attention layer its K/V prefix, and the next-token logits. A sample starts by copying that into a
free slot (``DecodeState.load``); ``step`` then advances every slot by one token. Shapes never
change between steps, so the step can be a CUDA graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.generation.kernels.decode_attention import Attend
from harness.generation.models.mamba_config import HybridConfig
from harness.generation.models.mamba_kernels import Kernels
from harness.generation.models.mamba_layers import MLP, Attention, Mamba1Mixer, Mamba2Mixer, RMSNorm

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
    """Pre-norm residual block: the mixer (attention or a Mamba mixer), then Llama's SwiGLU MLP."""

    def __init__(self, d_model: int, intermediate: int, eps: float, mixer: nn.Module, is_attention: bool) -> None:
        super().__init__()
        self.is_attention = is_attention
        self.input_layernorm = RMSNorm(d_model, eps)
        self.post_attention_layernorm = RMSNorm(d_model, eps)
        self.mlp = MLP(d_model, intermediate)
        if is_attention:
            self.self_attn = mixer
        else:
            self.mamba = mixer

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


def hybrid_layer(cfg: HybridConfig, index: int) -> DecoderLayer:
    if index in cfg.attn_layers:
        mixer = Attention(cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.rope_theta, cfg.rope_scaling)
    elif cfg.mixer == "mamba1":
        mixer = Mamba1Mixer(cfg.d_model, cfg.d_inner, cfg.d_xb, cfg.d_state, cfg.d_conv, cfg.dt_rank, cfg.conv_bias,
                            cfg.repeat_kv_before_conv)
    else:
        mixer = Mamba2Mixer(cfg.d_model, cfg.d_inner, cfg.d_xb, cfg.d_state, cfg.d_conv, cfg.conv_bias,
                            cfg.repeat_kv_before_conv, cfg.norm_before_gate, cfg.chunk_size)
    return DecoderLayer(cfg.d_model, cfg.intermediate_size, cfg.rms_norm_eps, mixer, index in cfg.attn_layers)


class Backbone(nn.Module):
    def __init__(self, rows: int, d_model: int, layers: list[DecoderLayer], eps: float) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(rows, d_model)
        self.layers = nn.ModuleList(layers)
        self.norm = RMSNorm(d_model, eps)


class SlotLM(nn.Module):
    """Decoder layers + final norm + LM head, with the slot engine's ``DecodeModel`` protocol.

    ``cfg`` gives the sizes: ``vocab_size`` (tokens the head scores; the embedding may hold more,
    padded, rows that are never scored, so never sampled), ``d_model``, ``d_inner``, ``d_state``,
    ``intermediate_size``, ``tie_word_embeddings``, ``attn_layers`` (and for attention ``n_heads``,
    ``n_kv_heads``, ``head_dim``). Parameter names follow the internal layout each loader maps to.
    """

    def __init__(self, cfg: Any, layers: list[DecoderLayer], final_eps: float, rows: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        rows = rows or cfg.vocab_size
        self.model = Backbone(rows, cfg.d_model, layers, final_eps)
        self.lm_head = nn.Linear(cfg.d_model, rows, bias=False)
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

    def _logits(self, h: Tensor) -> Tensor:
        # Only the real vocabulary's rows (a row slice of the head is a view, no copy).
        return F.linear(h, self.lm_head.weight[: self.vocab_size]).float()

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
        return self._logits(h)

    def prefill(self, input_ids: Tensor) -> PromptState:
        """Run one prompt [1, L] and keep what a sample needs to continue from it."""
        h, states = self._run(input_ids)
        return PromptState(input_ids.shape[1], self._logits(h[:, -1]), states)

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
        ``attend`` is the attention layers' decode kernel (``harness.generation.kernels.decode_attention``)."""
        # Free slots step too (static shapes); clamping keeps their writes inside the cache.
        positions = state.lengths.clamp(max=state.max_len - 1)
        h = self.model.embed_tokens(tokens)
        for layer, layer_state in zip(self.model.layers, state.layers):
            h = layer.step(h, layer_state, positions, self.kernels, attend)
        state.lengths.add_(1)
        return self._logits(self.model.norm(h))


class MambaInLlamaForCausalLM(SlotLM):
    """Parameter names follow the fused internal layout (see ``mamba_in_llama.to_internal``)."""

    def __init__(self, cfg: HybridConfig) -> None:
        super().__init__(cfg, [hybrid_layer(cfg, i) for i in range(cfg.n_layer)], cfg.rms_norm_eps)
