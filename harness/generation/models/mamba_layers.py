"""Layers of the MambaInLlama students: Llama attention/MLP/RMSNorm and the two Mamba mixers.

Every layer has ``forward`` (a whole sequence from position 0, returning the state it leaves)
and ``step`` (one token per slot, updating that slot's state in place). With ``kernels`` None
both run as plain torch (the reference path, CPU-friendly); with mamba-ssm's kernels the scans
and state updates run on the GPU kernels and everything around them stays the same torch code.

Mixer variants, both with x and B shared by groups of heads the way GQA shares K and V:
- ``Mamba1Mixer``: MambaInLlama's selective-scan layer (A and dt per channel, d_state 16).
  Its dt projection's bias is applied twice (in the projection and again as the scan's
  delta_bias), as in the code the checkpoints were trained with.
- ``Mamba2Mixer``: MambaInLlama's Mamba-2 layer (scalar A per head, gated grouped RMSNorm).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.generation.kernels.decode_attention import Attend
from harness.generation.models.mamba_kernels import Kernels


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        # As Llama: normalise in fp32, scale after casting back.
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


class MLP(nn.Module):
    def __init__(self, d_model: int, intermediate: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(d_model, intermediate, bias=False)
        self.up_proj = nn.Linear(d_model, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


def llama3_inv_freq(inv_freq: Tensor, scaling: dict) -> Tensor:
    """Llama-3.1's frequency scaling: long wavelengths slowed by ``factor``, a smooth band between."""
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_len = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > old_len / low, inv_freq / factor, inv_freq)
    smooth = (old_len / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= old_len / high) & (wavelen <= old_len / low)
    return torch.where(medium, smoothed, scaled)


