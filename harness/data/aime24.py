"""AIME 2024 (I and II): 30 competition problems, each answer an integer from 0 to 999.

File ``aime24/test.jsonl`` (fields ``id`` 60-89, ``problem``, ``answer`` as written on the AoPS
wiki, seven of them zero-padded: ``025``); ids ``aime24/<id>``. Answers compare as integers, so a
sample's ``25`` matches ``025``. Provenance: ../shared/data/README.md; ``make data`` fetches a
copy from the HF hub (harness/ops/fetch_data.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.data.dataset import COMPETITION_MAX_NEW_TOKENS, INTEGER, Problem, dataset
from harness.data.files import integer_answer, jsonl_problems

if TYPE_CHECKING:
    from harness.config import DataConfig


@dataset("aime24", title="AIME 2024", answer=INTEGER, max_new_tokens=COMPETITION_MAX_NEW_TOKENS)
def aime24(cfg: DataConfig) -> list[Problem]:
    return jsonl_problems(cfg, question="problem", answer="answer", gold=integer_answer,
                          problem_id=lambda row, _: f"aime24/{row['id']}")
