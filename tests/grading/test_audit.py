"""The grader audit (harness.grading.audit): Math-Verify grades a run's samples after grading, and
every disagreement is listed; on the runner's path, from the CLI, and from a plain script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from test_run import ROOT, _cli, _write_run

from harness.analysis.summary import refresh_summary
from harness.grading import grade_run
from harness.grading.audit import audit_records
from harness.store import AUDIT_FILE, RunStore, TrajectoryRecord, read_jsonl, read_run_json, read_trajectories

# Of the five samples with a gold answer, Math-Verify reads "18" out of the prose of one.
DISAGREEMENT = {"problem_id": "p2", "sample_idx": 3, "gold": "18", "pred": None, "correct": False,
                "math_verify_pred": "18", "math_verify_correct": True}
CLASSES = [0, 1, 0, None, 0, None]  # p0: 0.5 and 0.6; p1: one answer; p2: no answer, then 7.5; "gone": none


def test_grading_a_run_forms_its_classes_and_audits_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_run(run, graded=False)
    summary = grade_run(run)
    assert [r.answer_class for r in read_trajectories(run)] == CLASSES
    assert read_jsonl(run / AUDIT_FILE) == [DISAGREEMENT]
    audit = read_run_json(run)["audit"]
    assert summary["audit"] == audit and audit["by"].startswith("math-verify ")
    assert (audit["samples"], audit["disagreements"], audit["agreement"]) == (5, 1, 0.8)
    assert (audit["only_ours_correct"], audit["only_math_verify_correct"]) == (0, 1)
    # The summary of the old grades is gone; computed again (as the CLI does), it says it too.
    assert "summary" not in read_run_json(run)
    refresh_summary(RunStore(run))
    assert read_run_json(run)["summary"]["audit_agreement"] == 0.8


def test_audit_off_leaves_no_list_behind(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_run(run, graded=False)
    grade_run(run)
    config = json.loads((run / "run.json").read_text())
    config["config"]["runner"] = {"audit": False}
    (run / "run.json").write_text(json.dumps(config))
    grade_run(run, regrade=True)
    assert read_run_json(run)["audit"] is None and not (run / AUDIT_FILE).exists()
    assert [r.answer_class for r in read_trajectories(run)] == CLASSES  # classes are no part of the audit


def test_regrade_refreshes_grades_classes_and_the_audit(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_run(run, graded=True)  # version 1's grades, no classes, no audit
    done = _cli(str(run), "--regrade")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["audit"]["disagreements"] == 1
    assert [r.answer_class for r in read_trajectories(run)] == CLASSES
    assert read_jsonl(run / AUDIT_FILE) == [DISAGREEMENT]
    (run / AUDIT_FILE).write_text("")  # a list that no longer matches is rewritten by the next regrade
    assert _cli(str(run), "--regrade").returncode == 0
    assert read_jsonl(run / AUDIT_FILE) == [DISAGREEMENT]


def test_a_sample_math_verify_cannot_finish_is_listed_with_the_reason() -> None:
    """Math-Verify grinds on a power tower past the pool's deadline (4 x 0.25 s, before its own 5 s alarm)."""
    tower = TrajectoryRecord("p", 0, r"So $\boxed{9^{9^{9^{9^{9}}}}}$.", 5, "stop", 0.1, "9", True)
    summary, rows = audit_records([tower], {"p": "9"}, workers=1, timeout_s=0.25)
    assert summary["math_verify_failures"] == {"timeout": 1} and summary["only_ours_correct"] == 1
    assert rows == [{"problem_id": "p", "sample_idx": 0, "gold": "9", "pred": "9", "correct": True,
                     "math_verify_pred": None, "math_verify_correct": False, "math_verify_status": "timeout"}]


SCRIPT = """
import json, sys, time
from harness.analysis.summary import refresh_summary
from harness.grading import grade_run
summary = grade_run(sys.argv[1])
print(json.dumps({"audit": summary["audit"], "last_call": time.time()}), flush=True)
"""


def test_a_plain_script_grades_and_audits_and_exits_promptly(tmp_path: Path) -> None:
    """No main guard, as a user writes it: grading's process pool must neither re-run the script
    nor keep the interpreter alive."""
    run = tmp_path / "run"
    _write_run(run, graded=False)
    (tmp_path / "grade.py").write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "grade.py", str(run)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180)
    ended = time.time()
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (line,) = proc.stdout.splitlines()  # printed once: the script ran once
    report = json.loads(line)
    assert report["audit"]["disagreements"] == 1 and ended - report["last_call"] < 5.0
