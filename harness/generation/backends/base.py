"""The one small interface every generation backend implements (no torch here).

A backend loads one model and opens ``harness.generation.session.Session``s on prompts; the runner owns the
clock and the budget protocol (see that module). Each backend declares the ``model.options`` it
accepts as a dataclass (``options_type``), parsed and checked when the backend is made, before
any model loads.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.config import ModelConfig, RunnerConfig, SamplingConfig, check_ranges
from harness.errors import UserError
from harness.generation.session import Session


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """A backend that takes no ``model.options``."""


def parse_options(options_type: type, options: dict[str, Any], backend: str) -> Any:
    """``model.options`` as ``options_type``: unknown keys and wrong types are one-line errors."""
    valid = [f.name for f in dataclasses.fields(options_type)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise UserError(f"model.options {', '.join(unknown)} unknown to backend={backend}: valid keys are "
                         f"{', '.join(valid) or 'none'}")
    try:
        typed = OmegaConf.merge(OmegaConf.structured(options_type), dict(options))
    except OmegaConfBaseException as err:
        raise UserError(f"model.options for backend={backend}: {str(err).splitlines()[0]}") from None
    parsed = OmegaConf.to_object(typed)
    check_ranges(parsed, "model.options.")
    return parsed


class Backend(ABC):
    """Loads one model and opens sessions on prompts."""

    options_type: ClassVar[type] = NoOptions

    def __init__(self, model: ModelConfig, sampling: SamplingConfig, runner: RunnerConfig,
                 max_new_tokens: int, seed: int) -> None:
        self.model_cfg = model
        self.sampling = sampling
        self.runner_cfg = runner
        self.max_new_tokens = max_new_tokens
        self.seed = seed
        # Checked here, before the minutes a model can take to load.
        self.options = parse_options(self.options_type, dict(model.options), str(model.backend))

    @abstractmethod
    def load(self) -> None:
        """Load weights and tokenizer (before any clock starts)."""

    @abstractmethod
    def render_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of the chat-formatted prompt, ending where the assistant starts."""

    @abstractmethod
    def capacity(self, prompt_tokens: int) -> int | None:
        """How many samples of a prompt this long (plus ``max_new_tokens``) fit at once, measured
        now (on a GPU, from its free memory with PyTorch's allocator cache emptied first); None
        where memory is not the limit (CPU). A backend whose engine sizes itself for the longest
        prompt (vLLM) starts it here, so this comes before the first session."""

    def max_concurrency(self, prompt_tokens: int) -> int:
        """The concurrency for a run whose longest prompt is this long (see ``choose_concurrency``)."""
        return self.choose_concurrency(self.capacity(prompt_tokens))

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
        """Run a few steps at full concurrency so lazy init, allocation for a prompt this long and
        compilation (graph capture) are off the clock."""
        session = self.session(prompt_ids, concurrency)
        session.add(concurrency)
        for _ in range(steps):
            session.step()
        session.abort()
        session.close()

    @abstractmethod
    def reseed(self, seed: int) -> None:
        """Seed sampling before a problem, so a resumed or sharded run samples each problem
        from the same random stream as an unbroken run."""

    def events(self) -> dict[str, int]:
        """Running counts of engine work that must not fall inside a problem's clock (slot
        allocations, CUDA-graph captures, preemptions...); the runner records, per problem, how
        many happened on its clock. Empty: the backend has none to count."""
        return {}

    def describe(self) -> dict[str, object]:
        """Backend facts for run.json (device, dtype, library versions...)."""
        return {}

    def close(self) -> None:
        """Free the model and the accelerator memory it held."""
