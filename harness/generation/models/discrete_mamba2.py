"""Llamba's mixer, Discrete Mamba-2 (goombalab/phi-mamba; cartesia-ai/edge ``Llamba/mixers/discrete_mamba2.py``).

It differs from Mamba-2 (``mamba_layers.Mamba2Mixer``) in ways that decide the logits:
- ``in_proj`` splits as [xBC | z | dt], not Mamba-2's [z | xBC | dt]; no ``A_log``, no ``dt_bias``;
- the causal conv over x, B, C has no activation (``activation: identity``);
- the scan is fed x / softplus(dt) with A = -1 and dt through softplus: the state decays by
  exp(-softplus(dt)) per token and takes x B unscaled;
- y += D x (D per value head), then ``out_proj(y * silu(z + z_bias))``, with no norm;
- value heads are d_inner / n_v_heads wide (not d_state); head h reads B/C group h // (heads / groups).

Everything around the scan and the state update is the same torch code on both paths; only they
switch to mamba-ssm's kernels on CUDA (and the conv step to causal-conv1d's where installed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.generation.models.mamba_kernels import Kernels
from harness.generation.models.mamba_layers import causal_conv, conv_step, repeat_groups, ssm_scan_ref, ssm_step_ref


class DiscreteMamba2Mixer(nn.Module):
    def __init__(self, d_model: int, d_inner: int, d_state: int, n_v_heads: int, n_qk_heads: int, d_conv: int,
                 conv_bias: bool, chunk_size: int) -> None:
        super().__init__()
        self.d_inner, self.d_state, self.heads, self.groups = d_inner, d_state, n_v_heads, n_qk_heads
        self.head_dim, self.rep = d_inner // n_v_heads, n_v_heads // n_qk_heads
        self.chunk_size = chunk_size
        self.conv_dim = d_inner + 2 * n_qk_heads * d_state
        self.in_proj = nn.Linear(d_model, self.conv_dim + d_inner + n_v_heads, bias=False)
        self.z_bias = nn.Parameter(torch.zeros(d_inner))
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, d_conv, groups=self.conv_dim, bias=conv_bias)
        self.D = nn.Parameter(torch.ones(n_v_heads))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def state_shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return (self.conv_dim, self.conv1d.weight.shape[-1]), (self.heads, self.head_dim, self.d_state)

    def _project(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.in_proj(u).split([self.conv_dim, self.d_inner, self.heads], dim=-1)

    def _split(self, xBC: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Conv'd xBC -> x [.., H, P] and B, C [.., G, N]."""
        x, B, C = xBC.split([self.d_inner, self.groups * self.d_state, self.groups * self.d_state], dim=-1)
        groups = (self.groups, self.d_state)
        return x.unflatten(-1, (self.heads, self.head_dim)), B.unflatten(-1, groups), C.unflatten(-1, groups)

    def _per_head(self, t: Tensor) -> Tensor:
        """B or C [.., G, N] -> [.., H, N] (head h reads group h // rep), fp32."""
        return repeat_groups(t.float().flatten(-2), self.d_state, self.rep)

    def _out(self, y: Tensor, x: Tensor, z: Tensor, dtype: torch.dtype) -> Tensor:
        """y [.., H, P] from the scan (no skip term) -> the layer's output."""
        y = (y.float() + self.D.float()[:, None] * x.float()).flatten(-2)
        return self.out_proj((y * F.silu(z.float() + self.z_bias.float())).to(dtype))

    def forward(self, u: Tensor, kernels: Kernels | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        xBC, z, dt = self._project(u)
        xBC, conv_state = causal_conv(xBC, self.conv1d, silu=False)
        x, B, C = self._split(xBC)
        delta = F.softplus(dt.float())[..., None]  # [b, L, H, 1]
        if kernels is not None:
            A = -torch.ones(self.heads, device=u.device)
            y, ssm_state = kernels.chunk_scan((x / delta.to(x.dtype)).contiguous(), dt, A, B.contiguous(),
                                              C.contiguous(), self.chunk_size, dt_softplus=True,
                                              return_final_states=True)
            ssm_state = ssm_state.float()
        else:
            A = -torch.ones(self.heads, 1, 1, device=u.device)
            y, ssm_state = ssm_scan_ref(x.float() / delta, delta, A, self._per_head(B), self._per_head(C), None)
        return self._out(y, x, z, u.dtype), (conv_state, ssm_state)

    def step(self, u: Tensor, conv_state: Tensor, ssm_state: Tensor, kernels: Kernels | None) -> Tensor:
        xBC, z, dt = self._project(u)
        x, B, C = self._split(conv_step(xBC, self.conv1d, conv_state, silu=False, kernels=kernels))
        delta = F.softplus(dt.float())[..., None]  # [B, H, 1]
        if kernels is not None:
            p, n = self.head_dim, self.d_state
            # Broadcast (stride-0) per-head values: the kernel's fast path for tied head dims, which
            # also reads a dt_bias (zero here).
            A = torch.full((1, 1, 1), -1.0, device=u.device).expand(self.heads, p, n)
            dt_bias = torch.zeros(1, 1, device=u.device).expand(self.heads, p)
            y = kernels.selective_state_update(ssm_state, x / delta.to(x.dtype), dt[..., None].expand(-1, -1, p), A,
                                               B, C, dt_bias=dt_bias, dt_softplus=True)
        else:
            A = -torch.ones(self.heads, 1, 1, device=u.device)
            y = ssm_step_ref(ssm_state, x.float() / delta, delta, A, self._per_head(B), self._per_head(C), None)
        return self._out(y, x, z, u.dtype)
