"""What a generation session is and what it hands back: the leaf that backends and engine share.

The runner owns the clock and the budget protocol; a session only knows how to keep samples
of one prompt in flight. Per problem the runner opens a ``Session`` on the prompt, ``add``s as
many samples as fit, calls ``step`` until time runs out (refilling with ``add`` whenever
samples finish), then ``abort``s whatever is still in flight.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

FinishReason = Literal["stop", "length"]


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
