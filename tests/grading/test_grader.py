"""Tests of harness.grading.grader and the hard limits: timeouts, guards, counts, cancellation."""

from __future__ import annotations

import random
import time
from concurrent.futures import CancelledError

import pytest

from harness.data import INTEGER
from harness.errors import UserError
from harness.grading import Grader, is_equivalent

TOWER = "5^{5^{5^{5^5}}}"
SLOW = r"\int e^{x^2}\sin(x^{3})\tan(x) dx"  # passes the guards; sympy grinds on it for minutes
ADVERSARIAL = {
    "tower": TOWER,
    "braces": "{" * 10_000 + "}" * 10_000,
    "binary": bytes(random.Random(0).randrange(256) for _ in range(300)).decode("latin-1"),  # under the length cap
    "binary_long": bytes(random.Random(1).randrange(256) for _ in range(100_000)).decode("latin-1"),
    "empty": "",
    "slow_integral": SLOW,
}


@pytest.fixture(scope="module")
def warm_pool() -> None:
    """Start the shared worker first, so the timings below measure grading, not process start."""
    assert is_equivalent(r"\sqrt{4}", "2")


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_inputs_return_within_timeout(warm_pool: None, name: str) -> None:
    timeout_s = 1.0
    for pred, gold in ((ADVERSARIAL[name], "5"), ("5", ADVERSARIAL[name])):
        start = time.monotonic()
        assert is_equivalent(pred, gold, timeout_s=timeout_s) is False
        assert time.monotonic() - start < timeout_s + 1.0


def test_grader_counts_timeouts_and_recovers(warm_pool: None) -> None:
    with Grader("math", timeout_s=1.0) as grader:
        assert grader.submit(r"\boxed{\sqrt{9}}", "3").result(timeout=30) == (r"\sqrt{9}", True)
        start = time.monotonic()
        assert grader.submit(f"\\boxed{{{SLOW}}}", "5").result(timeout=10) == (SLOW, False)
        assert time.monotonic() - start < 2.0
        assert grader.submit(r"\boxed{\frac{\sqrt{3}}{3}}", r"\frac{1}{\sqrt3}").result(timeout=10)[1] is True
        assert grader.stats["timeouts"] == 1
        assert grader.stats["graded"] == 3 and grader.stats["correct"] == 2


def test_grader_future_can_be_cancelled() -> None:
    with Grader("math") as grader:
        dropped = grader.submit(r"\boxed{\sqrt{50}}", r"5\sqrt2")  # needs a worker: still pending
        assert not dropped.done() and dropped.cancel()
        # The same pair again shares the worker's answer, and the cancelled one stays cancelled.
        assert grader.submit(r"\boxed{\sqrt{50}}", r"5\sqrt2").result(timeout=30) == (r"\sqrt{50}", True)
        assert dropped.cancelled()
        with pytest.raises(CancelledError):
            dropped.result(timeout=0)


def test_grader_counts_parse_failures_and_missing_answers() -> None:
    with Grader("math") as grader:
        results = grader.grade_many([r"\boxed{3+}", "no answer here", r"\boxed{" + TOWER + "}"], ["3", "3", "5"])
        assert [c for _, c in results] == [False, False, False]
        assert results[1] == (None, False)
        assert grader.stats["parse_failures"] == 2
        assert grader.stats["no_answer"] == 1


@pytest.mark.parametrize("extraction, correct", [("strict", 60), ("flexible", 80)])
def test_grader_gsm8k_modes_and_duplicates(extraction: str, correct: int) -> None:
    texts = ["#### 18", "The answer is 18.", "So $\\boxed{18}$.", "#### 17", "We get 18 dollars."] * 20
    with Grader("gsm8k", workers=2, extraction=extraction) as grader:
        results = grader.grade_many(texts, ["18"] * len(texts))
    # "We get 18 dollars." states no answer: strict reads none, flexible its last number.
    assert [c for _, c in results[:5]] == [True, True, True, False, extraction == "flexible"]
    assert grader.stats["graded"] == 100 and grader.stats["correct"] == correct


def test_grader_rejects_bad_input() -> None:
    with pytest.raises(UserError, match="unknown dataset 'mmlu': choose one of aime24, aime25, amc23, arith, gsm8k, math, "
                                        "math500"):
        Grader("mmlu")
    with pytest.raises(ValueError, match="runner.extraction"):
        Grader("math", extraction="lenient")
    with Grader("math") as grader, pytest.raises(ValueError, match="2 texts but 1"):
        grader.grade_many(["a", "b"], ["1"])


@pytest.mark.parametrize("text, gold, expected", [
    # AIME / AMC answers are integers, some written zero-padded: compared as numbers.
    (r"so $\boxed{25}$", "025", ("25", True)),
    (r"so $\boxed{025}$", "25", ("025", True)),
    ("Therefore, the answer is 25.", "025", ("25", True)),
    (r"so $\boxed{24}$", "025", ("24", False)),
    (r"so $\boxed{\pi}$", "25", (None, False)),  # no integer stated
])
def test_integer_answers_grade_as_numbers(text: str, gold: str, expected: tuple) -> None:
    with Grader(INTEGER) as grader:
        assert grader.submit(text, gold).result(timeout=30) == expected
