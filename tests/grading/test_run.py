"""Tests of harness.grading.run: grading a run directory, the grader version, and the CLI as a command."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
import subprocess
import sys
from pathlib import Path

import pytest

from harness.grading import GRADER_VERSION, grade_run, grader_info
from harness.grading.run import GradeError
from harness.store import ProblemRecord, read_run_json, read_trajectories

ROOT = Path(__file__).resolve().parents[2]
GOLD = {"p0": r"\frac{1}{2}", "p1": "(1,2]", "p2": "18"}
# (problem, text, what version 1 stored (pred, correct), today's grade with strict extraction)
SAMPLES = [
    ("p0", r"so $\boxed{0.5}$", ("0.5", True), ("0.5", True)),
    ("p0", r"so $\boxed{0.6}$", ("0.6", False), ("0.6", False)),
    ("p1", r"$\boxed{(1, 2]}$", ("(1, 2]", True), ("(1, 2]", True)),
    ("p2", "We get 18 dollars and 7 cents in the 18 jars", ("18", True), (None, False)),  # a number in prose
    ("p2", "The answer is 7.5 hours, which is 18 minutes.", ("7.5 hours, which is 18 minutes", False), ("7.5", False)),
    ("gone", r"\boxed{1}", (None, None), (None, None)),  # its problem is not in the data any more
]


def _write_run(run_dir: Path, graded: bool, runner: dict | None = None, tail: str = "") -> None:
    """A run as an earlier version of the harness left it on disk (no ``grader`` in run.json)."""
    data_dir = run_dir.parent / "data"
    (data_dir / "math500").mkdir(parents=True, exist_ok=True)
    rows = [{"problem": f"problem {pid}", "answer": gold, "unique_id": pid} for pid, gold in GOLD.items()]
    (data_dir / "math500" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {"data": {"name": "math500", "dir": str(data_dir), "file": "test.jsonl", "grader": "math",
                       "question_field": "problem", "answer_field": "answer", "id_field": "unique_id",
                       "answer_format": "plain", "limit": None, "shard": None},
              "selection": {"methods": ["coverage", "majority"]}}
    if runner is not None:
        config["runner"] = runner
    run_dir.mkdir()
    # The summary the run closed with, from version 1's grades: every problem covered.
    (run_dir / "run.json").write_text(json.dumps({"config": config, "status": "done", "summary": {"coverage": 1.0}}))
    (run_dir / "problems.jsonl").write_text("".join(
        json.dumps(asdict(ProblemRecord(pid, 1.0, 2, 0, 2, 10, 1.0))) + "\n" for pid in GOLD))
    lines = []
    for i, (pid, text, old, _) in enumerate(SAMPLES):
        pred, correct = old if graded else (None, None)
        lines.append(json.dumps({"problem_id": pid, "sample_idx": i, "text": text, "n_tokens": 5,
                                 "finish_reason": "stop", "t_end_s": 0.1, "pred": pred, "correct": correct,
                                 "reward": None, "reward_s": None}))
    (run_dir / "trajectories.jsonl").write_text("\n".join(lines) + "\n" + tail)


def _grades(run_dir: Path) -> list[tuple[str | None, bool | None]]:
    return [(r.pred, r.correct) for r in read_trajectories(run_dir)]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "harness.grading", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_grade_run_fills_records_and_records_the_grader(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_run(run, graded=False, tail='{"problem_id": "p2", "sample_idx": 9, "te')  # a torn last line
    summary = grade_run(run)
    assert _grades(run) == [s[3] for s in SAMPLES]
    assert summary["graded"] == 5 and summary["no_gold"] == 1 and summary["correct_total"] == 2
    assert summary["with_answer"] == 4
    assert read_run_json(run)["grader"] == {"version": GRADER_VERSION, "extraction": "strict"} == grader_info()
    before = (run / "trajectories.jsonl").read_bytes()
    assert grade_run(run)["graded"] == 0 and (run / "trajectories.jsonl").read_bytes() == before
    assert not list(run.glob("*.tmp"))


def test_run_graded_before_versions_is_refused_then_regraded_by_the_cli(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_run(run, graded=True)
    with pytest.raises(GradeError, match="--regrade"):
        grade_run(run)
    refused = _cli(str(run))
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("error: ") and f"python -m harness.grading {run} --regrade" in refused.stderr
    assert _grades(run) == [s[2] for s in SAMPLES]  # untouched

    done = _cli(str(run), "--regrade")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["graded"] == 5 and summary["changed"] == 2 and summary["grader"]["version"] == GRADER_VERSION
    assert _grades(run) == [s[3] for s in SAMPLES]
    assert read_run_json(run)["grader"] == grader_info("strict")
    # run.json's summary is today's too: p2's "18" read out of prose no longer covers it.
    assert read_run_json(run)["summary"]["coverage"] == round(2 / 3, 4)
    assert _cli(str(run)).returncode == 0  # graded by today's rules: filling in is allowed again


def test_regrade_follows_the_runs_extraction_mode(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_run(run, graded=True, runner={"extraction": "flexible"})
    grade_run(run, regrade=True)
    assert _grades(run)[3] == ("18", True)  # flexible: the last number in the text
    assert read_run_json(run)["grader"] == {"version": GRADER_VERSION, "extraction": "flexible"}


@pytest.mark.parametrize("problem, message", [
    ("no_run", "is not a run directory"),
    ("bad_mode", "unknown extraction mode 'loose'"),
    ("unknown_dataset", "unknown dataset 'mmlu': choose one of aime24, aime25, amc23, arith, gsm8k, math, math500"),
])
def test_cli_bad_input_is_a_one_line_error(tmp_path: Path, problem: str, message: str) -> None:
    run = tmp_path / "run"
    if problem == "bad_mode":
        _write_run(run, graded=False, runner={"extraction": "loose"})
    if problem == "unknown_dataset":  # e.g. a plugin's, its module not named in the run's config
        _write_run(run, graded=False)
        meta = json.loads((run / "run.json").read_text())
        meta["config"]["data"]["name"] = "mmlu"
        (run / "run.json").write_text(json.dumps(meta))
    proc = _cli(str(run))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_cli_help_names_every_option() -> None:
    proc = _cli("--help")
    assert proc.returncode == 0
    for option in ("--regrade", "--workers", "--timeout", "--data-dir"):
        assert option in proc.stdout
