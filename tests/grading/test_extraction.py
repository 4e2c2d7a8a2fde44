"""Tests of harness.grading.extraction: the final answer of a generated solution."""

from __future__ import annotations

import time

import pytest

from harness.grading import extract_answer

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
