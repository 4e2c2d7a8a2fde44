"""Tests of harness.grading.run: grading a run directory, and the CLI as a command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.grading import grade_run
from harness.store import read_trajectories

ROOT = Path(__file__).resolve().parents[2]
GOLD = {"p0": r"\frac{1}{2}", "p1": "(1,2]"}
# (problem, text, stored (pred, correct), grade after grading)
SAMPLES = [
    ("p0", r"so $\boxed{0.5}$", (None, None), ("0.5", True)),
    ("p0", r"so $\boxed{0.6}$", (None, None), ("0.6", False)),
    ("p1", r"$\boxed{(1, 2]}$", (None, None), ("(1, 2]", True)),
    ("p1", r"$\boxed{(1, 2)}$", (None, True), (None, True)),  # graded before: kept as it is, even if wrong
    ("gone", r"\boxed{1}", (None, None), (None, None)),  # its problem is not in the data any more
]


def _write_run(run_dir: Path, tail: str = "") -> None:
    data_dir = run_dir.parent / "data"
    (data_dir / "math500").mkdir(parents=True, exist_ok=True)
    rows = [{"problem": f"problem {pid}", "answer": gold, "unique_id": pid} for pid, gold in GOLD.items()]
    (data_dir / "math500" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {"data": {"name": "math500", "dir": str(data_dir), "file": "test.jsonl", "grader": "math",
                       "question_field": "problem", "answer_field": "answer", "id_field": "unique_id",
                       "answer_format": "plain", "limit": None, "shard": None}}
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"config": config, "status": "done"}))
    lines = [json.dumps({"problem_id": pid, "sample_idx": i, "text": text, "n_tokens": 5, "finish_reason": "stop",
                         "t_end_s": 0.1, "pred": stored[0], "correct": stored[1], "reward": None, "reward_s": None})
             for i, (pid, text, stored, _) in enumerate(SAMPLES)]
    (run_dir / "trajectories.jsonl").write_text("\n".join(lines) + "\n" + tail)


def _grades(run_dir: Path) -> list[tuple[str | None, bool | None]]:
    return [(r.pred, r.correct) for r in read_trajectories(run_dir)]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "harness.grading", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_grade_run_fills_and_is_idempotent(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_run(run, tail='{"problem_id": "p1", "sample_idx": 9, "te')  # a torn last line
    summary = grade_run(run)
    assert _grades(run) == [s[3] for s in SAMPLES]
    assert summary["graded"] == 3 and summary["already_graded"] == 1 and summary["no_gold"] == 1
    assert summary["correct_total"] == 3
    before = (run / "trajectories.jsonl").read_bytes()
    assert grade_run(run)["graded"] == 0 and (run / "trajectories.jsonl").read_bytes() == before
    assert not list(run.glob("*.tmp"))


def test_cli_grades_a_run_and_overrides_its_data_dir(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write_run(run)
    (tmp_path / "data").rename(tmp_path / "moved")
    proc = _cli(str(run), "--data-dir", str(tmp_path / "moved"), "--timeout", "3")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["graded"] == 3 and _grades(run) == [s[3] for s in SAMPLES]


def test_cli_on_a_directory_without_a_run_is_a_one_line_error(tmp_path: Path) -> None:
    proc = _cli(str(tmp_path / "run"))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "is not a run directory" in proc.stderr
    assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize("option", ["--workers", "--timeout", "--data-dir"])
def test_cli_help_names_every_option(option: str) -> None:
    proc = _cli("--help")
    assert proc.returncode == 0 and option in proc.stdout
