"""Whole samples as models write them, graded end to end: (dataset, text, gold, expected correct).

Built for grader version 2 (issue 15) from two sources, never from another grader's test file:
the answer formats of the models and evaluation prompts in use (Llama-3.2's evaluation format
that conf/prompt/cot_boxed.yaml asks for, Qwen2.5-Math's \\(\\boxed{}\\), R1-style "**Final Answer**",
PRM800K's "# Answer", Minerva's "Final Answer: The final answer is ...", GSM8K's "The answer is N"
and "#### N", tool-integrated outputs printing floats), written around the patterns issue 15
lists; and real outputs of SmolLM2-135M-Instruct (the default model) on GSM8K and MATH-500 with
the cot_boxed prompt, copied verbatim. bench/grader.py scores this grader and Math-Verify on it.
"""

from __future__ import annotations

import pytest

from harness.grading import Grader

LLAMA = "## Step 1: Set up\nWe compute step by step.\n\n## Step 2: Solve\n"
# Real outputs of SmolLM2-135M-Instruct (tails of the longer ones), verbatim.
SMOL_PARROT = (
    "I'm here to help you with that math problem. I'll provide step-by-step instructions without breaking the "
    "spell.\n\nThe solution to the question is: $\\boxed{answer}$.\n\nI'll make sure to provide clear and concise "
    "instructions. I won't leave out anything, so please just refer to the instructions as requested.")
SMOL_PROFIT = (
    "To find the profit, you need to calculate the difference between the original price and the additional "
    "$50,000.\n\n$\\text{Profit} = Original price - Additional repairs \u2248 $80,000 - 50,000 = $30,000$\n\n"
    "The answer is: $30,000.")
SMOL_POLAR = (
    "The polar coordinates of $(0,3)$ are $(-\\frac{1}{2},\\frac{1}{2})$, which is in rectangular coordinates.\n\n"
    "The final answer is $(\\frac{1}{2},\\frac{1}{2})$, which is the final answer you are looking for.")
SMOL_ALGEBRA = (
    "Now, I will multiply both sides by $x^2-1$ to get rid of the denominator, which gives:\n\n"
    "$\\frac{x+3}{x-2} = \\frac{x+1}{x-2}$\n\nSo, the final answer is:\n\n$\\boxed{answer}$\n\n"
    "Therefore, the final answer is: $\\boxed{answer}$")
SMOL_HOUSE = (  # a number in a remark after "The final answer is", not the answer (issue 18's CPU run)
    "Step 2: Determine the final answer by multiplying the original house's value by 1.50 (1.50 to the power of "
    "50).\n\nThe final answer is the same as the previous step, but with a 50% increase in the house's value.")
