"""Decode attention: one query token per slot against a static per-slot K/V cache.

Both implementations compute ``attend(q [B, H, D], k_cache [B, KV, T, D], v_cache, lengths [B])
-> [B, H, D]``: slot b attends over its first ``lengths[b]`` cached positions, query head h
over KV head ``h // (H // KV)`` (grouped-query attention). Both have fixed shapes and no host
sync, so either can sit inside the engine's CUDA graph.

- ``attend_masked`` (torch): reads all T positions it is given and masks those past each slot's
  length. The engine hands it the cache cut to the longest live slot (rounded to a bucket).
- ``attend_split_k`` (Triton, flash-decoding): the cache is cut into splits of ``SPLIT``
  positions; one program per (slot, KV head, split) streams its part of the slot's K/V in blocks
  with an online softmax, for all query heads of that KV head at once. A split that starts past
  the slot's length loads no K/V, so a step reads each slot's own filled length and nothing
  more. The splits' partial outputs are merged with their log-sum-exp weights in torch.
  Tiles are computed in fp32, which also lets Triton's interpreter (``TRITON_INTERPRET=1``) run
  it on CPU for the tests; on GPU the dot products of bf16/fp16 models run as tf32 (which holds
  their inputs exactly), those of fp32 models in full fp32.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor

Attend = Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]

SPLIT = 256  # cache positions per program
BLOCK_T = 64  # positions per inner-loop tile


def attend_masked(q: Tensor, k_cache: Tensor, v_cache: Tensor, lengths: Tensor) -> Tensor:
    """The torch reference: every position read, those at or past ``lengths`` masked."""
    batch, heads, dim = q.shape
    kv_heads = k_cache.shape[1]
    q = q.unflatten(1, (kv_heads, heads // kv_heads))
    scores = torch.einsum("bgrd,bgtd->bgrt", q, k_cache).float() / math.sqrt(dim)
    visible = torch.arange(k_cache.shape[2], device=q.device) < lengths[:, None]
    scores = scores.masked_fill(~visible[:, None, None, :], float("-inf"))
    out = torch.einsum("bgrt,bgtd->bgrd", scores.softmax(-1).to(v_cache.dtype), v_cache)
    return out.flatten(1, 2)


@functools.cache
def _split_kernel():
    # Built on first use: Triton reads TRITON_INTERPRET when a kernel is decorated.
    import triton
    import triton.language as tl

    @triton.jit
    def split_k_decode(Q, K, V, Lengths, Out, Lse,
                       stride_qb, stride_qh, stride_kb, stride_kh, stride_kt, stride_vb, stride_vh, stride_vt,
                       stride_ob, stride_oh, stride_os, stride_lb, stride_lh, scale,
                       REP: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_D: tl.constexpr,
                       SPLIT: tl.constexpr, BLOCK_T: tl.constexpr, PRECISION: tl.constexpr):
        slot, group, split = tl.program_id(0), tl.program_id(1), tl.program_id(2)
        rows = tl.arange(0, BLOCK_H)
        heads = group * REP + rows
        dims = tl.arange(0, BLOCK_D)
        row_ok, dim_ok = rows < REP, dims < HEAD_DIM
        q = tl.load(Q + slot * stride_qb + heads[:, None] * stride_qh + dims[None, :],
                    mask=row_ok[:, None] & dim_ok[None, :], other=0.0).to(tl.float32)
        start = split * SPLIT
        end = tl.minimum(start + SPLIT, tl.load(Lengths + slot).to(tl.int32))
        k_base = K + slot * stride_kb + group * stride_kh
        v_base = V + slot * stride_vb + group * stride_vh
        best = tl.full([BLOCK_H], float("-inf"), tl.float32)
        total = tl.zeros([BLOCK_H], tl.float32)
        acc = tl.zeros([BLOCK_H, BLOCK_D], tl.float32)
        for t0 in range(start, end, BLOCK_T):
            t = t0 + tl.arange(0, BLOCK_T)
            t_ok = t < end
            tile_mask = t_ok[:, None] & dim_ok[None, :]
            k = tl.load(k_base + t[:, None] * stride_kt + dims[None, :], mask=tile_mask, other=0.0).to(tl.float32)
            scores = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale
            scores = tl.where(t_ok[None, :], scores, float("-inf"))
            new_best = tl.maximum(best, tl.max(scores, 1))
            p = tl.exp(scores - new_best[:, None])
            decay = tl.exp(best - new_best)
            v = tl.load(v_base + t[:, None] * stride_vt + dims[None, :], mask=tile_mask, other=0.0).to(tl.float32)
            acc = acc * decay[:, None] + tl.dot(p, v, input_precision=PRECISION)
            total = total * decay + tl.sum(p, 1)
            best = new_best
        filled = total > 0
        out = acc / tl.where(filled, total, 1.0)[:, None]
        lse = tl.where(filled, best + tl.log(tl.where(filled, total, 1.0)), float("-inf"))
        tl.store(Out + slot * stride_ob + heads[:, None] * stride_oh + split * stride_os + dims[None, :], out,
                 mask=row_ok[:, None] & dim_ok[None, :])
        tl.store(Lse + slot * stride_lb + heads * stride_lh + split, lse, mask=row_ok)

    return split_k_decode


def attend_split_k(q: Tensor, k_cache: Tensor, v_cache: Tensor, lengths: Tensor) -> Tensor:
    """Flash-decoding in Triton: reads each slot's first ``lengths[b]`` positions only."""
    import triton

    batch, heads, dim = q.shape
    kv_heads, capacity = k_cache.shape[1], k_cache.shape[2]
    if q.stride(-1) != 1 or k_cache.stride(-1) != 1 or v_cache.stride(-1) != 1:
        raise ValueError("attend_split_k needs the head dimension contiguous in q and the caches")
    rep = heads // kv_heads
    splits = triton.cdiv(capacity, SPLIT)
    partial = torch.empty(batch, heads, splits, dim, dtype=torch.float32, device=q.device)
    lse = torch.empty(batch, heads, splits, dtype=torch.float32, device=q.device)
    _split_kernel()[(batch, kv_heads, splits)](
        q, k_cache, v_cache, lengths, partial, lse,
        q.stride(0), q.stride(1), k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
        v_cache.stride(0), v_cache.stride(1), v_cache.stride(2),
        partial.stride(0), partial.stride(1), partial.stride(2), lse.stride(0), lse.stride(1), 1 / math.sqrt(dim),
        REP=rep, HEAD_DIM=dim, BLOCK_H=max(16, triton.next_power_of_2(rep)),
        BLOCK_D=max(16, triton.next_power_of_2(dim)), SPLIT=SPLIT, BLOCK_T=BLOCK_T,
        PRECISION="ieee" if q.dtype == torch.float32 else "tf32")
    # Splits past a slot's length carry lse -inf and weigh nothing; a slot has at least one token.
    weights = lse.softmax(-1)
    return torch.einsum("bhs,bhsd->bhd", weights, partial).to(q.dtype)
