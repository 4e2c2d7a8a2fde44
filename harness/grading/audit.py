"""The grader audit: Math-Verify's own pipeline grades the same samples, off the clock.

After grading, every graded sample that has a gold answer goes to Math-Verify whole: its parser
extracts an answer from the sample text and from the gold answer, and its `verify` compares them
(`harness.grading.audit_worker`, in the killable pool, one task per sample under its own deadline).
run.json's ``audit`` gives the agreement rate; grader_audit.jsonl lists every disagreement
(problem, sample, both answers, both verdicts), so a reader can check both graders instead of
trusting either. A sample Math-Verify times out or crashes on counts as its "not correct", and
the reason is listed. ``runner.audit=false`` turns the audit off.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from harness.grading.equivalence import shared_pool
from harness.store import TrajectoryRecord

# Math-Verify bounds its own parse and verify at 5 s each; the pool's deadline is the backstop.
TIMEOUT_FACTOR = 4


def audit_records(records: Sequence[TrajectoryRecord], golds: dict[str, str], workers: int,
                  timeout_s: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(run.json's ``audit`` summary, the disagreement rows) for the graded records with a gold answer."""
    start = time.monotonic()
    todo = [r for r in records if r.correct is not None and r.problem_id in golds]
    pool = shared_pool(workers) if todo else None
    futures = [pool.submit(("audit", (golds[r.problem_id], r.text)), TIMEOUT_FACTOR * timeout_s) for r in todo]
    rows, failures = [], Counter()
    only_ours = 0
    for record, future in zip(todo, futures):
        status, value = future.result()
        verdict, answer = value if status == "ok" else (False, None)
        if status != "ok":
            failures[status] += 1
        if verdict is record.correct:
            continue
        only_ours += record.correct
        rows.append({"problem_id": record.problem_id, "sample_idx": record.sample_idx,
                     "gold": golds[record.problem_id], "pred": record.pred, "correct": record.correct,
                     "math_verify_pred": answer, "math_verify_correct": verdict,
                     **({"math_verify_status": status} if status != "ok" else {})})
    summary = {
        "by": f"math-verify {version('math-verify')}", "samples": len(todo),
        "agreement": round(1 - len(rows) / len(todo), 4) if todo else None, "disagreements": len(rows),
        "only_ours_correct": only_ours, "only_math_verify_correct": len(rows) - only_ours,
        "math_verify_failures": dict(failures), "seconds": round(time.monotonic() - start, 2),
    }
    return summary, rows

