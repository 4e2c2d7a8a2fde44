"""Grading a run: each sample's answer, grade and voting class, and the audit of the grades.

Grading fills each sample's ``pred`` and ``correct``, then its voting class (``answer_class``,
formed by the same comparison among its problem's answers), then audits the grades against
Math-Verify (`harness.grading.audit`, unless the run's ``runner.audit`` is false). Records are
read and written through the run's `harness.store.RunStore` only (the runner's own after its
last problem, or one opened on a finished run): an atomic rewrite of trajectories.jsonl, the
audit's grader_audit.jsonl, then ``grader`` and ``audit`` in run.json. A grading interrupted
between them leaves the old ``grader`` on new grades, which the next call refuses until
``--regrade`` finishes it. The rules come from the run's own config (its dataset's declared
answer rule, harness/data/; ``runner.extraction``, strict when absent), so a run made before
extraction modes existed is graded strict. The CLI is `harness.grading.__main__`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness import plugins
from harness.data import DATASETS, AnswerRule, load_gold
from harness.errors import UserError
from harness.grading.audit import audit_records
from harness.grading.equivalence import DEFAULT_TIMEOUT_S
from harness.grading.extraction import check_mode
from harness.grading.grader import Grader
from harness.grading.version import grader_info
from harness.store import AUDIT_FILE, RunStore, TrajectoryRecord

# What a run.json without a ``grader`` entry was graded by: the grader before versions existed.
UNVERSIONED = {"version": 1}


class GradeError(UserError):
    pass


def _describe(info: dict[str, Any]) -> str:
    return f"version {info.get('version')}" + (f" ({info['extraction']})" if "extraction" in info else "")


def _rules_of(config: dict[str, Any]) -> tuple[AnswerRule, str]:
    """(answer rule, extraction mode) a run's config asks for; GradeError for ones unknown here."""
    plugins.load_for(config)  # a plugin's dataset, named in the run's config
    extraction = (config.get("runner") or {}).get("extraction", "strict")
    try:
        rule = DATASETS.get(str((config.get("data") or {}).get("name"))).answer
        check_mode(extraction)
    except (UserError, ValueError) as err:  # the run's config is input here: one line, not a traceback
        raise GradeError(f"{err}; fix the run's run.json, or load the plugin that registers its dataset") from None
    return rule, extraction


def _classes(records: list[TrajectoryRecord], grader: Grader) -> dict[tuple[str, int], int | None]:
    """Each sample's voting class among its problem's samples, in order of finish."""
    by_problem: dict[str, list[TrajectoryRecord]] = {}
    for r in sorted(records, key=lambda r: (r.t_end_s, r.sample_idx)):
        by_problem.setdefault(r.problem_id, []).append(r)
    groups = list(by_problem.values())
    classes = grader.classes([[r.pred for r in group] for group in groups])
    return {(r.problem_id, r.sample_idx): c for group, ids in zip(groups, classes) for r, c in zip(group, ids)}


def grade_store(store: RunStore, *, regrade: bool, workers: int = 1, timeout_s: float = DEFAULT_TIMEOUT_S,
                data_dir: str | Path | None = None) -> dict[str, Any]:
    """Grade the samples of the run ``store`` writes with today's rules (all of them if ``regrade``,
    else the ungraded), form their voting classes and audit the grades, writing through ``store``."""
    start = time.monotonic()
    meta = store.meta
    config = meta.get("config", {})
    rule, extraction = _rules_of(config)
    info = grader_info(extraction)
    data_cfg = dict(config.get("data", {}))
    if data_dir is not None:
        data_cfg["dir"] = str(data_dir)
    golds = load_gold(data_cfg)
    records = store.trajectories()
    todo = [r for r in records if (regrade or r.correct is None) and r.problem_id in golds]
    with Grader(rule, timeout_s=timeout_s, workers=workers, extraction=extraction) as grader:
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
        store.update_trajectories(fill)
    audit = meta.get("audit")
    if not (config.get("runner") or {}).get("audit", True):
        audit = None
        store.write_grader_audit(None)
    elif todo or reclassed or not audit or meta.get("grader") != info or not (store.dir / AUDIT_FILE).exists():
        audit, rows = audit_records(records, golds, workers, timeout_s)
        store.write_grader_audit(rows)
    store.update_meta(grader=info, audit=audit)
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
    Idempotent and interruptible. Do not run it on a run that is still generating. New grades
    drop run.json's ``summary`` (harness.store); ``harness.analysis.summary.refresh_summary``
    computes it again, as ``python -m harness.grading`` does.
    """
    store = RunStore(run_dir)
    recorded = store.meta.get("grader") or UNVERSIONED
    today = grader_info(_rules_of(store.meta.get("config", {}))[1])
    if not regrade and recorded != today and any(r.correct is not None for r in store.trajectories()):
        raise GradeError(f"{run_dir} was graded by grader {_describe(recorded)}, today's is {_describe(today)}: "
                         f"regrade it whole with `python -m harness.grading {run_dir} --regrade`")
    return grade_store(store, regrade=regrade, workers=workers, timeout_s=timeout_s, data_dir=data_dir)
