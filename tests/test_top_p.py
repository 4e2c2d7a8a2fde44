"""Top-p without a sort: the Triton threshold search against the sort it replaces."""

from __future__ import annotations

import pytest
import torch

from harness.generation.engine.sampling import SamplingParams, filtered_probs

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def random_logits(rows, vocab, scale, seed=0):
    return (torch.randn(rows, vocab, generator=torch.Generator().manual_seed(seed)) * scale).to(DEVICE)


@pytest.mark.parametrize("vocab, scale, top_p", [
    (7, 1.0, 0.9),  # a handful of tokens, one tile, mostly padding
    (1024, 2.0, 0.95),  # exactly one tile
    (5000, 3.0, 0.95),  # tiles with a ragged last one
    (50277, 1.0, 0.95),  # Mamba-2's vocabulary, near-flat: the nucleus is most of it
    (3000, 10.0, 0.5),  # peaked: the nucleus is a token or two
    (100, 0.01, 0.99),  # all but flat
])
def test_threshold_search_finds_the_nucleus_threshold(nucleus, vocab, scale, top_p):
    probs = random_logits(4, vocab, scale).softmax(-1)
    tau = nucleus(probs, top_p)
    # The definition, in float64: tau is a probability of its row, the tokens at or above it reach
    # top_p and those above it do not (up to fp32 summation error: the sort's cumsum adds in
    # another order, so at a near-tie the two may pick neighbouring thresholds).
    p, t = probs.double(), tau.double()[:, None]
    assert (p == t).any(-1).all()
    assert ((p * (p >= t)).sum(-1) >= top_p - 1e-5).all() and ((p * (p > t)).sum(-1) < top_p + 1e-5).all()


@pytest.mark.parametrize("top_k, top_p", [(0, 0.9), (0, 0.3), (40, 0.95), (3, 0.99)])
def test_kept_tokens_are_filtered_probs_support(nucleus, top_k, top_p):
    cfg = SamplingParams(temperature=0.8, top_k=top_k, top_p=top_p)
    logits = random_logits(6, 3000, 4.0, seed=1)
    probs = filtered_probs(logits, SamplingParams(temperature=0.8, top_k=top_k, top_p=1.0))  # top-k only
    kept = probs >= nucleus(probs, top_p)[:, None]
    assert torch.equal(kept, filtered_probs(logits, cfg) > 0)


def test_tokens_tied_with_the_last_kept_one_are_all_kept(nucleus):
    # Masses 0.4, 0.2, 0.2, 0.2: top_p 0.5 needs one of the three 0.2s; a sort picks one, we keep all.
    probs = torch.tensor([[0.4, 0.2, 0.2, 0.2]], device=DEVICE)
    assert nucleus(probs, 0.5).item() == pytest.approx(0.2)
    assert nucleus(probs, 0.3).item() == pytest.approx(0.4)
