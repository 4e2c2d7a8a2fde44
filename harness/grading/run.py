"""Grading a run directory, and its CLI: ``python -m harness.grading RUN``.

Records are read and written through `harness.store` only (an atomic rewrite of
trajectories.jsonl), so an interrupted grading leaves the run as it was.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from harness.grading.equivalence import DEFAULT_TIMEOUT_S
from harness.grading.extraction import check_dataset
from harness.grading.grader import Grader
from harness.store import TrajectoryRecord, read_run_json, read_trajectories, rewrite_trajectories


def _dataset_of(config: dict[str, Any]) -> str:
    data = config.get("data", {})
    dataset = data.get("grader") or ("gsm8k" if data.get("name") == "gsm8k" else "math")
    check_dataset(dataset)
    return dataset


def grade_run(run_dir: str | Path, workers: int = 1, timeout_s: float = DEFAULT_TIMEOUT_S,
              data_dir: str | Path | None = None) -> dict[str, Any]:
    """Fill `pred` and `correct` of every sample whose `correct` is null; return counts.

    Idempotent and interruptible. Do not run it on a run that is still generating.
    """
    start = time.monotonic()
    config = read_run_json(run_dir).get("config", {})
    data_cfg = dict(config.get("data", {}))
    if data_dir is not None:
        data_cfg["dir"] = str(data_dir)
    golds = importlib.import_module("harness.data").load_gold(data_cfg)
    records = read_trajectories(run_dir)
    todo = [r for r in records if r.correct is None and r.problem_id in golds]
    with Grader(_dataset_of(config), timeout_s=timeout_s, workers=workers) as grader:
        futures = [grader.submit(r.text, golds[r.problem_id]) for r in todo]
        grades = {(r.problem_id, r.sample_idx): f.result() for r, f in zip(todo, futures)}

    def fill(current: list[TrajectoryRecord]) -> list[TrajectoryRecord]:
        for record in current:
            grade = grades.get((record.problem_id, record.sample_idx))
            if grade is not None:
                record.pred, record.correct = grade
        return current

    if todo:
        rewrite_trajectories(run_dir, fill)
    return {
        "records": len(records), "graded": len(todo),
        "already_graded": sum(r.correct is not None for r in records),
        "no_gold": sum(r.problem_id not in golds for r in records),
        **{k: v for k, v in grader.stats.items() if k in ("no_answer", "timeouts", "crashes", "parse_failures")},
        "correct_total": sum(bool(grades.get((r.problem_id, r.sample_idx), (None, r.correct))[1]) for r in records),
        "seconds": round(time.monotonic() - start, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.grading",
        description="Grade a run: fill `pred` and `correct` in results/<run>/trajectories.jsonl for every "
        "sample not graded yet (safe to interrupt and rerun). Prints a JSON summary.",
    )
    parser.add_argument("run_dir", type=Path, help="run directory holding run.json and trajectories.jsonl")
    parser.add_argument("--workers", type=int, default=1, help="grading worker processes (default 1)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds allowed to parse one answer with sympy (default 5)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="benchmark data directory, overriding the one in the run's config")
    args = parser.parse_args(argv)
    try:
        summary = grade_run(args.run_dir, workers=args.workers, timeout_s=args.timeout, data_dir=args.data_dir)
    except (ValueError, OSError) as err:  # StoreError, DataError, an unknown data.grader
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0
