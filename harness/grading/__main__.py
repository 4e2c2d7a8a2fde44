"""``python -m harness.grading RUN [--regrade]``: grade a run directory (harness.grading.run), then
compute its summary again (harness.analysis.summary)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.analysis.summary import refresh_summary
from harness.errors import USAGE_EXIT, UserError
from harness.grading.equivalence import DEFAULT_TIMEOUT_S
from harness.grading.run import grade_run
from harness.grading.version import GRADER_VERSION
from harness.ops.runlock import check_not_running
from harness.store import RunStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.grading",
        description="Grade a run: fill `pred` and `correct` in results/<run>/trajectories.jsonl for every "
        "sample not graded yet, or with --regrade for every sample, by today's rules (the answer rule of the "
        f"run's dataset and runner.extraction; grader version {GRADER_VERSION}), form each problem's voting classes "
        "(`answer_class`), audit the grades against Math-Verify (run.json `audit`, the disagreements in "
        "grader_audit.jsonl; off where the run's runner.audit is false), and record the grader in run.json. "
        "Safe to interrupt and rerun. Prints a JSON summary.",
    )
    parser.add_argument("run_dir", type=Path, help="run directory holding run.json and trajectories.jsonl")
    parser.add_argument("--regrade", action="store_true",
                        help="grade every sample again with today's rules (needed for runs graded by another version)")
    parser.add_argument("--workers", type=int, default=1, help="grading worker processes (default 1)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds allowed to parse one answer with sympy (default 5)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="benchmark data directory, overriding the one in the run's config")
    args = parser.parse_args(argv)
    try:
        check_not_running(args.run_dir)  # its writer appends to trajectories.jsonl, which grading rewrites
        summary = grade_run(args.run_dir, workers=args.workers, timeout_s=args.timeout, data_dir=args.data_dir,
                            regrade=args.regrade)
        refresh_summary(RunStore(args.run_dir))  # run.json's summary of today's grades
    except UserError as err:  # RunLocked, StoreError, DataError, GradeError...; anything else keeps its traceback
        print(f"error: {err}", file=sys.stderr)
        return USAGE_EXIT
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
