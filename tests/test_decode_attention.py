"""Decode attention: the Triton split-K kernel against the masked torch reference."""

from __future__ import annotations

import pytest
import torch

from harness.generation.kernels.decode_attention import attend_masked

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOLERANCE = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 2e-2}


def random_case(batch, heads, kv_heads, capacity, dim, dtype, lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(*shape, generator=g).to(DEVICE, dtype) for shape in
               [(batch, heads, dim), (batch, kv_heads, capacity, dim), (batch, kv_heads, capacity, dim)])
    return q, k, v, torch.tensor(lengths, device=DEVICE)


@pytest.mark.parametrize("heads, kv_heads, dim", [
    (8, 2, 16),  # GQA, 4 query heads per KV head
    (4, 4, 8),  # plain multi-head, head_dim below the 16-wide tile
    (6, 2, 24),  # 3 heads per group and head_dim 24: both padded to a power of two
    (32, 8, 64),  # Llama-3.2-1B
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_split_k_matches_the_masked_reference(split_k, heads, kv_heads, dim, dtype):
    # Lengths at and around split (256) and tile (64) edges, a single token, and the full cache.
    lengths = [1, 64, 255, 256, 257, 600]
    q, k, v, lengths = random_case(len(lengths), heads, kv_heads, 600, dim, dtype, lengths)
    torch.testing.assert_close(split_k(q, k, v, lengths).float(), attend_masked(q, k, v, lengths).float(),
                               atol=TOLERANCE[dtype], rtol=TOLERANCE[dtype])


def test_split_k_reads_nothing_past_each_slots_length(split_k):
    lengths = [3, 70, 300]
    q, k, v, lengths = random_case(3, 4, 2, 512, 16, torch.float32, lengths)
    expected = attend_masked(q, k, v, lengths)
    past = torch.arange(512, device=DEVICE) >= lengths[:, None]
    k[past[:, None, :, None].expand_as(k)] = float("nan")
    v[past[:, None, :, None].expand_as(v)] = float("nan")
    torch.testing.assert_close(split_k(q, k, v, lengths), expected)


def test_split_k_works_on_a_cache_view(split_k):
    # The engine hands attention views of its caches; the kernel follows their strides.
    q, k, v, lengths = random_case(2, 4, 2, 300, 16, torch.float32, [10, 130])
    view_k, view_v = k[:, :, :200], v[:, :, :200]
    torch.testing.assert_close(split_k(q, view_k, view_v, lengths), attend_masked(q, k, v, lengths))
