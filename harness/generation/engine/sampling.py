"""Token sampling for the torch backends and the slot engine, on tensor-level parameters.

``sample_tokens`` draws with ``torch.multinomial`` (the hf backend). ``sample_in_graph`` draws the
same distribution with the exponential race: argmax(p / E), E ~ Exp(1) i.i.d., picks token i with
probability p_i, in fixed-shape tensor ops with no host sync, so it can sit inside a CUDA graph
(``torch.multinomial`` syncs on CUDA). Both filter exactly as ``filtered_probs`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

# (probabilities [B, V], top_p) -> the nucleus threshold per row [B] (see harness.generation.kernels.top_p)
Threshold = Callable[[Tensor, float], Tensor]


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0  # 0: greedy
    top_p: float = 1.0  # 1: off
    top_k: int = 0  # 0: off; 1 is top-1 sampling, never a silent greedy switch


def scaled_scores(logits: Tensor, params: SamplingParams) -> Tensor:
    """[B, V] fp32 scores after temperature and top-k (-inf outside the k best)."""
    scores = logits.float() / params.temperature
    if params.top_k > 0:
        kth = torch.topk(scores, min(params.top_k, scores.shape[-1]), dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    return scores


def filtered_probs(logits: Tensor, params: SamplingParams) -> Tensor:
    """The distribution sampled from: [B, V] fp32 probabilities after temperature, top-k, top-p."""
    scores = scaled_scores(logits, params)
    if 0 < params.top_p < 1:
        sorted_scores, order = torch.sort(scores, descending=True, dim=-1)
        sorted_probs = sorted_scores.softmax(dim=-1)
        # Drop a token once the mass before it already reaches top_p; the first always stays.
        drop_sorted = (sorted_probs.cumsum(dim=-1) - sorted_probs) >= params.top_p
        scores = scores.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))
    return scores.softmax(dim=-1)


def sample_tokens(logits: Tensor, params: SamplingParams, generator: torch.Generator | None) -> Tensor:
    """Sample one token per row of ``logits`` [B, V] with temperature, top-k and top-p."""
    if params.temperature == 0:
        return logits.argmax(dim=-1)
    return torch.multinomial(filtered_probs(logits, params), 1, generator=generator).squeeze(-1)


def sample_in_graph(logits: Tensor, params: SamplingParams, generator: torch.Generator | None,
                    nucleus: Threshold | None = None) -> Tensor:
    """One token per row of ``logits`` [B, V]; no host sync (greedy when temperature == 0).
    ``nucleus`` finds top-p's threshold without a sort (``harness.generation.kernels.top_p``)."""
    if params.temperature == 0:
        return logits.argmax(dim=-1)
    if nucleus is not None and 0 < params.top_p < 1:
        probs = scaled_scores(logits, params).softmax(dim=-1)
        # Unnormalised: the race's argmax does not care about the scale.
        probs = probs.masked_fill(probs < nucleus(probs, params.top_p)[:, None], 0.0)
    else:
        probs = filtered_probs(logits, params)
    race = torch.empty_like(probs).exponential_(generator=generator)
    return (probs / race.clamp_min_(1e-30)).argmax(dim=-1)