FORMATS: dict[str, list[tuple[str, str, str, bool]]] = {
    "llama3_evaluation_format": [
        ("math", LLAMA + "Therefore, the final answer is: $\\boxed{\\frac{14}{3}}$. I hope it is correct.",
         r"\frac{14}{3}", True),
        ("math", LLAMA + "Therefore, the final answer is: $\\boxed{(3,\\frac{\\pi}{2})}$. I hope it is correct.",
         r"\left( 3, \frac{\pi}{2} \right)", True),
        ("math", LLAMA + "Therefore, the final answer is: $\\boxed{p - q}$. I hope it is correct.", "p - q", True),
        ("gsm8k", LLAMA + "16 - 3 - 4 = 9 eggs, and 9 * 2 = 18.\n\nTherefore, the final answer is: $\\boxed{18}$. "
         "I hope it is correct.", "18", True),
        ("gsm8k", LLAMA + "Therefore, the final answer is: $\\boxed{\\$70,000}$. I hope it is correct.", "70000", True),
        ("gsm8k", LLAMA + "Therefore, the final answer is: $\\boxed{70,001}$. I hope it is correct.", "70000", False),
    ],
    "chat_model_boxes": [
        ("math", "Thus, the final answer is \\(\\boxed{\\frac{14}{3}}\\).", r"\frac{14}{3}", True),
        ("math", "</think>\n\n**Final Answer**\n\\[\n\\boxed{\\dfrac{14}{3}}\n\\]", r"\frac{14}{3}", True),
        ("math", "So the value is\n\\[\n\\boxed{4.\\overline{6}}\n\\]", r"\frac{14}{3}", True),
        ("math", "The answer is $\\boxed{\\text{(C)}}$.", r"\text{(C)}", True),
    ],
    "answer_sentences": [
        ("math", "Adding the three values gives 14/3.\n\nAnswer: $\\frac{14}{3}$", r"\frac{14}{3}", True),
        ("math", "Checking n = 34 and n = 35, only 34 works.\n\nFinal Answer: The largest $n$ is 34.", "34", True),
        ("math", "The inequality holds for x at least 5.\n\nTherefore $x \\geq 5$ is the solution.",
         "[5,\\infty)", True),
        ("math", "We sum the terms.\n\n# Answer\n\n\\frac{14}{3}", r"\frac{14}{3}", True),
        ("math", "Final Answer: The final answer is $\\frac{14}{3}$. I hope it is correct.", r"\frac{14}{3}", True),
        ("math", "Final Answer: The final answer is $\\frac{14}{5}$. I hope it is correct.", r"\frac{14}{3}", False),
    ],
    "labelled_answers": [
        ("math", "Solving the system, $\\boxed{(p,q) = (3,2)}$.", "(3,2)", True),
        ("math", "Hence $\\boxed{x = 5}$.", "5", True),
        ("math", "So the lengths are $\\boxed{AB=4, CD=5}$.", "4, 5", True),
        ("math", "The volumes compare as $\\boxed{V_1:V_2 = 11:21}$.", "11:21", True),
        ("math", "So $\\boxed{V_1:V_2 = 21:11}$.", "11:21", False),
    ],
    "latex_thousands": [
        ("math", "The number of ways is $\\boxed{14{,}916}$.", "14916", True),
        ("math", "The number of ways is $\\boxed{14\\,916}$.", "14916", True),
        ("gsm8k", "She earns $14{,}916 a year.\n\nThe answer is $14{,}916.", "14916", True),
    ],
    "stray_escapes": [
        ("math", "The perimeter is $\\boxed{185\\}$.", "185", True),
        ("math", "So the probability is \\\\boxed{\\\\frac{1}{5}}.", r"\frac{1}{5}", True),  # escaped twice
        ("math", "Therefore, the final answer is: $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}$.",
         r"\left( 3, \frac{\pi}{2} \right)", True),
    ],
    "several_statements": [
        ("math", "She needs \\boxed{1} papers and \\boxed{2} bins.", "1, 2", True),
        ("math", "We get $\\boxed{12}$.\n\nWait, we double counted: the final answer is $6$.", "6", True),
        ("math", "We get $\\boxed{12}$.\n\nWait, we double counted: the final answer is $6$.", "12", False),
    ],
    "long_decimals": [
        ("math", "```python\nprint(1/12)\n```\n```output\n0.0833333333333333\n```\nThe probability is "
         "$\\boxed{0.0833333333333333}$.", r"\frac{1}{12}", True),
        ("math", "The probability is about $\\boxed{0.083}$.", r"\frac{1}{12}", False),
        ("math", "So the length is $\\boxed{1.4142135623730951}$.", r"\sqrt{2}", False),
    ],
    "gsm8k": [
        ("gsm8k", "He works 3 shifts of 2.5 hours.\nThe answer is 7.5 hours, which is 7 and a half hours.",
         "7.5", True),
        ("gsm8k", "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
         "She makes 9 * 2 = $<<9*2=18>>18 every day.\n#### 18", "18", True),
        ("gsm8k", "She has 9 eggs left to sell at $2 each.\nSo she makes $18 every day.", "18", True),
        ("gsm8k", "The answer is 18.\n\nQuestion: Tom has 3 cats and buys 4 more. How many cats?\nThe answer is 7.",
         "7", False),
    ],
    "no_stated_answer": [
        ("gsm8k", "Janet has 16 eggs. She eats 3 and bakes with 4, so 16 - 3 - 4 = 9 are left, and at $2 each",
         "18", False),  # cut by max_new_tokens: the 4 in its working is no answer
        ("gsm8k", "16 - 3 - 4 = 9, and 9 * 2 = 18 so", "18", False),
        ("math", "The sum is $\\frac{14}{3}$ if we", r"\frac{14}{3}", False),
    ],
    "smollm2_real_outputs": [  # verbatim, conf/prompt/cot_boxed.yaml, 2026-12, CPU
        ("gsm8k", "The given answer is: $\\boxed{answer}$", "3", False),
        ("gsm8k", SMOL_PARROT, "3", False),
        ("gsm8k", SMOL_PROFIT, "70000", False),
        ("gsm8k", SMOL_PROFIT, "30000", True),  # graded against the answer it states, to show it is read
        ("math", "Yes, that's correct. The answer is: $\\Box{answer}$", r"\left( 3, \frac{\pi}{2} \right)", False),
        ("math", SMOL_POLAR, r"\left( 3, \frac{\pi}{2} \right)", False),
        ("math", SMOL_POLAR, r"\left(\frac12, \frac12\right)", True),
        ("math", SMOL_ALGEBRA, r"\frac{14}{3}", False),
        ("gsm8k", SMOL_HOUSE, "50", False),
        ("math", SMOL_HOUSE, "50", False),
    ],
}

ROWS = [(group, *row) for group, rows in FORMATS.items() for row in rows]


@pytest.mark.parametrize("group, dataset, text, gold, expected", ROWS, ids=[f"{r[0]}-{i}" for i, r in enumerate(ROWS)])
def test_real_format(group: str, dataset: str, text: str, gold: str, expected: bool) -> None:
    with Grader(dataset) as grader:
        assert grader.submit(text, gold).result(timeout=60)[1] is expected
