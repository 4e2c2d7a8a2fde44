"""make data: MATH's answers by the MATH paper's last-box rule, and the hub copies of AIME 2024, AIME
2025 and AMC 2023 converted into the layout (ids, integer answers) of the shared copies; on local
rows, never downloading."""

from __future__ import annotations

import json

import pytest

from harness.config import DataConfig
from harness.data import DataError, load_problems
from harness.ops.fetch_data import aime24_rows, aime25_rows, amc23_rows, math_answer


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
    rows = _shared(data_dir, name)
    mismatches = [row["answer"] for row in rows if math_answer(row["solution"]) != row["answer"]]
    assert len(rows) >= 500 and mismatches == []


def _shared(data_dir, name: str) -> list[dict]:
    return [json.loads(line) for line in (data_dir / name / "test.jsonl").open(encoding="utf-8")]


def _hub_rows(data_dir) -> dict[str, object]:
    """Rows shaped as the hub copies hold them (harness.ops.fetch_data.HUB), made from the shared copies:
    HuggingFaceH4/aime_2024 (ids 60-89, in any order, a year column), opencompass/AIME2025 (its two parts
    in order, the problem in `question`, one answer written as an angle) and math-ai/amc23 (answers as floats)."""
    aime24 = [{**{k: row[k] for k in ("id", "problem", "solution", "answer", "url")}, "year": "2024"}
              for row in reversed(_shared(data_dir, "aime24"))]
    aime25 = [{"question": row["problem"], "answer": row["answer"]} for row in _shared(data_dir, "aime25")]
    aime25[16]["answer"] += "^\\circ"
    amc23 = [{"id": row["id"], "question": row["problem"], "answer": float(row["answer"]), "url": row["url"]}
             for row in _shared(data_dir, "amc23")]
    return {"aime24": aime24, "aime25": aime25, "amc23": amc23}


@pytest.mark.parametrize("name, convert", [("aime24", aime24_rows), ("aime25", aime25_rows), ("amc23", amc23_rows)])
def test_the_hub_copies_convert_into_the_problems_of_the_shared_copies(data_dir, tmp_path, name, convert):
    rows = convert(_hub_rows(data_dir)[name])
    (tmp_path / name).mkdir()
    (tmp_path / name / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    fetched = load_problems(DataConfig(name=name, dir=str(tmp_path)))
    assert fetched == load_problems(DataConfig(name=name, dir=str(data_dir)))  # ids, texts and integer golds
    assert all(isinstance(row["answer"], str) and row["answer"] == str(int(row["answer"])) for row in rows)


def test_a_hub_answer_that_is_no_integer_stops_the_fetch():
    with pytest.raises(DataError, match="'1/2' is not an integer"):
        amc23_rows([{"id": 0, "question": "q", "answer": "1/2"}])
