"""The reporter on small hand-made run directories (two models, 3 problems)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from report_helpers import make_run, sample

from harness import report
from harness.analysis import selection as sel
from harness.analysis import subsets
from harness.report.runs import merge_audits


def key(pred: str | None) -> str | None:
    return pred.strip() or None if pred else None


PROBLEMS = ["gsm8k/test/0", "gsm8k/test/1", "gsm8k/test/2"]
GOLD = {"gsm8k/test/0": "18", "gsm8k/test/1": "3", "gsm8k/test/2": "70000"}


def config(model: str, backend: str, shard: str | None = None, **data: object) -> dict:
    return {"model": {"name": model, "backend": backend}, "budget": "20s",
            "data": {"name": "gsm8k", "shard": shard, **data},
            "selection": {"methods": ["coverage", "majority"], "reward": {"time_on_axis": True}}}


def write_run(root: Path, name: str, cfg: dict, samples: list[tuple], problems: list[str] | None = None,
              torn: bool = False, concurrency: int = 4) -> Path:
    """samples: (problem_id, t_end_s, pred, reward)."""
    d = root / name
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"config": cfg, "status": "done", "hardware": {"cpu": "x"}}))
    problems = PROBLEMS if problems is None else problems
    lines = []
    for pid in problems:
        mine = [s for s in samples if s[0] == pid]
        lines.append({"problem_id": pid, "budget_s": 20.0, "n_samples": len(mine), "n_aborted": 2,
                      "concurrency": concurrency, "gen_tokens": 100 * len(mine) + 50, "wall_s": 20.0})
    (d / "problems.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    traj = []
    for i, (pid, t, pred, r) in enumerate(samples):
        traj.append({"problem_id": pid, "sample_idx": i, "text": f"... {pred}", "n_tokens": 100,
                     "finish_reason": "stop", "t_end_s": t, "pred": pred, "correct": pred == GOLD.get(pid),
                     "reward": r, "reward_s": None if r is None else 0.2})
    text = "".join(json.dumps(x) + "\n" for x in traj)
    (d / "trajectories.jsonl").write_text(text + ('{"problem_id": "gsm' if torn else ""))
    return d


SAMPLES_A = [  # with rewards
    ("gsm8k/test/0", 0.8, "18", 0.9), ("gsm8k/test/0", 2.5, "17", 0.4), ("gsm8k/test/0", 9.0, "17", 0.3),
    ("gsm8k/test/1", 1.5, "4", 0.7), ("gsm8k/test/1", 3.0, "3", 0.8), ("gsm8k/test/1", 12.0, None, 0.1),
    ("gsm8k/test/2", 4.0, "70000", 0.2), ("gsm8k/test/2", 5.0, "7000", 0.6), ("gsm8k/test/2", 25.0, "70000", 0.9),
]
SAMPLES_B = [  # no rewards; problem 2 gets no sample at all
    ("gsm8k/test/0", 5.0, "18", None), ("gsm8k/test/0", 6.0, "18", None),
    ("gsm8k/test/1", 15.0, "3", None), ("gsm8k/test/1", 16.0, "5", None), ("gsm8k/test/1", 17.0, "5", None),
    ("gsm8k/test/7", 1.0, "1", None),  # an unfinished problem: ignored
]


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    write_run(root, "a", config("llama_1b", "hf"), SAMPLES_A, torn=True)
    write_run(root, "b", config("llamba_1b", "llamba"), SAMPLES_B)
    return root


def test_report_writes_all_files_with_the_metric_values(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "plots"
    files = report.write_report([runs], out, key=key)
    for stem in ("gsm8k_vs_time", "gsm8k_vs_samples", "throughput"):
        for ext in ("png", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000
    assert set(files) == set(out.iterdir())

    table = pd.read_csv(out / "summary.csv")
    assert sorted(table["t_s"].unique()) == [1.0, 10.0, 20.0]
    a = table[table.model == "llama_1b"]
    b = table[table.model == "llamba_1b"]
    assert set(a.method) == set(sel.METHODS) and set(b.method) == {"coverage", "majority"}
    ids = PROBLEMS
    for name, samples, rows in (("a", SAMPLES_A, a), ("b", SAMPLES_B, b)):
        df = pd.DataFrame([{"problem_id": p, "sample_idx": i, "t_end_s": t, "pred": pr, "correct": pr == GOLD.get(p),
                            "reward": r, "reward_s": None if r is None else 0.2}
                           for i, (p, t, pr, r) in enumerate(samples) if p in ids])
        for m in set(rows.method):
            st = sel.steps(df, m, budget_s=20.0, problem_ids=ids, key=key)
            mean, lo, hi = sel.mean_ci(sel.at_times(st, [1.0, 10.0, 20.0]), report.N_BOOT, report.SEED)
            got = rows[rows.method == m].sort_values("t_s")
            np.testing.assert_allclose(got.accuracy, mean, err_msg=f"{name} {m}")
            np.testing.assert_allclose(got.ci_low, lo)
            np.testing.assert_allclose(got.ci_high, hi)
    # Known values at 10 s, run a: every problem has a correct sample; majority: p0 17,17 beat 18
    # (wrong), p1 4 vs 3 tie -> the earlier 4 (wrong), p2 70000 vs 7000 tie -> the earlier 70000.
    at10 = a[a.t_s == 10.0].set_index("method").accuracy
    assert at10["coverage"] == 1.0
    assert at10["majority"] == pytest.approx(1 / 3)
    # best_of_n at 10 s: p0 18 (0.9) right, p1 3 (0.8) right, p2 7000 (0.6) wrong; 25 s sample is past budget.
    assert at10["best_of_n"] == pytest.approx(2 / 3)
    assert b[(b.t_s == 20.0) & (b.method == "coverage")].accuracy.item() == pytest.approx(2 / 3)
    assert b[(b.t_s == 20.0) & (b.method == "majority")].accuracy.item() == pytest.approx(1 / 3)

    md = (out / "summary.md").read_text()
    assert "## GSM8K" in md and "llama_1b (hf)" in md and "llamba_1b (llamba)" in md
    assert "| 100.0 [100.0, 100.0] |" in md


def frame(samples: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([{"problem_id": p, "sample_idx": i, "t_end_s": t, "pred": pr, "correct": pr == GOLD.get(p),
                          "reward": r, "reward_s": None if r is None else 0.2}
                         for i, (p, t, pr, r) in enumerate(samples) if p in PROBLEMS])


def test_each_figure_plots_the_metric_functions_values(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "plots"
    report.write_report([runs], out, key=key)
    curves = {"time": pd.read_csv(out / "gsm8k_vs_time.csv"), "k": pd.read_csv(out / "gsm8k_vs_samples.csv")}
    for axis, data in curves.items():
        assert set(data.method) == set(sel.METHODS) and set(data.run) == {"a", "b"}
        for (method, run), got in data.groupby(["method", "run"]):
            df = frame(SAMPLES_A if run == "a" else SAMPLES_B)
            st = sel.steps(df, method, budget_s=20.0, problem_ids=PROBLEMS, key=key)
            xs = got.x.to_numpy()
            if axis == "time":
                assert (xs[0], xs[-1]) == (0.0, 20.0) and (np.diff(xs) > 0).all()  # from 0 to the budget
                per_problem = sel.at_times(st, xs)
            else:
                assert list(xs) == list(range(1, int(st.count.max()) + 1))
                arrivals = sel.arrivals(df, method, budget_s=20.0, problem_ids=PROBLEMS, key=key)
                per_problem = subsets.at_k(arrivals, method, xs.astype(int), seed=report.SEED)[0]
            mean, lo, hi = sel.mean_ci(per_problem, report.N_BOOT, report.SEED)
            np.testing.assert_allclose(got[["accuracy", "ci_low", "ci_high"]].to_numpy().T, [mean, lo, hi],
                                       err_msg=f"{axis} {method} {run}")
    assert set(curves["time"][curves["time"].run == "b"].method) == {"coverage", "majority"}
    speed = pd.read_csv(out / "throughput.csv").set_index("run")
    # run b: 2 + 3 samples over 3 problems x 20 s; 100 tokens per sample + 50 per problem.
    assert speed.loc["b", "samples_per_s"] == pytest.approx(5 / 60)
    assert speed.loc["b", "tokens_per_s"] == pytest.approx(650 / 60)


def test_no_results_is_one_line_and_non_zero(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.report", str(tmp_path / "nothing"), "--out",
                           str(tmp_path / "p")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    err = proc.stderr.strip()
    assert err.startswith("report: no results") and "\n" not in err


def test_shards_merge_and_refusals(tmp_path: Path) -> None:
    root = tmp_path / "results"
    s0 = [s for s in SAMPLES_A if s[0] != "gsm8k/test/1"]
    s1 = [s for s in SAMPLES_A if s[0] == "gsm8k/test/1"]
    write_run(root, "s0", config("llama_1b", "hf", "0/2"), s0, problems=["gsm8k/test/0", "gsm8k/test/2"])
    write_run(root, "s1", config("llama_1b", "hf", "1/2"), s1, problems=["gsm8k/test/1"])
    merged = report.merge_shards(report.read_runs(report.find_run_dirs([root])))
    assert len(merged) == 1 and len(merged[0].problems) == 3 and len(merged[0].samples) == len(SAMPLES_A)

    write_run(root, "s1_again", config("llama_1b", "hf", "1/2"), s1, problems=["gsm8k/test/1"])
    with pytest.raises(report.ReportError, match="a shard twice"):
        report.merge_shards(report.read_runs(report.find_run_dirs([root])))

    other = tmp_path / "other"
    write_run(other, "s0", config("llama_1b", "hf", "0/2"), s0, problems=["gsm8k/test/0", "gsm8k/test/2"])
    with pytest.raises(report.ReportError, match="missing shard.*1"):
        report.merge_shards(report.read_runs(report.find_run_dirs([other])))
    assert len(report.merge_shards(report.read_runs(report.find_run_dirs([other])), partial=True)) == 1

    write_run(other, "s1", config("llama_1b", "hf", "1/2", limit=10), s1, problems=["gsm8k/test/1"])
    with pytest.raises(report.ReportError, match="different configs.*data.limit"):
        report.merge_shards(report.read_runs(report.find_run_dirs([other])))


def test_summary_md_carries_each_runs_grader_audit(tmp_path: Path) -> None:
    audit = {"by": "math-verify 0.9.0", "samples": 200, "agreement": 0.99, "disagreements": 2,
             "only_ours_correct": 0, "only_math_verify_correct": 2}
    make_run(tmp_path, "audited", "m1", "hf", [sample("p", 1.0, True)], ["p"], audit=audit)
    make_run(tmp_path, "off", "m2", "hf", [sample("p", 1.0, True)], ["p"], audit=None)
    make_run(tmp_path, "old", "m3", "hf", [sample("p", 1.0, True)], ["p"])
    report.write_report([tmp_path], tmp_path / "plots", key=key)
    md = (tmp_path / "plots" / "summary.md").read_text()
    assert ("- m1 (hf) (" in md and "99.0% of 200 samples graded alike by math-verify 0.9.0; 2 disagree "
            "(0 correct only by this grader, 2 only by Math-Verify)" in md)
    assert "not audited (runner.audit=false)" in md and "not audited (graded before grader version 3)" in md
    # Shards' audits add up.
    halves = [dict(audit, samples=100, disagreements=d, only_math_verify_correct=d) for d in (0, 2)]
    assert merge_audits(halves)["agreement"] == 0.99 and merge_audits([audit, None]) is None


def test_shards_merge_across_unmeasured_keys_but_not_across_concurrencies(tmp_path: Path) -> None:
    s0 = [s for s in SAMPLES_A if s[0] != "gsm8k/test/1"]
    s1 = [s for s in SAMPLES_A if s[0] == "gsm8k/test/1"]
    quiet = {**config("llama_1b", "hf", "1/2"), "runner": {"progress": False, "grade_workers": 2, "audit": False}}
    write_run(tmp_path / "a", "s0", config("llama_1b", "hf", "0/2"), s0, problems=["gsm8k/test/0", "gsm8k/test/2"])
    write_run(tmp_path / "a", "s1", quiet, s1, problems=["gsm8k/test/1"])
    assert len(report.merge_shards(report.read_runs(report.find_run_dirs([tmp_path / "a"])))) == 1

    write_run(tmp_path / "b", "s0", config("llama_1b", "hf", "0/2"), s0, problems=["gsm8k/test/0", "gsm8k/test/2"])
    write_run(tmp_path / "b", "s1", config("llama_1b", "hf", "1/2"), s1, problems=["gsm8k/test/1"], concurrency=8)
    runs = report.read_runs(report.find_run_dirs([tmp_path / "b"]))
    with pytest.raises(report.ReportError, match=r"^shards measured at different concurrencies: \S*s0 \(\[4\]\) "
                                                 r"and \S*s1 \(\[8\]\); rerun them with one runner.concurrency"):
        report.merge_shards(runs)
    assert len(report.merge_shards(runs, partial=True)) == 2
