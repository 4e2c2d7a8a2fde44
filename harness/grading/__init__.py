"""Answer grading: which samples are correct, and which samples vote together (docs/grading.md).

- `extract_answer(text, dataset, mode)`: the answer a generated solution states (or None), by the
  answer rule the dataset declares (`harness.data`).
- `is_equivalent(pred, gold)`: equivalence; `answer_classes(answers)`: one problem's voting classes,
  formed by that same comparison.
- `Grader`: grades (text, gold) pairs without blocking.
- `grade_store(store)`: grade the run a `harness.store.RunStore` writes, form its classes and
  audit it against Math-Verify (the runner's, after its last problem); `grade_run(run_dir)`: the
  same on a finished run (`python -m harness.grading RUN [--regrade]`, `__main__`).
- `GRADER_VERSION`, `grader_info(extraction)`: which rules made a grade (run.json's ``grader``).

Modules: `extraction` (+ `boxes`), `normalization`, `canonical` (+ `compare`), `symbolic` (the
sympy side) and `audit_worker` (Math-Verify's side), run by `worker` in worker processes only,
`pool` (the killable pool), `equivalence`, `grader`, `audit`, `run` (grading a run), `version`.
"""

from harness.grading.equivalence import answer_classes, is_equivalent
from harness.grading.extraction import extract_answer
from harness.grading.grader import Grader
from harness.grading.run import grade_run, grade_store
from harness.grading.version import GRADER_VERSION, grader_info

__all__ = ["GRADER_VERSION", "Grader", "answer_classes", "extract_answer", "grade_run", "grade_store", "grader_info",
           "is_equivalent"]
