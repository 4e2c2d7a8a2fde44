"""What a dataset declares, and the registry of datasets (docs/extending.md, "A dataset").

A dataset is one decorated loader: ``@dataset(name, title=..., answer=..., max_new_tokens=...)``
on a function that returns every problem of the set in a stable order, each with a stable id.
The loader reads a file (``harness.data.files.jsonl_problems``) or generates its problems.
``data.name`` names a registered dataset; ``conf/data/<name>.yaml`` is how a user picks one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.errors import UserError
from harness.registry import Registry

if TYPE_CHECKING:
    from harness.config import DataConfig


class DataError(UserError):
    pass


@dataclass(frozen=True)
class Problem:
    problem_id: str
    question: str
    gold: str


@dataclass(frozen=True)
class AnswerRule:
    """How a dataset's solutions state their answers (`harness.grading.extraction` reads it)."""

    # Answers are single numbers: a statement's one number is the answer ("$1,234.50 per week"
    # -> "1234.50"), and a box with no digit in it (a parroted "\boxed{answer}") is none.
    numeric: bool
    # The solution ends at its first "#### N" line (the reference format); the rest is runoff.
    hashes_end_solution: bool = False


HASHES = AnswerRule(numeric=True, hashes_end_solution=True)  # GSM8K: a number; "#### N" ends the solution
LATEX = AnswerRule(numeric=False)  # MATH: any LaTeX answer (boxed, after an answer phrase, or concluded)
INTEGER = AnswerRule(numeric=True)  # AIME, AMC: an integer; compared as numbers, so "025" equals "25"

Loader = Callable[["DataConfig"], list[Problem]]

# Competition problems (AIME, AMC) take longer solutions than MATH's (1024): a sample cut at the
# limit states no answer, so it is generous. It is also what a GPU sizes each sample's KV cache
# for (the teachers' concurrency; the students' state is constant), so data.max_new_tokens trades
# one against the other.
COMPETITION_MAX_NEW_TOKENS = 4096


@dataclass(frozen=True)
class Dataset:
    name: str  # data.name
    title: str  # how figures and tables name it
    load: Loader  # every problem of the set, in order, ids unique
    answer: AnswerRule
    max_new_tokens: int  # sampling.max_new_tokens unless the config sets it (data.max_new_tokens)


DATASETS: Registry[Dataset] = Registry("dataset", "data=<name>, or data.name=<name> for a plugin's")


def dataset(name: str, *, title: str, answer: AnswerRule, max_new_tokens: int) -> Callable[[Loader], Loader]:
    """Register the decorated loader as the dataset ``name``."""
    def register(load: Loader) -> Loader:
        DATASETS.register(name, Dataset(name, title, load, answer, max_new_tokens))
        return load

    return register


def dataset_title(name: str) -> str:
    """A dataset's display name; its ``data.name`` where none is registered (a run of an unloaded plugin)."""
    return DATASETS.get(name).title if name in DATASETS else name
