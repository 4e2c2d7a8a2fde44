import json

import pytest

from harness.config import DataConfig, PromptConfig
from harness.data import (DATASETS, INTEGER, DataError, Dataset, Problem, build_messages, integer_answer, load_gold,
                          load_problems)
from harness.data.arith import KINDS
from harness.errors import UserError


def gsm8k(data_dir, **overrides):
    return DataConfig(**{"name": "gsm8k", "dir": str(data_dir), **overrides})


def test_gsm8k_gold_is_the_number_after_hashes(data_dir):
    problems = load_problems(gsm8k(data_dir))
    assert len(problems) == 1319
    assert problems[0].problem_id == "gsm8k/test/0" and problems[0].gold == "18"
    assert all("," not in p.gold and "####" not in p.gold for p in problems)


def test_math500_ids_are_the_original_file_names(data_dir):
    problems = load_problems(DataConfig(name="math500", dir=str(data_dir), limit=3))
    assert [p.problem_id for p in problems][0] == "test/precalculus/807.json"
    assert problems[0].gold == "\\left( 3, \\frac{\\pi}{2} \\right)"


def test_limit_then_shard_partition_the_limited_set(data_dir):
    limited = load_problems(gsm8k(data_dir, limit=10))
    shards = [load_problems(gsm8k(data_dir, limit=10, shard=f"{i}/3")) for i in range(3)]
    assert [p.problem_id for p in limited] == [f"gsm8k/test/{i}" for i in range(10)]
    merged = sorted((p.problem_id for s in shards for p in s), key=lambda x: int(x.rsplit("/", 1)[1]))
    assert merged == [p.problem_id for p in limited]
    assert load_problems(gsm8k(data_dir, limit=10, shard="1/3")) == shards[1]  # deterministic


@pytest.mark.parametrize("shard", ["3/3", "-1/2", "a/b", "1", "1/0"])
def test_bad_shard_is_a_one_line_error(data_dir, shard):
    with pytest.raises(DataError, match="i/n"):
        load_problems(gsm8k(data_dir, shard=shard))


def test_missing_file_says_how_to_get_the_data(tmp_path):
    with pytest.raises(DataError) as err:
        load_problems(gsm8k(tmp_path))
    assert "make data" in str(err.value) and "HARNESS_DATA_DIR" in str(err.value)


