"""AMC 2023 (12A and 12B): the 40 problems of Qwen2.5-Math-style evaluations, answers integers.

Not the original multiple-choice problems: the choices were removed and problems whose answer is
not an integer reworded to ask for one (e.g. m+n), so an answer is a number, never a letter. File
``amc23/test.jsonl`` (fields ``id``, 0-49 with gaps, ``problem``, ``answer``); ids
``amc23/<id>``. Provenance: ../shared/data/README.md; ``make data`` fetches a copy from the HF hub
(harness/ops/fetch_data.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.data.dataset import COMPETITION_MAX_NEW_TOKENS, INTEGER, Problem, dataset
from harness.data.files import integer_answer, jsonl_problems

if TYPE_CHECKING:
    from harness.config import DataConfig


@dataset("amc23", title="AMC 2023", answer=INTEGER, max_new_tokens=COMPETITION_MAX_NEW_TOKENS)
def amc23(cfg: DataConfig) -> list[Problem]:
    return jsonl_problems(cfg, question="problem", answer="answer", gold=integer_answer,
                          problem_id=lambda row, _: f"amc23/{row['id']}")
