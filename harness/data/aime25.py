"""AIME 2025 (I and II): 30 competition problems, each answer an integer from 0 to 999.

File ``aime25/test.jsonl`` (fields ``id`` ``aime25-0`` ... ``aime25-29``: 0-14 are AIME I problems
1-15, 15-29 AIME II's; ``problem``, ``answer``); ids ``aime25/<n>``. Answers compare as integers.
Provenance: ../shared/data/README.md; ``make data`` fetches a copy from the HF hub
(harness/ops/fetch_data.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.data.dataset import COMPETITION_MAX_NEW_TOKENS, INTEGER, Problem, dataset
from harness.data.files import integer_answer, jsonl_problems

if TYPE_CHECKING:
    from harness.config import DataConfig


@dataset("aime25", title="AIME 2025", answer=INTEGER, max_new_tokens=COMPETITION_MAX_NEW_TOKENS)
def aime25(cfg: DataConfig) -> list[Problem]:
    return jsonl_problems(cfg, question="problem", answer="answer", gold=integer_answer,
                          problem_id=lambda row, _: f"aime25/{str(row['id']).removeprefix('aime25-')}")
