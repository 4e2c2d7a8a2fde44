"""Tests of harness.grading: extraction, the Grader, hard limits, and grading a run directory."""

from __future__ import annotations

import json
import random
import sys
import time
import types
from pathlib import Path

import pytest

from harness import grading
from harness.grading import Grader, extract_answer, grade_run, is_equivalent

# ---------------------------------------------------------------- extraction

MATH_EXTRACTION = [
    (r"so the answer is $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
    (r"Thus $x = \boxed{\frac{\sqrt{3}}{2}}$", r"\frac{\sqrt{3}}{2}"),
    (r"First \boxed{1}. Then we redo the computation and get \boxed{2}.", "2"),
    (r"\fbox{5}", "5"),
    (r"The answer is $\boxed 7$.", "7"),
    (r"$\boxed{(3, 4]}$", "(3, 4]"),
    (r"$\boxed{\text{(B)}}$", r"\text{(B)}"),
    (r"The solutions are $\boxed{-2}$ and $\boxed{1}$.", "-2, 1"),
    (r"\boxed{5} and then we write \boxed{\frac{1", "5"),
    ("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", r"\frac{3}{4}"),
    ("Final Answer: The final answer is 12. I hope it is correct.\n\nProblem: Find 2+3.\nSolution: \\boxed{5}", "12"),
    ("So the answer is $x=5$.", "x=5"),
    ("Therefore the answer is 3.5.", "3.5"),
    ("We get \\boxed{4}.\n\nProblem: What is 2+3?\nSolution: It is \\boxed{5}.", "4"),
    ("We get \\boxed{4}.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\\boxed{5}", "4"),
    ("I am not sure how to solve this.", None),
    ("", None),
]

GSM8K_EXTRACTION = [
    ("She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18", "18"),
    ("#### 2,125", "2125"),
    ("So she pays $1,234.\nThe answer is $1,234.", "1234"),
    ("The answer is 42 apples.", "42"),
    ("The answer is -5.", "-5"),
    ("The answer is 3.50.", "3.50"),
    (r"So the answer is $\boxed{\$18}$.", "18"),
    (r"In total $\boxed{18 \text{ dollars}}$.", "18"),
    (r"The probability is $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
    ("She has 5 apples and buys 3 more, so she has 8.", "8"),
    ("The discount is 20%, so she saves 50%.", "50"),
    ("#### Step 1: add\n5 + 3 = 8.\nThe answer is 8.", "8"),
    # Runoff into an invented next question must not change the answer.
    ("The answer is 18.\n\nQuestion: Tom has 3 cats and buys 4. How many?\nThe answer is 7.", "18"),
    ("#### 18\nQuestion: Tom has 3 cats and buys 4.\n#### 7", "18"),
    ("So \\boxed{18}.\n\nQuestion: Tom has 3 cats and 4 dogs.\nSo \\boxed{7}.", "18"),
    ("She makes 18 dollars.\nQuestion: If Tom has 99 apples", "18"),
    ("So \\boxed{18}<|eot_id|>assistant: \\boxed{7}", "18"),
    # A box parroting the prompt's "\boxed{answer}" holds no answer; the numbers do.
    ("I will write $\\boxed{answer}$. So 3 + 4 = 7 bolts.", "7"),
    ("Format: \\boxed{answer}. Hence \\boxed{12}.", "12"),
    ("I don't know.", None),
    ("", None),
]


@pytest.mark.parametrize("text, expected", MATH_EXTRACTION)
def test_extract_math(text: str, expected: str | None) -> None:
    assert extract_answer(text, "math") == expected


@pytest.mark.parametrize("text, expected", GSM8K_EXTRACTION)
def test_extract_gsm8k(text: str, expected: str | None) -> None:
    assert extract_answer(text, "gsm8k") == expected


def test_extract_unknown_dataset() -> None:
    with pytest.raises(ValueError, match="unknown grading dataset"):
        extract_answer("#### 1", "mmlu")


def test_extract_is_linear_on_unclosed_boxes() -> None:
    text = "\\boxed{" * 20_000
    start = time.monotonic()
    assert extract_answer(text, "math") is None
    assert time.monotonic() - start < 1.0


# ---------------------------------------------------------------- hard limits

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


def test_grader_counts_timeouts_and_recovers() -> None:
    with Grader("math", timeout_s=1.0) as grader:
        assert grader.submit(r"\boxed{\sqrt{9}}", "3").result() == (r"\sqrt{9}", True)  # worker is up
        start = time.monotonic()
        assert grader.submit(f"\\boxed{{{SLOW}}}", "5").result(timeout=10) == (SLOW, False)
        assert time.monotonic() - start < 2.0
        assert grader.submit(r"\boxed{\frac{\sqrt{3}}{3}}", r"\frac{1}{\sqrt3}").result(timeout=10)[1] is True
        assert grader.stats["timeouts"] == 1
        assert grader.stats["graded"] == 3 and grader.stats["correct"] == 2


def test_grader_future_can_be_cancelled() -> None:
    with Grader("math") as grader:
        dropped = grader.submit(r"\boxed{\sqrt{50}}", r"5\sqrt2")  # needs a worker: still pending
        dropped.cancel()
        assert grader.submit(r"\boxed{\sqrt{50}}", r"5\sqrt2").result(timeout=30) == (r"\sqrt{50}", True)


def test_grader_counts_parse_failures_and_missing_answers() -> None:
    with Grader("math") as grader:
        results = grader.grade_many([r"\boxed{3+}", "no answer here", r"\boxed{" + TOWER + "}"], ["3", "3", "5"])
        assert [c for _, c in results] == [False, False, False]
        assert results[1] == (None, False)
        assert grader.stats["parse_failures"] == 2
        assert grader.stats["no_answer"] == 1


def test_grader_gsm8k_and_duplicates() -> None:
    texts = ["#### 18", "The answer is 18.", "So $\\boxed{18}$.", "#### 17", "We get 18 dollars."] * 20
    with Grader("gsm8k", workers=2) as grader:
        results = grader.grade_many(texts, ["18"] * len(texts))
    assert [c for _, c in results[:5]] == [True, True, True, False, True]
    assert grader.stats["graded"] == 100 and grader.stats["correct"] == 80


def test_grader_rejects_mismatched_lengths_and_bad_dataset() -> None:
    with pytest.raises(ValueError, match="unknown grading dataset"):
        Grader("aime")
    with Grader("math") as grader, pytest.raises(ValueError, match="2 texts but 1"):
        grader.grade_many(["a", "b"], ["1"])


# ---------------------------------------------------------------- run directories

GOLD = {"p0": r"\frac{1}{2}", "p1": "(1,2]", "p2": "7"}


def _write_run(run_dir: Path, tail: bytes = b"") -> Path:
    run_dir.mkdir()
    config = {"data": {"name": "math500", "dir": "/nonexistent", "grader": "math"}}
    (run_dir / "run.json").write_text(json.dumps({"config": config, "status": "done"}))
    rows = [
        ("p0", 0, r"so $\boxed{0.5}$", None),
        ("p0", 1, r"so $\boxed{0.6}$", None),
        ("p1", 0, r"$\boxed{(1, 2]}$", None),
        ("p1", 1, r"$\boxed{(1, 2)}$", True),  # graded before: kept as it is, even if wrong
        ("unknown", 0, r"\boxed{1}", None),
    ]
    lines = [
        json.dumps({"problem_id": p, "sample_idx": i, "text": t, "n_tokens": 5, "finish_reason": "stop",
                    "t_end_s": 0.1, "pred": None, "correct": c, "reward": None, "reward_s": None})
        for p, i, t, c in rows
    ]
    path = run_dir / "trajectories.jsonl"
    path.write_bytes("\n".join(lines).encode() + b"\n" + tail)
    return path


@pytest.fixture
def fake_data(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    seen: list[dict] = []

    def load_gold(data_cfg: dict) -> dict[str, str]:
        seen.append(data_cfg)
        return dict(GOLD)

    monkeypatch.setitem(sys.modules, "harness.data", types.SimpleNamespace(load_gold=load_gold))
    return seen


def test_grade_run_fills_and_is_idempotent(tmp_path: Path, fake_data: list[dict]) -> None:
    path = _write_run(tmp_path / "run", tail=b'{"problem_id": "p2", "sample_idx": 0, "te')
    summary = grade_run(tmp_path / "run")
    assert summary["newly_graded"] == 3 and summary["already_graded"] == 1 and summary["no_gold"] == 1
    assert summary["unreadable_lines"] == 1 and summary["correct_total"] == 3
    records = [json.loads(line) for line in path.read_text().split("\n")[:-1]]
    assert [(r["pred"], r["correct"]) for r in records] == [
        ("0.5", True), ("0.6", False), ("(1, 2]", True), (None, True), (None, None)]
    assert path.read_bytes().endswith(b'\n{"problem_id": "p2", "sample_idx": 0, "te')  # torn line kept
    before = path.read_bytes()
    again = grade_run(tmp_path / "run")
    assert again["newly_graded"] == 0 and path.read_bytes() == before
    assert not list((tmp_path / "run").glob("*.grading-tmp"))


def test_grade_run_cli_overrides_data_dir(tmp_path: Path, fake_data: list[dict], capsys: pytest.CaptureFixture) -> None:
    _write_run(tmp_path / "run")
    assert grading.main([str(tmp_path / "run"), "--data-dir", str(tmp_path / "data"), "--timeout", "3"]) == 0
    assert fake_data[-1]["dir"] == str(tmp_path / "data")
    assert json.loads(capsys.readouterr().out)["newly_graded"] == 3


def test_cli_help_and_missing_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        grading.main(["--help"])
    assert exc.value.code == 0 and "--data-dir" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        grading.main([str(tmp_path)])
    assert exc.value.code == 2
