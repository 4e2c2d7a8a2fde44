"""MATH (Hendrycks et al. 2021): competition problems with LaTeX answers.

``math500``: the 500-problem test subset of "Let's Verify Step by Step", ids the original MATH
file names (``test/precalculus/807.json``); ``math``: the full test set (5000 problems), ids
``math/test/<line>``. Both hold the gold answer in field ``answer`` (docs of ../shared/data).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.data.dataset import LATEX, Problem, dataset
from harness.data.files import jsonl_problems

if TYPE_CHECKING:
    from harness.config import DataConfig


@dataset("math500", title="MATH-500", answer=LATEX, max_new_tokens=1024)
def math500(cfg: DataConfig) -> list[Problem]:
    return jsonl_problems(cfg, question="problem", answer="answer", problem_id=lambda row, _: str(row["unique_id"]))


@dataset("math", title="MATH", answer=LATEX, max_new_tokens=1024)
def math(cfg: DataConfig) -> list[Problem]:
    return jsonl_problems(cfg, question="problem", answer="answer")
