"""Answer grading: which samples are correct, and which samples vote together (docs/grading.md).

- `extract_answer(text, dataset, mode)`: the answer a generated solution states (or None).
- `is_equivalent(pred, gold)`: equivalence; `answer_classes(answers)`: one problem's voting classes,
  formed by that same comparison.
- `Grader`: grades (text, gold) pairs without blocking; `BackgroundGrader`: the runner's use of it.
- `grade_run(run_dir)`: grade a run directory, form its classes and audit it against Math-Verify
  (`python -m harness.grading RUN [--regrade]`).
- `GRADER_VERSION`, `grader_info(extraction)`: which rules made a grade (run.json's ``grader``).

Modules: `extraction` (+ `boxes`), `normalization`, `canonical` (+ `compare`), `symbolic` (the
sympy side) and `audit_worker` (Math-Verify's side), run by `worker` in worker processes only,
`pool` (the killable pool), `equivalence`, `grader`, `audit`, `run` (grading a run, and the CLI),
`background`, `version`.
"""

from harness.grading.background import BackgroundGrader
from harness.grading.equivalence import answer_classes, is_equivalent
from harness.grading.extraction import extract_answer
from harness.grading.grader import Grader
from harness.grading.run import grade_run
from harness.grading.version import GRADER_VERSION, grader_info

__all__ = ["GRADER_VERSION", "BackgroundGrader", "Grader", "answer_classes", "extract_answer", "grade_run",
           "grader_info", "is_equivalent"]
