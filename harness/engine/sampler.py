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
from harness.engine.top_p import Threshold
from harness.sampling import filtered_probs, scaled_scores


def sample_in_graph(logits: Tensor, cfg: SamplingConfig, generator: torch.Generator | None,
                    nucleus: Threshold | None = None) -> Tensor:
    """One token per row of ``logits`` [B, V]; no host sync (greedy when temperature == 0).
    ``nucleus`` finds top-p's threshold without a sort (``top_p.nucleus_threshold``)."""
    if cfg.temperature == 0:
        return logits.argmax(dim=-1)
    if nucleus is not None and 0 < cfg.top_p < 1:
        probs = scaled_scores(logits, cfg).softmax(dim=-1)
        # Unnormalised: the race's argmax does not care about the scale.
        probs = probs.masked_fill(probs < nucleus(probs, cfg.top_p)[:, None], 0.0)
    else:
        probs = filtered_probs(logits, cfg)
    race = torch.empty_like(probs).exponential_(generator=generator)
    return (probs / race.clamp_min_(1e-30)).argmax(dim=-1)