def test_corrupt_line_names_file_and_line(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    good = json.dumps({"question": "q", "answer": "#### 1"})
    (tmp_path / "gsm8k" / "test.jsonl").write_text(f"{good}\n{good}\n{{not json\n{good}\n")
    with pytest.raises(DataError, match=r"test.jsonl:3: corrupt JSON line"):
        load_problems(gsm8k(tmp_path))


def test_gold_covers_the_whole_file(data_dir):
    assert len(load_gold(gsm8k(data_dir, limit=2, shard="0/2"))) == 1319


def test_prompt_template_keeps_latex_braces():
    messages = build_messages(Problem("p", "Find $\\frac{1}{2}$ of {x}.", "1"),
                              PromptConfig(user="{problem}\nPut it in \\boxed{}.", system="Be brief."))
    assert messages == [{"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "Find $\\frac{1}{2}$ of {x}.\nPut it in \\boxed{}."}]


@pytest.mark.parametrize("file, first_id, count", [
    ("test.jsonl", "gsm8k/test/0", 1319),  # as before splits were named: older runs stay comparable
    ("train.jsonl", "gsm8k/train/0", 7473),
])
def test_problem_ids_name_the_file_they_come_from(data_dir, file, first_id, count):
    problems = load_problems(gsm8k(data_dir, file=file))
    assert len(problems) == count and problems[0].problem_id == first_id and problems[0].gold


def test_ids_keep_the_listed_problems_in_the_datasets_order_before_limit_and_shard(data_dir):
    ids = ["gsm8k/test/7", "gsm8k/test/2", "gsm8k/test/5"]
    assert [p.problem_id for p in load_problems(gsm8k(data_dir, ids=ids))] == ["gsm8k/test/2", "gsm8k/test/5",
                                                                                "gsm8k/test/7"]
    assert [p.problem_id for p in load_problems(gsm8k(data_dir, ids=ids, limit=2, shard="1/2"))] == ["gsm8k/test/5"]
    assert len(load_gold(gsm8k(data_dir, ids=ids))) == 1319


def test_unknown_ids_are_a_one_line_error_naming_them(data_dir):
    with pytest.raises(DataError) as err:
        load_problems(gsm8k(data_dir, ids=["gsm8k/test/1", "gsm8k/test/99999", "test/1"]))
    assert str(err.value) == ("data.ids: 2 unknown to gsm8k: 'gsm8k/test/99999', 'test/1' (its ids look like "
                              "'gsm8k/test/0')")


def test_a_loader_giving_two_problems_one_id_is_refused():
    DATASETS.register("twice", Dataset("twice", "Twice", lambda cfg: [Problem("a", "q", "1")] * 2, INTEGER, 8))
    with pytest.raises(DataError, match="dataset twice has problem id 'a' twice"):
        load_problems(DataConfig(name="twice"))


def test_an_unknown_dataset_lists_the_registered_ones(tmp_path):
    names = "aime24, aime25, amc23, arith, gsm8k, math, math500"
    with pytest.raises(UserError, match=rf"unknown dataset 'gsm9k': choose one of {names} \(data="):
        load_problems(DataConfig(name="gsm9k", dir=str(tmp_path)))


@pytest.mark.parametrize("name, count, first, last, golds", [
    # AIME 2024's file writes seven answers zero-padded (I-8 is 025): the gold is the integer.
    ("aime24", 30, "aime24/60", "aime24/89", {"aime24/60": "204", "aime24/67": "25"}),
    ("aime25", 30, "aime25/0", "aime25/29", {"aime25/0": "70", "aime25/29": "240"}),
    ("amc23", 40, "amc23/0", "amc23/49", {"amc23/0": "27", "amc23/3": "3159"}),
])
def test_the_competition_sets_ids_name_the_set_and_their_answers_are_integers(data_dir, name, count, first, last,
                                                                             golds):
    problems = load_problems(DataConfig(name=name, dir=str(data_dir)))
    ids = [p.problem_id for p in problems]
    assert len(problems) == count and (ids[0], ids[-1]) == (first, last) and len(set(ids)) == count
    assert all(p.gold == str(int(p.gold)) and p.question for p in problems)
    assert {p.problem_id: p.gold for p in problems if p.problem_id in golds} == golds
    assert DATASETS.get(name).answer == INTEGER and DATASETS.get(name).max_new_tokens == 4096


@pytest.mark.parametrize("raw, expected", [
    ("025", "25"),  # AIME's three digits
    (" 7 ", "7"),
    ("27.0", "27"),  # an integer written as a float
    ("-1", "-1"),
    ("0", "0"),
])
def test_integer_answers_read_as_plain_integers(raw, expected):
    assert integer_answer(raw) == expected


@pytest.mark.parametrize("raw", ["1/2", "2.5", "\\frac{1}{2}", "", "B"])
def test_a_gold_answer_that_is_no_integer_is_refused(raw):
    with pytest.raises(DataError, match="is not an integer"):
        integer_answer(raw)


def _solve(question: str) -> int:
    """The answer an arith question asks for, read from its numbers and its kind of words."""
    a, b = (int(w) for w in question.replace("?", " ").split() if w.isdigit())
    if "gives" in question:
        return a - b
    return a * b if "boxes" in question or "times" in question else a + b


def test_arith_is_200_generated_one_step_problems_the_same_every_time():
    problems = load_problems(DataConfig(name="arith"))
    assert len(problems) == 200 and problems == load_problems(DataConfig(name="arith", dir="/nowhere"))
    assert [p.problem_id for p in problems] == [f"arith/{i}" for i in range(200)]
    assert all(p.gold == str(_solve(p.question)) for p in problems)
    # The kinds take turns, so the first six problems hold one of each.
    words = ("+", "buys", "times", "gives", "+", "boxes")
    assert len(KINDS) == 6 and all(words[i % 6] in p.question for i, p in enumerate(problems))
    assert len(set(p.question for p in problems)) > 150
    assert DATASETS.get("arith").answer == INTEGER and DATASETS.get("arith").title == "One-step arithmetic"
