"""The one small interface every generation backend implements.

The runner owns the clock and the budget protocol; a backend only knows how to keep samples
of one prompt in flight. Per problem the runner opens a ``Session`` on the prompt, ``add``s as
many samples as fit, calls ``step`` until time runs out (refilling with ``add`` whenever
samples finish), then ``abort``s whatever is still in flight.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

from harness.config import ModelConfig, RunnerConfig, SamplingConfig

FinishReason = Literal["stop", "length"]

# Llama-3.x templates stamp today's date into the system header unless given one: pin it (to the
# template's own default) so a prompt never depends on the day it runs.
CHAT_TEMPLATE_KWARGS = {"date_string": "26 Jul 2024"}


@dataclass(frozen=True)
class Finished:
    """A sample that ended (EOS, stop string or max tokens) during the last step."""

    text: str
    n_tokens: int
    finish_reason: FinishReason


class Session(ABC):
    """Samples of one prompt in flight. Not thread-safe; one per problem."""

    @abstractmethod
    def add(self, n: int) -> None:
        """Start ``n`` more samples (n ≤ free capacity)."""

    @abstractmethod
    def step(self) -> list[Finished]:
        """Advance every in-flight sample; return those that finished in this step."""

    @property
    @abstractmethod
    def in_flight(self) -> int:
        """Samples started and not yet finished or aborted."""

    @property
    @abstractmethod
    def tokens_generated(self) -> int:
        """All tokens decoded so far in this session, aborted samples' included."""

    @abstractmethod
    def abort(self) -> int:
        """Drop every in-flight sample; return how many were dropped."""

    def close(self) -> None:
        """Release per-problem memory (optional)."""


class Backend(ABC):
    """Loads one model and opens sessions on prompts."""

    def __init__(self, model: ModelConfig, sampling: SamplingConfig, runner: RunnerConfig,
                 max_new_tokens: int, seed: int) -> None:
        self.model_cfg = model
        self.sampling = sampling
        self.runner_cfg = runner
        self.max_new_tokens = max_new_tokens
        self.seed = seed

    @abstractmethod
    def load(self) -> None:
        """Load weights and tokenizer (before any clock starts)."""

    def render_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of the chat-formatted prompt, ending where the assistant starts.

        Backends set ``self.tokenizer`` (a transformers tokenizer) in ``load``.
        """
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False,
                                                  **CHAT_TEMPLATE_KWARGS)
        # The template already holds BOS; adding special tokens again would double it.
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    @abstractmethod
    def max_concurrency(self, prompt_tokens: int) -> int:
        """As many samples as fit at once for a prompt of this length (see ``choose_concurrency``)."""

    def choose_concurrency(self, fits: int | None) -> int:
        """The run's concurrency from config and, on an accelerator, what fits in its memory.

        ``fits`` is None on CPU, where memory is not the limit: ``runner.concurrency`` or else
        ``runner.cpu_concurrency``. On an accelerator: what fits, capped by
        ``runner.concurrency`` or else ``runner.max_concurrency``.
        """
        cfg = self.runner_cfg
        if fits is None:
            return cfg.concurrency or cfg.cpu_concurrency
        return max(1, min(fits, cfg.concurrency or cfg.max_concurrency))

    @abstractmethod
    def session(self, prompt_ids: list[int], concurrency: int) -> Session:
        """Open a session with room for ``concurrency`` samples of this prompt."""

    def warmup(self, prompt_ids: list[int], concurrency: int, steps: int = 4) -> None:
        """Run a few steps at full concurrency so lazy init and compilation are off the clock."""
        session = self.session(prompt_ids, concurrency)
        session.add(concurrency)
        for _ in range(steps):
            session.step()
        session.abort()
        session.close()

    def reseed(self, seed: int) -> None:
        """Seed sampling before a problem, so a resumed or sharded run samples each problem
        from the same random stream as an unbroken run. Torch backends keep theirs in
        ``self.generator``; others override this."""
        self.generator.manual_seed(seed)

    def describe(self) -> dict[str, object]:
        """Backend facts for run.json (device, dtype, library versions...)."""
        return {}

    def close(self) -> None:
        """Free the model and the accelerator memory it held (torch backends keep the model in
        ``self.model`` and the slot engine in ``self.host``)."""
        import torch

        self.host = self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
