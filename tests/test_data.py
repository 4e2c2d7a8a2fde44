import json

import pytest

from harness.config import DataConfig, PromptConfig
from harness.data import DATASETS, INTEGER, DataError, Dataset, Problem, build_messages, load_gold, load_problems
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
    with pytest.raises(UserError, match=r"unknown dataset 'gsm9k': choose one of gsm8k, math, math500 \(data="):
        load_problems(DataConfig(name="gsm9k", dir=str(tmp_path)))
