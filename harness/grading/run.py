"""Grading a run directory, and its CLI: ``python -m harness.grading RUN [--regrade]``.

Grading fills each sample's ``pred`` and ``correct``, then its voting class (``answer_class``,
formed by the same comparison among its problem's answers), then audits the grades against
Math-Verify (`harness.grading.audit`, unless the run's ``runner.audit`` is false). Records are
read and written through `harness.store` only: an atomic rewrite of trajectories.jsonl, the
audit's grader_audit.jsonl, then ``grader`` and ``audit`` in run.json. A grading interrupted
between them leaves the old ``grader`` on new grades, which the next call refuses until
``--regrade`` finishes it. The rules come from the run's own config (``data.grader``,
``runner.extraction``, strict when absent), so a run made before extraction modes existed is
graded strict.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from harness.errors import USAGE_EXIT, UserError
from harness.grading.audit import audit_records
from harness.grading.equivalence import DEFAULT_TIMEOUT_S
from harness.grading.extraction import check_dataset, check_mode
from harness.grading.grader import Grader
from harness.grading.version import GRADER_VERSION, grader_info
from harness.store import (AUDIT_FILE, TrajectoryRecord, read_run_json, read_trajectories, rewrite_trajectories,
                           update_run_json, write_grader_audit)
from harness.analysis.summary import refresh_summary

# What a run.json without a ``grader`` entry was graded by: the grader before versions existed.
UNVERSIONED = {"version": 1}


class GradeError(UserError):
    pass


def _describe(info: dict[str, Any]) -> str:
    return f"version {info.get('version')}" + (f" ({info['extraction']})" if "extraction" in info else "")


def _rules_of(config: dict[str, Any]) -> tuple[str, str]:
    """(dataset rules, extraction mode) a run's config asks for; GradeError for ones unknown here."""
    data = config.get("data", {})
    dataset = data.get("grader") or ("gsm8k" if data.get("name") == "gsm8k" else "math")
    extraction = (config.get("runner") or {}).get("extraction", "strict")
    try:
        check_dataset(dataset)
        check_mode(extraction)
    except ValueError as err:  # the run's config is input here: one line, not a traceback
        raise GradeError(f"{err}; fix the run's run.json") from None
    return dataset, extraction


def _classes(records: list[TrajectoryRecord], grader: Grader) -> dict[tuple[str, int], int | None]:
    """Each sample's voting class among its problem's samples, in order of finish."""
    by_problem: dict[str, list[TrajectoryRecord]] = {}
    for r in sorted(records, key=lambda r: (r.t_end_s, r.sample_idx)):
        by_problem.setdefault(r.problem_id, []).append(r)
    groups = list(by_problem.values())
    classes = grader.classes([[r.pred for r in group] for group in groups])
    return {(r.problem_id, r.sample_idx): c for group, ids in zip(groups, classes) for r, c in zip(group, ids)}


