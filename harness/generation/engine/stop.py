"""Stop strings: found in a sample's text as it grows, decoding only its tail."""

from __future__ import annotations


class StopChecker:
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
