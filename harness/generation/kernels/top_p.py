"""Top-p (nucleus) filtering without sorting the vocabulary.

The nucleus is the smallest set of most likely tokens whose mass reaches top_p. The probability
tau of its least likely member is the largest tau with M(tau) = sum of p_i >= tau at least top_p
(M only falls as tau grows), so keeping p >= tau keeps the nucleus, plus any token tied with its
last member, which a sort would split in arbitrary order.

``filtered_probs`` sorts each row of [B, V] (radix passes over 12-byte key/index pairs, then a
cumsum and a scatter): at batch 256 and a 128k vocabulary, by a bandwidth estimate, as much
memory traffic as the model's own decode step. ``nucleus_threshold`` instead finds tau with one
Triton program per row: a 16-way search over the 2^32 float bit patterns (non-negative floats
order like their bits), 8 rounds, each one read of the row testing 16 thresholds at once; the
last round pins tau exactly. Fixed shapes, no host sync: it runs inside the engine's CUDA graph.
``nucleus_threshold_sorted`` is the torch reference (the sort), for tests.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

BLOCK = 1024  # probabilities per tile
WAYS = 16  # thresholds tested per read of a row
ROUNDS = 8  # 16^8 = 2^32: the last round's step is one bit pattern
INF_BITS = 0x7F800000  # +inf: no probability reaches it


def nucleus_threshold_sorted(probs: Tensor, top_p: float) -> Tensor:
    """tau per row [B] by sorting: the probability of the token whose inclusive mass reaches top_p."""
    sorted_probs = probs.sort(dim=-1, descending=True).values
    last = (sorted_probs.cumsum(dim=-1) < top_p).sum(dim=-1, keepdim=True).clamp(max=probs.shape[-1] - 1)
    return sorted_probs.gather(-1, last).squeeze(-1)


@functools.cache
def _kernel():
    # Built on first use: Triton reads TRITON_INTERPRET when a kernel is decorated.
    import triton
    import triton.language as tl

    @triton.jit
    def nucleus_search(P, Tau, stride_row, vocab, top_p, BLOCK: tl.constexpr, WAYS: tl.constexpr,
                       ROUNDS: tl.constexpr, INF_BITS: tl.constexpr):
        row = tl.program_id(0)
        base = P + row * stride_row
        ways = tl.arange(0, WAYS).to(tl.int64) + 1
        # Invariant: M(lo) >= top_p (M(0) is the whole mass); tau lies in [lo, lo + WAYS * step).
        lo = tl.zeros([1], tl.int64)
        for r in tl.static_range(ROUNDS):
            step = 1 << (4 * (ROUNDS - 1 - r))
            bits = tl.minimum(lo + step * ways, INF_BITS)
            taus = bits.to(tl.int32).to(tl.float32, bitcast=True)
            acc = tl.zeros([BLOCK, WAYS], tl.float32)
            for start in range(0, vocab, BLOCK):
                index = start + tl.arange(0, BLOCK)
                p = tl.load(base + index, mask=index < vocab, other=0.0)
                acc += tl.where(p[:, None] >= taus[None, :], p[:, None], 0.0)
            # Sums over nested sets, added in the same order: non-increasing in the threshold,
            # so the thresholds that still reach top_p are a prefix of the 16.
            reached = tl.sum(acc, 0) >= top_p
            lo += step * tl.sum(reached.to(tl.int64), 0)
        tl.store(Tau + row + tl.arange(0, 1), lo.to(tl.int32).to(tl.float32, bitcast=True))

    return nucleus_search


def nucleus_threshold(probs: Tensor, top_p: float) -> Tensor:
    """tau per row [B] of probabilities [B, V] (fp32, last dim contiguous), in Triton."""
    if probs.dtype != torch.float32 or probs.stride(-1) != 1:
        raise ValueError("nucleus_threshold needs fp32 probabilities with the vocabulary contiguous")
    tau = torch.empty(probs.shape[0], dtype=torch.float32, device=probs.device)
    _kernel()[(probs.shape[0],)](probs, tau, probs.stride(0), probs.shape[1], float(top_p), BLOCK=BLOCK, WAYS=WAYS,
                                 ROUNDS=ROUNDS, INF_BITS=INF_BITS, num_warps=8)
    return tau
