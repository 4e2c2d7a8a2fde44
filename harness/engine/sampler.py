"""Token sampling that can live inside a CUDA graph.

``harness.sampling.sample_tokens`` draws with ``torch.multinomial``, which syncs with the host
on CUDA. This sampler draws the same distribution (temperature, top-k, top-p exactly as
``sample_tokens`` filters them) with the exponential race: argmax(p / E), E ~ Exp(1) i.i.d.,
picks token i with probability p_i. Only fixed-shape tensor ops, so it can be captured.
"""

from __future__ import annotations

import torch
from torch import Tensor

from harness.config import SamplingConfig


def filtered_probs(logits: Tensor, cfg: SamplingConfig) -> Tensor:
    """The distribution ``sample_tokens`` samples from: [B, V] fp32 probabilities."""
    scores = logits.float() / cfg.temperature
    if cfg.top_k and cfg.top_k > 0:
        kth = torch.topk(scores, min(cfg.top_k, scores.shape[-1]), dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if 0 < cfg.top_p < 1:
        sorted_scores, order = torch.sort(scores, descending=True, dim=-1)
        sorted_probs = sorted_scores.softmax(dim=-1)
        # Same rule as sample_tokens: drop a token once the mass before it reaches top_p.
        drop_sorted = (sorted_probs.cumsum(dim=-1) - sorted_probs) >= cfg.top_p
        scores = scores.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))
    return scores.softmax(dim=-1)


def sample_in_graph(logits: Tensor, cfg: SamplingConfig, generator: torch.Generator | None) -> Tensor:
    """One token per row of ``logits`` [B, V]; no host sync (greedy when temperature == 0)."""
    if cfg.temperature == 0:
        return logits.argmax(dim=-1)
    probs = filtered_probs(logits, cfg)
    race = torch.empty_like(probs).exponential_(generator=generator)
    return (probs / race.clamp_min_(1e-30)).argmax(dim=-1)
