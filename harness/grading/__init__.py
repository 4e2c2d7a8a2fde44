"""Answer grading: which samples are correct, and which samples vote together (docs/grading.md).

- `extract_answer(text, dataset)`: the final answer of a generated solution (or None).
- `is_equivalent(pred, gold)`: equivalence; `answer_key(answer)` / `answer_keys(answers)`: voting buckets.
- `Grader`: grades (text, gold) pairs without blocking; `BackgroundGrader`: the runner's use of it.
- `grade_run(run_dir)`: grade a run directory (`python -m harness.grading RUN`).

Modules: `extraction`, `normalization`, `canonical` (+ `compare`), `symbolic` (the sympy side,
in worker processes only), `pool` (the killable pool), `equivalence`, `grader`, `run` (grading a
run, and the CLI), `background`.
"""

from harness.grading.background import BackgroundGrader
from harness.grading.equivalence import answer_key, answer_keys, is_equivalent
from harness.grading.extraction import extract_answer
from harness.grading.grader import Grader
from harness.grading.run import grade_run

__all__ = ["BackgroundGrader", "Grader", "answer_key", "answer_keys", "extract_answer", "grade_run", "is_equivalent"]
