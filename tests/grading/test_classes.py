"""Voting classes are the grader's equivalence classes: "same class" <=> "graded equal", both ways.

Each row is (a, b, graded equal); the pair is classed as one problem's two answers, in both
orders, and graded in both directions. Under grader version 2 the keys and the comparison were
two rule sets, and rows such as `3, 5` / `(3, 5)` and `x = 3` / `y = 3` split them (issue 18).
"""

from __future__ import annotations

import pytest

from harness.grading import answer_classes, is_equivalent

PAIRS: dict[str, list[tuple[str, str, bool]]] = {
    "tuples_and_lists": [
        ("3, 5", "(3, 5)", True),
        ("(1,2)", "1, 2", True),
        ("5, 3", "(3, 5)", False),
        ("(1, 2)", "(2, 1)", False),
        ("1, 2", "2, 1", True),
        (r"\left( 3, \frac{\pi}{2} \right)", r"(3, \pi/2)", True),
        ("(1,2,3)", "(1,2)", False),
        (r"\langle 1, 2 \rangle", "(1, 2)", True),
    ],
    "equations_and_names": [
        ("x = 3", "y = 3", False),
        ("x = 3", "3", True),
        ("x = 3", "x = 3.0", True),
        ("y = 2x + 3", "2x - y + 3 = 0", True),
        ("y = 2x + 3", "y = 3x + 2", False),
        ("(p,q) = (3,2)", "(3, 2)", True),
        (r"\frac{NO}{BO}=\frac{1}{\sqrt6}", r"\frac{\sqrt6}{6}", True),
        ("|AB|=1", "1", True),
        ("|AB|=1", "2", False),
    ],
    "sets_in_any_order": [
        (r"\{1, 2, 3\}", r"\{3, 1, 2\}", True),
        (r"\{1, 2\}", r"\{1, 2, 3\}", False),
        (r"1 \pm \sqrt{2}", r"1 - \sqrt2, 1 + \sqrt2", True),
        ("-12;-11;-10", r"\{-10, -11, -12\}", True),
        ("(11,7)or(7,11)", r"(7,11),\ (11,7)", True),
        (r"6 \text{ and } 8", "8, 6", True),
        (r"\{1,2\}", "(1,2)", False),
    ],
    "units": [
        (r"15\mbox{ cm}^2", "15", True),
        (r"\$36", "36 dollars", True),
        (r"125\textnormal{ miles}", "125", True),
        (r"30^\circ", "30", True),
        (r"15\text{ cm}", "16", False),
    ],
    "percent": [
        (r"10\%", "10", True),
        (r"25\%", "25 percent", True),
        (r"10\%", "0.1", True),
        ("10%", r"\frac{1}{10}", True),
        (r"10\%", "0.2", False),
        (r"12.5\%", r"12.5\%", True),
    ],
    "intervals": [
        (r"(-\infty, 0]", r"x \le 0", True),
        ("x < 1", "-x > -1", True),
        ("(3,4]", "[3,4)", False),
        (r"x \neq 3", r"(-\infty,3)\cup(3,\infty)", True),
        (r"[2, \infty)", r"x \ge 2", True),
        (r"[2, \infty)", "x > 2", False),
    ],
    "matrices": [
        (r"\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}", r"\begin{bmatrix}1&2\\3&4\end{bmatrix}", True),
        (r"\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}", r"\left[\begin{array}{cc}1 & 2 \\ 3 & 4\end{array}\right]",
         True),
        (r"\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}", r"\begin{pmatrix}1 & 3 \\ 2 & 4\end{pmatrix}", False),
        (r"\begin{pmatrix} 1 \\ 2 \end{pmatrix}", "(1, 2)", True),
    ],
    "numbers": [
        ("025", "25", True),
        (r"\tfrac{1}{2}", "0.5", True),
        (r"10,\!080", "10080", True),
        (r"\frac13", "0.33", False),
    ],
}
ROWS = [(group, *row) for group, rows in PAIRS.items() for row in rows]


@pytest.mark.parametrize("group, a, b, equal", ROWS, ids=[f"{r[0]}-{i}" for i, r in enumerate(ROWS)])
def test_same_class_iff_graded_equal(group: str, a: str, b: str, equal: bool) -> None:
    assert is_equivalent(a, b) is equal and is_equivalent(b, a) is equal
    together = [0, 0] if equal else [0, 1]
    assert answer_classes([a, b]) == together and answer_classes([b, a]) == together


def test_the_table_is_big_enough() -> None:
    assert len(ROWS) >= 40


@pytest.mark.parametrize("group", PAIRS)
def test_a_groups_answers_together_form_exactly_the_graded_classes(group: str) -> None:
    """All answers of a group as one problem's samples: where the comparison is transitive on
    them, every pair is in one class exactly when it is graded equal."""
    answers = list(dict.fromkeys(x for a, b, _ in PAIRS[group] for x in (a, b)))
    classes = answer_classes(answers)
    equal = {(a, b): is_equivalent(a, b) for a in answers for b in answers}
    transitive = all(equal[a, c] for a in answers for b in answers for c in answers if equal[a, b] and equal[b, c])
    for i, a in enumerate(answers):
        for j, b in enumerate(answers):
            if transitive:
                assert (classes[i] == classes[j]) is equal[a, b], (a, b)
            elif classes[i] == classes[j]:  # not transitive: every member equals its representative
                assert equal[answers[classes.index(classes[i])], b], (a, b)


@pytest.mark.parametrize("answers, classes", [
    (["x = 3", "3", "y = 3"], [0, 0, 1]),  # y = 3 is not x = 3, the first class's representative
    (["3", "x = 3", "y = 3"], [0, 0, 0]),  # both are graded equal to 3
    (["(3, 5)", "3, 5", "5, 3", "(5, 3)"], [0, 0, 1, 1]),  # a bare list equals a tuple in order
    (["10", r"10\%", "0.1"], [0, 0, 1]),  # 10% reads as 10 and as 0.1, but 0.1 is not 10
    ([r"10\%", "10", "0.1"], [0, 0, 0]),  # both are graded equal to 10%
])
def test_where_the_comparison_is_not_transitive_the_first_arrival_decides(answers, classes) -> None:
    assert answer_classes(answers) == classes