def grade_records(run_dir: str | Path, *, regrade: bool, workers: int = 1, timeout_s: float = DEFAULT_TIMEOUT_S,
                  data_dir: str | Path | None = None) -> dict[str, Any]:
    """Grade the samples of a run with today's rules (all of them if `regrade`, else the ungraded),
    form their voting classes and audit the grades."""
    start = time.monotonic()
    meta = read_run_json(run_dir)
    config = meta.get("config", {})
    dataset, extraction = _rules_of(config)
    info = grader_info(extraction)
    data_cfg = dict(config.get("data", {}))
    if data_dir is not None:
        data_cfg["dir"] = str(data_dir)
    golds = importlib.import_module("harness.data").load_gold(data_cfg)
    records = read_trajectories(run_dir)
    todo = [r for r in records if (regrade or r.correct is None) and r.problem_id in golds]
    with Grader(dataset, timeout_s=timeout_s, workers=workers, extraction=extraction) as grader:
        futures = [grader.submit(r.text, golds[r.problem_id]) for r in todo]
        grades = {(r.problem_id, r.sample_idx): f.result() for r, f in zip(todo, futures)}
        changed = sum((r.pred, r.correct) != grades[(r.problem_id, r.sample_idx)] for r in todo
                      if r.correct is not None)
        for r in todo:
            r.pred, r.correct = grades[(r.problem_id, r.sample_idx)]
        classes = _classes(records, grader)
        stats = dict(grader.stats)
    reclassed = any(r.answer_class != classes[(r.problem_id, r.sample_idx)] for r in records)

    def fill(current: list[TrajectoryRecord]) -> list[TrajectoryRecord]:
        for record in current:
            key = (record.problem_id, record.sample_idx)
            if key in grades:
                record.pred, record.correct = grades[key]
            record.answer_class = classes.get(key)
        return current

    if todo or reclassed:
        rewrite_trajectories(run_dir, fill)
    audit = meta.get("audit")
    if not (config.get("runner") or {}).get("audit", True):
        audit = None
        write_grader_audit(run_dir, None)
    elif todo or reclassed or not audit or meta.get("grader") != info or not (Path(run_dir) / AUDIT_FILE).exists():
        audit, rows = audit_records(records, golds, workers, timeout_s)
        write_grader_audit(run_dir, rows)
    update_run_json(run_dir, grader=info, audit=audit)
    return {
        "records": len(records), "graded": len(todo), "changed": changed,
        "already_graded": 0 if regrade else sum(r.correct is not None for r in records) - len(todo),
        "no_gold": sum(r.problem_id not in golds for r in records),
        "with_answer": sum(g[0] is not None for g in grades.values()), "correct": sum(g[1] for g in grades.values()),
        **{k: v for k, v in stats.items() if k in ("timeouts", "crashes", "parse_failures")},
        "correct_total": sum(bool(r.correct) for r in records),
        "grader": info, "audit": audit, "seconds": round(time.monotonic() - start, 2),
    }


def grade_run(run_dir: str | Path, workers: int = 1, timeout_s: float = DEFAULT_TIMEOUT_S,
              data_dir: str | Path | None = None, regrade: bool = False) -> dict[str, Any]:
    """Grade a finished run: fill `pred` and `correct` of its ungraded samples; return counts.

    With `regrade`, every sample is graded again with today's rules. Without it, a run graded by
    other rules (another GRADER_VERSION or extraction mode, or a run.json with no ``grader`` from
    before versions were recorded) is refused with GradeError: one run must not mix rules.
    Idempotent and interruptible. Do not run it on a run that is still generating.
    """
    meta = read_run_json(run_dir)
    recorded = meta.get("grader") or UNVERSIONED
    today = grader_info(_rules_of(meta.get("config", {}))[1])
    if not regrade and recorded != today and any(r.correct is not None for r in read_trajectories(run_dir)):
        raise GradeError(f"{run_dir} was graded by grader {_describe(recorded)}, today's is {_describe(today)}: "
                         f"regrade it whole with `python -m harness.grading {run_dir} --regrade`")
    counts = grade_records(run_dir, regrade=regrade, workers=workers, timeout_s=timeout_s, data_dir=data_dir)
    refresh_summary(run_dir)
    return counts


def main(argv: list[str] | None = None) -> int:
    from harness.ops.runlock import check_not_running

    parser = argparse.ArgumentParser(
        prog="python -m harness.grading",
        description="Grade a run: fill `pred` and `correct` in results/<run>/trajectories.jsonl for every "
        "sample not graded yet, or with --regrade for every sample, by today's rules (the run's data.grader "
        f"and runner.extraction; grader version {GRADER_VERSION}), form each problem's voting classes "
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
    except UserError as err:  # RunLocked, StoreError, DataError, GradeError...; anything else keeps its traceback
        print(f"error: {err}", file=sys.stderr)
        return USAGE_EXIT
    print(json.dumps(summary))
    return 0
