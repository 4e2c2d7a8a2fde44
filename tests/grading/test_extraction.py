"""Tests of harness.grading.extraction: where a solution states its answer, table-driven by pattern.

Each row is (dataset, text, expected) under the default strict rule; rows are grouped by the way
the answer is stated. Texts are written the way models write them (Llama-3.2's "Therefore, the
final answer is: $\\boxed{...}$. I hope it is correct.", PRM800K's "# Answer", R1-style
"**Final Answer**", GSM8K's "#### N"), and some are real model outputs (tests/grading/real_outputs.py).
"""

from __future__ import annotations

import time

import pytest

from harness.data import HASHES, INTEGER, LATEX, AnswerRule
from harness.errors import UserError
from harness.grading import extract_answer

STRICT: dict[str, list[tuple[str, str, str | None]]] = {
    "boxes": [
        ("math", r"so the answer is $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
        ("math", r"Thus $x = \boxed{\frac{\sqrt{3}}{2}}$", r"\frac{\sqrt{3}}{2}"),
        ("math", r"First \boxed{1}. Then we redo the computation and get \boxed{2}.", "2"),
        ("math", r"\fbox{5}", "5"),
        ("math", r"The answer is $\boxed 7$.", "7"),
        ("math", r"$\boxed{(3, 4]}$", "(3, 4]"),
        ("math", r"$\boxed{\text{(B)}}$", r"\text{(B)}"),
        ("math", r"\boxed{5} and then we write \boxed{\frac{1", "5"),
        ("math", "**Final Answer**\n\\[\n\\boxed{\\frac{1}{2}}\n\\]", r"\frac{1}{2}"),
        ("math", "Therefore, the final answer is: $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}$. "
         "I hope it is correct.", r"\left( 3, \frac{\pi}{2} \right)"),
        ("gsm8k", r"So the answer is $\boxed{\$18}$.", "18"),
        ("gsm8k", r"In total $\boxed{18 \text{ dollars}}$.", "18"),
        ("gsm8k", r"The probability is $\boxed{\frac{1}{2}}$.", r"\frac{1}{2}"),
    ],
    "several_boxes_one_answer": [
        ("math", r"The solutions are $\boxed{-2}$ and $\boxed{1}$.", "-2, 1"),
        ("math", r"She needs \boxed{1} papers and \boxed{2} bins.", "1, 2"),
        ("math", r"$x = \boxed{3}$, $y = \boxed{3}$", "3"),
        ("math", r"We find \boxed{3}. Next, since y = 2x, we get \boxed{6}.", "6"),
    ],
    "placeholder_boxes": [  # the prompt's format copied with no answer in it
        ("math", "Therefore, the final answer is: $\\boxed{answer}$. I hope it is correct.", None),
        ("math", r"The answer goes in \boxed{}.", None),
        ("gsm8k", "I will write $\\boxed{answer}$. So 3 + 4 = 7 bolts.", "7"),
        ("gsm8k", "Format: \\boxed{answer}. Hence \\boxed{12}.", "12"),
    ],
    "answer_phrases": [
        ("math", "Answer: $9$", "9"),
        ("math", "**Answer:** 9", "9"),
        ("math", "Final Answer: The largest $n$ is 34.", "34"),
        ("math", "Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.", r"\frac{3}{4}"),
        ("math", "So the answer is $x=5$.", "x=5"),
        ("math", "Therefore the answer is 3.5.", "3.5"),
        ("math", "We add them.\n\n# Answer\n\n34", "34"),
        ("math", "The final answer is:\n\n$$\\frac{7}{2}$$", r"\frac{7}{2}"),
        ("math", "Answer: The sum of the roots is $-3$.", "-3"),
        ("math", "The answer is (B).", "(B)"),
        ("gsm8k", "So she pays $1,234.\nThe answer is $1,234.", "1234"),
        ("gsm8k", "The answer is 42 apples.", "42"),
        ("gsm8k", "The answer is -5.", "-5"),
        ("gsm8k", "The answer is 3.50.", "3.50"),
        ("gsm8k", "The answer is 7.5 hours, which is 7 and a half hours.", "7.5"),
        ("gsm8k", "The answer is 9 * 2 = 18.", "18"),
        ("gsm8k", "#### Step 1: add\n5 + 3 = 8.\nThe answer is 8.", "8"),
    ],
    "later_statement_wins": [
        ("math", r"So \boxed{4}. Wait, I made an error. The final answer is 5.", "5"),
        ("math", r"The answer is 5. Checking again, it is \boxed{6}.", "6"),
        ("math", r"We get \boxed{12}. The answer is therefore the number of apples.", "12"),
    ],
    "hashes": [
        ("gsm8k", "She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18", "18"),
        ("gsm8k", "#### 2,125", "2125"),
        ("gsm8k", "#### 18\nThen John buys 7 more.\n#### 25", "18"),  # the solution ends at its first ####
        ("gsm8k", "#### 1. The eggs\nShe sells 9 eggs at $2.\n#### 2. The money\nThe answer is 18.", "18"),  # headings
    ],
    "thousands_separators": [
        ("gsm8k", r"The answer is 14\,916.", "14916"),
        ("gsm8k", r"The answer is $14{,}916$.", "14916"),
        ("gsm8k", r"So the total is $\boxed{10,\!080}$.", "10080"),
    ],
    "closing_statements": [
        ("math", r"Therefore $x \geq 5$ is the solution.", r"x \geq 5"),
        ("math", "We solve it.\n\nThus,\n\\[\nx = 5.\n\\]", "x = 5."),
        ("math", r"So, the area of the triangle is $12$.", "12"),
        ("math", r"Hence $x = 2$ or $x = 3$.", "x = 2, x = 3"),
        ("math", "Adding up, the total is 30. So the largest n is 34.", "34"),
        ("gsm8k", "She has 5 apples and buys 3 more.\nSo she has 8 apples left.", "8"),
        ("gsm8k", "Therefore, Janet makes $18 every day at the farmers' market.", "18"),
        ("gsm8k", "So 9 * 2 = 18 dollars.", "18"),
    ],
    "runoff": [  # a model that did not stop invents the next exercise; that must not change the answer
        ("math", "Final Answer: The final answer is 12. I hope it is correct.\n\nProblem: Find 2+3.\n"
         "Solution: \\boxed{5}", "12"),
        ("math", "We get \\boxed{4}.\n\nProblem: What is 2+3?\nSolution: It is \\boxed{5}.", "4"),
        ("math", "We get \\boxed{4}.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\\boxed{5}", "4"),
        ("gsm8k", "The answer is 18.\n\nQuestion: Tom has 3 cats and buys 4. How many?\nThe answer is 7.", "18"),
        ("gsm8k", "#### 18\nQuestion: Tom has 3 cats and buys 4.\n#### 7", "18"),
        ("gsm8k", "So \\boxed{18}.\n\nQuestion: Tom has 3 cats and 4 dogs.\nSo \\boxed{7}.", "18"),
        ("gsm8k", "So \\boxed{18}<|eot_id|>assistant: \\boxed{7}", "18"),
    ],
    "a_last_line_that_computes": [  # SmolLM2's short answers: the computation is the statement
        ("math", "11 + 10 = 21", "21"),
        ("gsm8k", "First add the two numbers.\n14 + 8 = 22.", "22"),
        ("math", r"3 \times 4 = 12", "12"),
        ("gsm8k", "(2 + 3) * 4 = 20", "20"),
        ("math", "1 - 2 = -1", "-1"),
        ("math", "x + 3 = 5", None),  # an equation to solve, not a result
        ("math", "5 = 5", None),  # nothing computed
        ("gsm8k", "14 + 8 = 22, and then we subtract", None),  # cut off
        ("gsm8k", "14 + 8 = 22\nNow we multiply by", None),  # not the last line
        # A sentence that ends in the computation, a few words after its result at most.
        ("gsm8k", "Li has 11 apples, so Li has 11 - 9 = 2 apples left.", "2"),
        ("gsm8k", "Ben has 4 boxes, 4 * 2 = 8 apples are Ben's.", "8"),
        ("gsm8k", "So she has 5 + 3 = 8.", "8"),
        ("gsm8k", '"6 + 6 = 12.', "12"),
        ("gsm8k", "Ben has 15 - 7 = 6 stickers left.", "6"),  # the stated result, right or wrong
        ("gsm8k", "Ben has 4 x 2 = 8 apples, the same as his 4 boxes.", None),  # a clause goes on
        ("gsm8k", "In all 4 * 2 = 8 apples and then he buys", None),  # no full stop: cut off
        ("gsm8k", "He pays 4 * 2 = 8 dollars for 3 apples.", None),  # a number after the result
        ("gsm8k", "First, 2x + 3 = 7.", None),  # an equation to solve
    ],
    "a_reply_that_is_a_number": [
        ("gsm8k", "15", "15"),
        ("math", " 15.\n", "15"),
        ("gsm8k", "-3", "-3"),
        ("gsm8k", "15 apples", None),
    ],
    "emphasis_before_the_value": [
        ("math", "So the answer is indeed 21.", "21"),
        ("math", r"The final answer is simply $\frac{1}{2}$.", r"\frac{1}{2}"),
        ("gsm8k", "The answer is exactly 42 apples.", "42"),
    ],
    "cut_off_or_empty_boxes": [
        ("gsm8k", "Therefore, the final answer is: $\\boxed", None),
        ("math", "Therefore, the final answer is: $\\boxed{", None),
        ("math", "Therefore, the final answer is: $\\boxed$. I hope it is correct.", None),
        ("math", "The answer is $\\boxed$.", None),
    ],
    "no_stated_answer": [
        ("math", "I am not sure how to solve this.", None),
        ("math", "", None),
        ("math", "The answer is correct, as we checked.", None),
        ("math", "To answer this, we first compute the area.", None),
        ("math", "So we have $x = 3$ and then", None),  # cut off by max_new_tokens
        ("math", "So $x = 3$. Let me double-check this with another method", None),
        ("math", "The value is 12, or maybe 13, I think.", None),
        ("math", "Before we give the final answer, 3 steps are needed.", None),
        ("gsm8k", "Before we give the final answer, 3 steps are needed.", None),
        ("gsm8k", "She has 5 apples and buys 3 more, so she has 8.", None),  # a number in prose, stated as nothing
        ("gsm8k", "The discount is 20%, so she saves 50%.", None),
        ("gsm8k", "She makes 18 dollars.\nQuestion: If Tom has 99 apples", None),
        ("gsm8k", "I don't know.", None),
        ("gsm8k", "42ave\ufffd5 answer is 3\ufffd\x1e", None),  # decoding noise, even around an answer phrase
    ],
}
# Prompts that ask for no marked answer: "flexible" reads as strict, then the last number.
FLEXIBLE = [
    ("gsm8k", "She has 5 apples and buys 3 more, so she has 8.", "8"),
    ("gsm8k", "The discount is 20%, so she saves 50%.", "50"),
    ("gsm8k", "She makes 18 dollars.\nQuestion: If Tom has 99 apples", "18"),
    ("math", "So we have $x = 3$ and then", "3"),
    ("gsm8k", "I don't know.", None),
]

ROWS = [(group, *row) for group, rows in STRICT.items() for row in rows]


@pytest.mark.parametrize("group, dataset, text, expected", ROWS, ids=[f"{r[0]}-{i}" for i, r in enumerate(ROWS)])
def test_strict_extraction(group: str, dataset: str, text: str, expected: str | None) -> None:
    assert extract_answer(text, dataset) == expected
    if expected is not None:  # flexible only adds a fallback where strict finds nothing
        assert extract_answer(text, dataset, "flexible") == expected


@pytest.mark.parametrize("dataset, text, expected", FLEXIBLE)
def test_flexible_extraction(dataset: str, text: str, expected: str | None) -> None:
    assert extract_answer(text, dataset, "flexible") == expected


@pytest.mark.parametrize("dataset, mode, error, message", [
    ("mmlu", "strict", UserError,
     "unknown dataset 'mmlu': choose one of aime24, aime25, amc23, arith, gsm8k, math, math500"),
    ("math", "loose", ValueError, "runner.extraction"),
])
def test_bad_dataset_or_mode_is_a_clear_error(dataset: str, mode: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        extract_answer("#### 1", dataset, mode)


@pytest.mark.parametrize("rule, text, expected", [
    # A dataset names its rule (harness.data): the same text reads by the rule it declares.
    (INTEGER, r"The answer is $\boxed{025}$.", "025"),
    (INTEGER, r"so $\boxed{\pi}$", None),  # a box with no digit states no integer ...
    (LATEX, r"so $\boxed{\pi}$", r"\pi"),  # ... where it is a LaTeX answer
    (INTEGER, "Therefore, the answer is 1,024.", "1024"),
    (HASHES, "3 + 4 = 7\n#### 7\nQuestion: 2 + 2?\n#### 4", "7"),  # "#### N" ends the solution
])
def test_a_rule_given_as_itself_reads_as_its_dataset(rule: AnswerRule, text: str, expected: str | None) -> None:
    assert extract_answer(text, rule) == expected


@pytest.mark.parametrize("text", ["\\boxed{" * 20_000, "a" * 200_000 + ".", "The answer is " + "x " * 50_000,
                                  "$" * 100_000, "Therefore " * 30_000])
def test_extraction_is_linear(text: str) -> None:
    start = time.monotonic()
    for dataset in ("math", "gsm8k"):
        extract_answer(text, dataset, "flexible")
    assert time.monotonic() - start < 1.0
