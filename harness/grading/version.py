"""Which rules made a grade: the grader's version, recorded in run.json under ``grader``."""

from __future__ import annotations

from typing import Any

from harness.grading.extraction import check_mode

# Bump whenever a rule changes what a sample grades to (extraction, normalisation, equivalence).
# 1: the grader before versions were recorded (a run.json without ``grader`` was graded by it);
# 2: explicit answers only by default (runner.extraction=strict), labelled answers, long decimals;
# 3: voting classes formed by the grading comparison itself (answer_class), the Math-Verify audit,
#    and the formats of issue 18 (an answer phrase before display maths, array matrices, ...);
# 4: a last line ending in a computation with a few words after it ("so Li has 11 - 9 = 2 apples
#    left."), a reply that is only a number, X% equal to X and X/100.
GRADER_VERSION = 4


def grader_info(extraction: str = "strict") -> dict[str, Any]:
    """The ``grader`` entry of run.json for grades made now: ``{"version": N, "extraction": mode}``."""
    return {"version": GRADER_VERSION, "extraction": check_mode(extraction)}
