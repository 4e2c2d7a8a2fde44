"""GSM8K (Cobbe et al. 2021): grade-school word problems with a number for an answer.

Files: ``gsm8k/test.jsonl`` (1319 problems, ids ``gsm8k/test/<line>``) and ``gsm8k/train.jsonl``
(``data.file=train.jsonl``, ids ``gsm8k/train/<line>``); the gold answer is the "#### N" that ends
each reference solution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.data.dataset import HASHES, Problem, dataset
from harness.data.files import after_hashes, jsonl_problems

if TYPE_CHECKING:
    from harness.config import DataConfig


@dataset("gsm8k", title="GSM8K", answer=HASHES, max_new_tokens=512)
def gsm8k(cfg: DataConfig) -> list[Problem]:
    return jsonl_problems(cfg, question="question", answer="answer", gold=after_hashes)
