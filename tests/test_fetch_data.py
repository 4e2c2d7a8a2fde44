"""make data's MATH answers: the MATH paper's last-box rule, as in the shared copies."""

from __future__ import annotations

import json

import pytest

from harness.ops.fetch_data import math_answer


@pytest.mark.parametrize("solution, expected", [
    ("so $x = \\boxed{5}$.", "5"),
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # nested braces
    ("$\\boxed{ \\frac{1}{8}}$", " \\frac{1}{8}"),  # verbatim: spaces kept, as the source has them
    ("$x=\\boxed{-2}$ or $x=\\boxed{1}$", "1"),  # the last box only, never a joined list
    ("\\fbox{7}", "7"),
    ("\\boxed 7.", "7"),
    ("no box", ""),
])
def test_math_answer_is_the_last_box_verbatim(solution, expected):
    assert math_answer(solution) == expected


@pytest.mark.parametrize("name", ["math", "math500"])
def test_math_answer_reproduces_the_shared_copies(data_dir, name):
    rows = [json.loads(line) for line in (data_dir / name / "test.jsonl").open(encoding="utf-8")]
    mismatches = [row["answer"] for row in rows if math_answer(row["solution"]) != row["answer"]]
    assert len(rows) >= 500 and mismatches == []