class Attention(nn.Module):
    """Llama GQA attention with RoPE (rotate-half), q/k/v fused into one projection."""

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int, head_dim: int,
                 rope_theta: float, rope_scaling: dict | None) -> None:
        super().__init__()
        self.n_heads, self.n_kv, self.head_dim = n_heads, n_kv_heads, head_dim
        self.qkv_proj = nn.Linear(d_model, (n_heads + 2 * n_kv_heads) * head_dim, bias=False)
        self.o_proj = nn.Linear(n_heads * head_dim, d_model, bias=False)
        self.rope_theta, self.rope_scaling = rope_theta, rope_scaling
        self._inv_freq: Tensor | None = None

    def inv_freq(self, device: torch.device) -> Tensor:
        # Built on first use, not a buffer: models are built on the meta device and then loaded.
        if self._inv_freq is None or self._inv_freq.device != device:
            freq = 1.0 / self.rope_theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.float32) / self.head_dim)
            if self.rope_scaling is not None:
                freq = llama3_inv_freq(freq, self.rope_scaling)
            self._inv_freq = freq.to(device)
        return self._inv_freq

    def _rope(self, x: Tensor, positions: Tensor) -> Tensor:
        """x [..., L, heads, head_dim] rotated at positions [..., L]."""
        freqs = positions.float()[..., None] * self.inv_freq(x.device)
        emb = torch.cat([freqs, freqs], dim=-1)[..., None, :]
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        half = self.head_dim // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated * sin

    def _qkv(self, x: Tensor, positions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        hd, nq, nkv = self.head_dim, self.n_heads, self.n_kv
        q, k, v = self.qkv_proj(x).split([nq * hd, nkv * hd, nkv * hd], dim=-1)
        q = self._rope(q.unflatten(-1, (nq, hd)), positions)
        k = self._rope(k.unflatten(-1, (nkv, hd)), positions)
        return q, k, v.unflatten(-1, (nkv, hd))

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Causal attention over x [b, L, d]; returns the output and K/V [b, n_kv, L, head_dim]."""
        positions = torch.arange(x.shape[1], device=x.device)
        q, k, v = (t.transpose(1, 2) for t in self._qkv(x, positions))
        rep = self.n_heads // self.n_kv
        out = F.scaled_dot_product_attention(q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1),
                                             is_causal=True)
        return self.o_proj(out.transpose(1, 2).flatten(2)), (k, v)

    def step(self, x: Tensor, k_cache: Tensor, v_cache: Tensor, positions: Tensor, attend: Attend) -> Tensor:
        """One token per slot: x [B, d] at positions [B]; caches [B, n_kv, T, head_dim]."""
        q, k, v = self._qkv(x[:, None], positions[:, None])
        slots = torch.arange(x.shape[0], device=x.device)
        # Static shapes (CUDA graphs): each slot writes at its own position.
        k_cache[slots, :, positions] = k[:, 0]
        v_cache[slots, :, positions] = v[:, 0]
        return self.o_proj(attend(q[:, 0], k_cache, v_cache, positions + 1).flatten(1))


def repeat_groups(t: Tensor, size: int, rep: int) -> Tensor:
    """[..., G*size] -> [..., G*rep, size]: each group of ``size`` channels repeated ``rep`` times
    in place (GQA's repeat_kv), so head h uses group h // rep."""
    return t.unflatten(-1, (-1, size)).repeat_interleave(rep, dim=-2)


def causal_conv(x: Tensor, conv: nn.Conv1d, silu: bool = True) -> tuple[Tensor, Tensor]:
    """Depthwise causal conv (+ SiLU) over x [b, L, C]; also returns the conv state [b, C, K]
    (the last K inputs, zero-padded on the left)."""
    k = conv.weight.shape[-1]
    xt = x.transpose(1, 2)
    state = F.pad(xt, (k - xt.shape[-1], 0)) if xt.shape[-1] < k else xt[..., -k:]
    out = F.conv1d(xt, conv.weight, conv.bias, padding=k - 1, groups=xt.shape[1])[..., : x.shape[1]]
    return (F.silu(out) if silu else out).transpose(1, 2), state.contiguous()


def conv_step(x: Tensor, conv: nn.Conv1d, state: Tensor, silu: bool = True, kernels: Kernels | None = None) -> Tensor:
    """One conv step (+ SiLU) on x [B, C], shifting x into state [B, C, K] in place; with
    causal-conv1d installed, its ``causal_conv1d_update`` does the same on CUDA."""
    if kernels is not None and kernels.conv_update is not None:
        return kernels.conv_update(x.contiguous(), state, conv.weight[:, 0], conv.bias, "silu" if silu else None)
    state.copy_(torch.cat([state[..., 1:], x[..., None].to(state.dtype)], dim=-1))
    out = (state * conv.weight[:, 0]).sum(-1)
    if conv.bias is not None:
        out = out + conv.bias
    return (F.silu(out) if silu else out).to(x.dtype)


def ssm_step_ref(state: Tensor, x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                 D: Tensor | None) -> Tensor:
    """One recurrence step in fp32, state [B, H, P, N] updated in place.

    x [B, H, P]; delta [B, H, P] or [B, H, 1]; A [H, P, N] or [H, 1, 1]; B, C [B, H, N]; D [H, P] or [H, 1]
    (None: no skip term).
    """
    state.mul_(torch.exp(delta[..., None] * A)).add_((delta * x)[..., None] * B[:, :, None, :])
    y = (state * C[:, :, None, :]).sum(-1)
    return y if D is None else y + D * x


def ssm_scan_ref(x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                 D: Tensor | None) -> tuple[Tensor, Tensor]:
    """The same recurrence over a sequence (x [b, L, H, P] ...); returns y and the final state."""
    b, length, h, p = x.shape
    state = x.new_zeros(b, h, p, B.shape[-1])
    ys = [ssm_step_ref(state, x[:, t], delta[:, t], A, B[:, t], C[:, t], D) for t in range(length)]
    return torch.stack(ys, dim=1), state


class Mamba1Mixer(nn.Module):
    """in_proj -> [z, x, B, C, dt_low]; x conv'd; scan per channel; y * silu(z) -> out_proj."""

    def __init__(self, d_model: int, d_inner: int, d_xb: int, d_state: int, d_conv: int, dt_rank: int,
                 conv_bias: bool, repeat_kv_before_conv: bool) -> None:
        super().__init__()
        self.d_inner, self.d_xb, self.d_state, self.dt_rank = d_inner, d_xb, d_state, dt_rank
        self.heads = d_inner // d_state
        self.rep = self.heads // (d_xb // d_state)
        self.repeat_before_conv = repeat_kv_before_conv
        self.in_proj = nn.Linear(d_model, 2 * d_inner + 2 * d_xb + dt_rank, bias=False)
        channels = d_inner if repeat_kv_before_conv else d_xb
        self.conv1d = nn.Conv1d(channels, channels, d_conv, groups=channels, bias=conv_bias)
        self.dt_proj = nn.Linear(dt_rank, d_inner, bias=True)
        self.A_log = nn.Parameter(torch.zeros(d_inner, d_state))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def state_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return (self.conv1d.weight.shape[0], self.conv1d.weight.shape[-1]), (self.heads, self.d_state, self.d_state)

    def _project(self, u: Tensor) -> tuple[Tensor, ...]:
        z, x, B, C, dt = self.in_proj(u).split([self.d_inner, self.d_xb, self.d_xb, self.d_inner, self.dt_rank], -1)
        # The bias goes in here and again as the scan's delta_bias, as the checkpoints were trained.
        return z, x, B, C, self.dt_proj(dt)

    def _params(self) -> tuple[Tensor, Tensor]:
        A = -torch.exp(self.A_log.float()).view(self.heads, self.d_state, self.d_state)
        return A, self.D.float().view(self.heads, self.d_state)

    def _expand_x(self, x: Tensor) -> Tensor:
        return repeat_groups(x, self.d_state, self.rep).flatten(-2)

    def forward(self, u: Tensor, kernels: Kernels | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        z, x, B, C, dt = self._project(u)
        if self.repeat_before_conv:
            x = self._expand_x(x)
        x, conv_state = causal_conv(x, self.conv1d)
        if not self.repeat_before_conv:
            x = self._expand_x(x)
        B = repeat_groups(B, self.d_state, self.rep)
        C = C.unflatten(-1, (self.heads, self.d_state))
        A, D = self._params()
        if kernels is not None and kernels.selective_scan is not None:
            y, last = kernels.selective_scan(
                x.transpose(1, 2), dt.transpose(1, 2), A.flatten(0, 1), B.permute(0, 2, 3, 1).contiguous(),
                C.permute(0, 2, 3, 1).contiguous(), D.flatten(), z=z.transpose(1, 2),
                delta_bias=self.dt_proj.bias.float(), delta_softplus=True, return_last_state=True)
            y, ssm_state = y.transpose(1, 2), last.view(-1, self.heads, self.d_state, self.d_state).float()
        else:
            delta = F.softplus(dt.float() + self.dt_proj.bias.float()).unflatten(-1, (self.heads, self.d_state))
            x = x.float().unflatten(-1, (self.heads, self.d_state))
            y, ssm_state = ssm_scan_ref(x, delta, A, B.float(), C.float(), D)
            y = y.flatten(-2) * F.silu(z.float())
        return self.out_proj(y.to(u.dtype)), (conv_state, ssm_state)

    def step(self, u: Tensor, conv_state: Tensor, ssm_state: Tensor, kernels: Kernels | None) -> Tensor:
        z, x, B, C, dt = self._project(u)
        if self.repeat_before_conv:
            x = self._expand_x(x)
        x = conv_step(x, self.conv1d, conv_state, kernels=kernels)
        if not self.repeat_before_conv:
            x = self._expand_x(x)
        heads = (self.heads, self.d_state)
        x, z, dt = x.unflatten(-1, heads), z.unflatten(-1, heads), dt.unflatten(-1, heads)
        B, C = repeat_groups(B, self.d_state, self.rep), C.unflatten(-1, heads)
        A, D = self._params()
        if kernels is not None:
            y = kernels.selective_state_update(ssm_state, x, dt, A, B, C, D, z=z,
                                               dt_bias=self.dt_proj.bias.view(heads), dt_softplus=True)
        else:
            delta = F.softplus(dt.float() + self.dt_proj.bias.float().view(heads))
            y = ssm_step_ref(ssm_state, x.float(), delta, A, B.float(), C.float(), D) * F.silu(z.float())
        return self.out_proj(y.flatten(1).to(u.dtype))


class Mamba2Mixer(nn.Module):
    """in_proj -> [z, xBC, dt]; xBC conv'd; scalar-A scan per head; gated RMSNorm -> out_proj."""

    def __init__(self, d_model: int, d_inner: int, d_xb: int, d_state: int, d_conv: int, conv_bias: bool,
                 repeat_kv_before_conv: bool, norm_before_gate: bool, chunk_size: int) -> None:
        super().__init__()
        self.d_inner, self.d_xb, self.d_state = d_inner, d_xb, d_state
        self.heads = d_inner // d_state
        self.rep = self.heads // (d_xb // d_state)
        self.repeat_before_conv = repeat_kv_before_conv
        self.norm_before_gate, self.chunk_size = norm_before_gate, chunk_size
        self.in_proj = nn.Linear(d_model, 2 * d_inner + 2 * d_xb + self.heads, bias=False)
        channels = 3 * d_inner if repeat_kv_before_conv else d_inner + 2 * d_xb
        self.conv1d = nn.Conv1d(channels, channels, d_conv, groups=channels, bias=conv_bias)
        self.dt_bias = nn.Parameter(torch.zeros(self.heads))
        self.A_log = nn.Parameter(torch.zeros(self.heads))
        self.D = nn.Parameter(torch.ones(self.heads))
        self.norm = RMSNorm(d_inner, eps=1e-5)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def state_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return (self.conv1d.weight.shape[0], self.conv1d.weight.shape[-1]), (self.heads, self.d_state, self.d_state)

    def _split(self, xBC: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Conv'd xBC -> x [.., H, P], B [.., H, N], C [.., H, N]."""
        if self.repeat_before_conv:
            x, B, C = xBC.split([self.d_inner] * 3, dim=-1)
            return tuple(t.unflatten(-1, (self.heads, self.d_state)) for t in (x, B, C))
        x, B, C = xBC.split([self.d_xb, self.d_xb, self.d_inner], dim=-1)
        return (repeat_groups(x, self.d_state, self.rep), repeat_groups(B, self.d_state, self.rep),
                C.unflatten(-1, (self.heads, self.d_state)))

    def _conv_input(self, xBC: Tensor) -> Tensor:
        if not self.repeat_before_conv:
            return xBC
        x, B, C = xBC.split([self.d_xb, self.d_xb, self.d_inner], dim=-1)
        return torch.cat([repeat_groups(x, self.d_state, self.rep).flatten(-2),
                          repeat_groups(B, self.d_state, self.rep).flatten(-2), C], dim=-1)

    def _gated_norm(self, y: Tensor, z: Tensor, dtype: torch.dtype) -> Tensor:
        """mamba-ssm's RMSNormGated with one group per head."""
        y, z = y.float(), z.float()
        if not self.norm_before_gate:
            y = y * F.silu(z)
        g = y.unflatten(-1, (self.heads, self.d_state))
        y = (g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + self.norm.eps)).flatten(-2) * self.norm.weight.float()
        if self.norm_before_gate:
            y = y * F.silu(z)
        return y.to(dtype)

    def forward(self, u: Tensor, kernels: Kernels | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        z, xBC, dt = self.in_proj(u).split([self.d_inner, self.d_inner + 2 * self.d_xb, self.heads], dim=-1)
        xBC, conv_state = causal_conv(self._conv_input(xBC), self.conv1d)
        x, B, C = self._split(xBC)
        A = -torch.exp(self.A_log.float())
        if kernels is not None:
            y, ssm_state = kernels.chunk_scan(x.contiguous(), dt, A, B.contiguous(), C.contiguous(), self.chunk_size,
                                              D=self.D.float(), dt_bias=self.dt_bias.float(), dt_softplus=True,
                                              return_final_states=True)
            ssm_state = ssm_state.float()
        else:
            delta = F.softplus(dt.float() + self.dt_bias.float())[..., None]
            A, D = A[:, None, None], self.D.float()[:, None]
            y, ssm_state = ssm_scan_ref(x.float(), delta, A, B.float(), C.float(), D)
        return self.out_proj(self._gated_norm(y.flatten(-2), z, u.dtype)), (conv_state, ssm_state)

    def step(self, u: Tensor, conv_state: Tensor, ssm_state: Tensor, kernels: Kernels | None) -> Tensor:
        z, xBC, dt = self.in_proj(u).split([self.d_inner, self.d_inner + 2 * self.d_xb, self.heads], dim=-1)
        x, B, C = self._split(conv_step(self._conv_input(xBC), self.conv1d, conv_state, kernels=kernels))
        A = -torch.exp(self.A_log.float())
        if kernels is not None:
            p, n = self.d_state, self.d_state
            # Broadcast (stride-0) per-head values: the kernel's fast path for tied head dims.
            y = kernels.selective_state_update(
                ssm_state, x, dt[..., None].expand(-1, -1, p), A[:, None, None].expand(-1, p, n), B, C,
                self.D[:, None].expand(-1, p), dt_bias=self.dt_bias[:, None].expand(-1, p), dt_softplus=True)
        else:
            delta = F.softplus(dt.float() + self.dt_bias.float())[..., None]
            A, D = A[:, None, None], self.D.float()[:, None]
            y = ssm_step_ref(ssm_state, x.float(), delta, A, B.float(), C.float(), D)
        return self.out_proj(self._gated_norm(y.flatten(1), z, u.dtype))
