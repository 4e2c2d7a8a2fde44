"""Token sampling and finish detection shared by the torch backends (hf, mamba)."""

from __future__ import annotations

import torch

from harness.config import SamplingConfig


def scaled_scores(logits: torch.Tensor, cfg: SamplingConfig) -> torch.Tensor:
    """[B, V] fp32 scores after temperature and top-k (-inf outside the k best)."""
    scores = logits.float() / cfg.temperature
    if cfg.top_k and cfg.top_k > 0:
        kth = torch.topk(scores, min(cfg.top_k, scores.shape[-1]), dim=-1).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    return scores


def filtered_probs(logits: torch.Tensor, cfg: SamplingConfig) -> torch.Tensor:
    """The distribution sampled from: [B, V] fp32 probabilities after temperature, top-k, top-p."""
    scores = scaled_scores(logits, cfg)
    if 0 < cfg.top_p < 1:
        sorted_scores, order = torch.sort(scores, descending=True, dim=-1)
        sorted_probs = sorted_scores.softmax(dim=-1)
        # Drop a token once the mass before it already reaches top_p; the first always stays.
        drop_sorted = (sorted_probs.cumsum(dim=-1) - sorted_probs) >= cfg.top_p
        scores = scores.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))
    return scores.softmax(dim=-1)


def sample_tokens(logits: torch.Tensor, cfg: SamplingConfig, generator: torch.Generator | None) -> torch.Tensor:
    """Sample one token per row of ``logits`` [B, V] with temperature, top-k and top-p.

    temperature == 0 is greedy; top_k == 1 with a temperature is top-1 *sampling*, which is
    also deterministic, but it is the config that says so, never a hidden shortcut.
    """
    if cfg.temperature == 0:
        return logits.argmax(dim=-1)
    return torch.multinomial(filtered_probs(logits, cfg), 1, generator=generator).squeeze(-1)


class StopChecker:
    """Finds stop strings in a sample's text as it grows, decoding only its tail."""

    def __init__(self, tokenizer, stop: list[str]) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        # A stop string can span at most len(s) tokens, plus one for a partial first token.
        self.tail_tokens = max((len(s) for s in self.stop), default=0) + 2

    def hit(self, token_ids: list[int]) -> bool:
        if not self.stop:
            return False
        tail = self.tokenizer.decode(token_ids[-self.tail_tokens:], skip_special_tokens=False)
        return any(s in tail for s in self.stop)

    def finalize(self, token_ids: list[int]) -> str:
        """The sample's text, cut before the first stop string (as vLLM does)."""
        text = self.tokenizer.decode(token_ids, skip_special_tokens=True)
        cut = min((i for i in (text.find(s) for s in self.stop) if i >= 0), default=-1)
        return text if cut < 0 else text[:cut]
