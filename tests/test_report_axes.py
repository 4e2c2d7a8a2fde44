"""The reporter's cost axes, engine names and warnings, grader-version refusal and answer rates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from report_helpers import make_run, sample

from harness import report
from harness.analysis import cost
from harness.analysis import selection as sel


def key(pred: str | None) -> str | None:
    return pred or None


P3 = ["gsm8k/test/0", "gsm8k/test/1", "gsm8k/test/2"]
# (problem, t, correct, pred, tokens): arrival order differs from token order, answers vote.
SAMPLES = [
    sample(P3[0], 1.0, False, "7", 300), sample(P3[0], 2.0, True, "5", 20), sample(P3[0], 3.0, True, "5", 40),
    sample(P3[1], 0.5, True, "3", 10, "length"), sample(P3[1], 4.0, False, "2", 5), sample(P3[1], 4.5, False, "2", 5),
    sample(P3[2], 9.0, False, None, 100, "length"),
]
LLAMA = {"model_type": "llama", "vocab_size": 384, "hidden_size": 64, "intermediate_size": 128,
         "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
         "tie_word_embeddings": True}


def frame() -> pd.DataFrame:
    return pd.DataFrame([{**s, "sample_idx": i} for i, s in enumerate(SAMPLES)])


def report_of(root: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.report", str(root), "--out", str(out), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_tokens_curves_equal_the_metric_functions_on_the_samples_within_each_x(tmp_path: Path) -> None:
    root = tmp_path / "results"
    make_run(root, "a", "tiny_llama", "hf", SAMPLES, P3, budget_s=10, model_shape=cost.model_shape(LLAMA))
    out = tmp_path / "plots"
    report.write_report([root], out, key=key, xs=["time", "tokens", "flops"])
    curves = pd.read_csv(out / "gsm8k_vs_tokens.csv")
    df = frame()
    for method, got in curves.groupby("method"):
        xs = got["x"].to_numpy()
        # By hand: per problem, its samples in arrival order while their tokens so far stay <= x.
        per_problem = np.zeros((len(P3), len(xs)))
        for i, pid in enumerate(P3):
            mine = df[df.problem_id == pid].sort_values("t_end_s")
            spent = mine["n_tokens"].cumsum()
            for j, x in enumerate(xs):
                within = mine[spent <= x]
                if len(within):
                    per_problem[i, j] = sel.summarize(within, 10.0, [method], key=key)[method]
        mean, lo, hi = sel.mean_ci(per_problem, report.N_BOOT, report.SEED)
        np.testing.assert_allclose(got[["accuracy", "ci_low", "ci_high"]].to_numpy().T, [mean, lo, hi],
                                   err_msg=method)
        assert xs[-1] == 360  # the costliest problem's samples, all of them: p0's 300 + 20 + 40 tokens
    # Majority by tokens: p1's "3" is right from 10 tokens until its two "2"s (20); p0's wrong "7"
    # (300 tokens) leads until both "5"s have arrived (360).
    maj = curves[curves.method == "majority"].set_index("x")["accuracy"]
    assert set(maj[(maj.index >= 10) & (maj.index < 20)]) == {1 / 3}
    assert set(maj[(maj.index >= 20) & (maj.index < 360)]) == {0} and maj[360] == pytest.approx(1 / 3)
    # FLOPs: x is the cumulative analytic cost of the samples, in arrival order (prompt 50 tokens).
    flops = pd.read_csv(out / "gsm8k_vs_flops.csv")
    p0 = cost.sample_flops(cost.model_shape(LLAMA), np.full(3, 50), np.array([300, 20, 40])).sum()
    assert flops["x"].max() == pytest.approx(p0)


def test_old_runs_are_left_off_the_analytic_axes_in_one_line_each(tmp_path: Path) -> None:
    root = tmp_path / "results"
    make_run(root, "old", "tiny_llama", "hf", SAMPLES, P3, prompt_tokens=None)  # before prompt_tokens / model_shape
    make_run(root, "new", "tiny_hybrid", "mamba_in_llama", SAMPLES, P3, model_shape=cost.model_shape(LLAMA))
    proc = report_of(root, tmp_path / "p", "--x", "tokens", "bytes")
    assert proc.returncode == 0, proc.stderr
    assert "report: old left off the bytes figure: run.json has no model_shape" in proc.stderr
    assert set(pd.read_csv(tmp_path / "p" / "gsm8k_vs_bytes.csv").run) == {"new"}
    assert set(pd.read_csv(tmp_path / "p" / "gsm8k_vs_tokens.csv").run) == {"old", "new"}
    assert not (tmp_path / "p" / "gsm8k_vs_time.png").exists()  # --x chose tokens and bytes only
    assert (tmp_path / "p" / "gsm8k_vs_samples.png").exists()


def test_a_run_recorded_with_a_renamed_backend_reads_by_todays_name(tmp_path: Path) -> None:
    root = tmp_path / "results"
    make_run(root, "old", "mamba_hybrid", "mamba", SAMPLES, P3)  # before mamba was renamed mamba_in_llama
    make_run(root, "t", "llama_1b", "auto", SAMPLES, P3, backend_choice={"backend": "vllm", "reason": "GPU"})
    proc = report_of(root, tmp_path / "p")
    assert proc.returncode == 0 and "speed classes" not in proc.stderr  # both optimized engines
    labels = set(pd.read_csv(tmp_path / "p" / "gsm8k_vs_time.csv").label)
    assert labels == {"llama_1b (vllm)", "mamba_hybrid (mamba_in_llama)"}


def test_engines_are_named_and_mixed_speed_classes_warned_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "results"
    make_run(root, "t", "llama_1b", "auto", SAMPLES, P3, backend_choice={"backend": "hf", "reason": "no GPU"})
    make_run(root, "s", "llamba_1b", "llamba", SAMPLES, P3)
    proc = report_of(root, tmp_path / "p")
    assert proc.returncode == 0, proc.stderr
    warning = [line for line in proc.stderr.splitlines() if "speed classes" in line]
    assert warning == ["report: warning: GSM8K: models ran on engines of different speed classes (optimized: "
                       "llamba_1b (llamba); plain: llama_1b (hf)); wall-clock gaps then reflect the engine too: "
                       "rerun them all on one engine (model.backend=...) for a like-for-like check"]
    assert set(pd.read_csv(tmp_path / "p" / "gsm8k_vs_time.csv").label) == {"llama_1b (hf)", "llamba_1b (llamba)"}
    table = pd.read_csv(tmp_path / "p" / "summary.csv")
    assert set(zip(table.engine, table.engine_class)) == {("hf", "plain"), ("llamba", "optimized")}
    md = (tmp_path / "p" / "summary.md").read_text()
    assert "**Warning:** GSM8K: models ran on engines of different speed classes" in md

    same = tmp_path / "same"
    make_run(same, "t", "llama_1b", "auto", SAMPLES, P3, backend_choice={"backend": "vllm", "reason": "GPU"})
    make_run(same, "s", "llamba_1b", "llamba", SAMPLES, P3)
    proc = report_of(same, tmp_path / "q")
    assert proc.returncode == 0 and "speed classes" not in proc.stderr
    assert "llama_1b (vllm)" in (tmp_path / "q" / "summary.md").read_text()


@pytest.mark.parametrize("graders", [({"version": 2, "extraction": "strict"}, None),
                                     ({"version": 2, "extraction": "strict"}, {"version": 3, "extraction": "strict"})])
def test_runs_graded_by_different_grader_versions_are_refused_in_one_line(graders, tmp_path: Path) -> None:
    root = tmp_path / "results"
    old, new = graders
    make_run(root, "a", "llama_1b", "hf", SAMPLES, P3, grader=old)
    make_run(root, "b", "llamba_1b", "llamba", SAMPLES, P3, **({"grader": new} if new else {}))
    proc = report_of(root, tmp_path / "p")
    err = proc.stderr.strip()
    assert proc.returncode == 1 and "\n" not in err, err
    assert err.startswith("report: GSM8K: runs graded by different grader versions can't share a figure: ")
    assert f"{root / 'a'} (v2 strict)" in err
    assert f"{root / 'b'} ({'v3 strict' if new else report.runs.UNKNOWN_GRADER})" in err
    stale = root / ("a" if new else "b")  # the older version, or the unknown one
    assert err.endswith(f"regrade with today's rules: python -m harness.grading RUN --regrade, for RUN = {stale}")
    # Graded alike (both unknown, or both the same version): no refusal.
    same = tmp_path / "same"
    make_run(same, "a", "llama_1b", "hf", SAMPLES, P3, grader=old)
    make_run(same, "b", "llamba_1b", "llamba", SAMPLES, P3, grader=old)
    assert report_of(same, tmp_path / "q").returncode == 0


def test_summary_shows_answer_rates_and_tokens(tmp_path: Path) -> None:
    root = tmp_path / "results"
    ungraded = [{**s, "correct": None, "pred": None} for s in SAMPLES[:2]]
    make_run(root, "a", "llama_1b", "hf", SAMPLES, P3)
    make_run(root, "b", "llamba_1b", "llamba", ungraded + SAMPLES[2:], P3)
    out = tmp_path / "p"
    report.write_report([root], out, key=key)
    table = pd.read_csv(out / "summary.csv")
    a, b = table[table.run == "a"].iloc[0], table[table.run == "b"].iloc[0]
    assert a.answer_rate == pytest.approx(6 / 7) and a.truncated_rate == pytest.approx(2 / 7)
    assert b.answer_rate == pytest.approx(4 / 5)  # of the graded samples only
    at = table[(table.run == "a") & (table.method == "coverage")].set_index("t_s")["tokens_per_problem"]
    assert at[1.0] == pytest.approx((300 + 10) / 3) and at[10.0] == pytest.approx(480 / 3)
    md = (out / "summary.md").read_text()
    assert "| llama_1b (hf) | CPU | 3 | tokens | 103 | 160 |" in md
    assert "| GSM8K | llama_1b (hf) | plain | CPU | version unknown (graded before versions were recorded) | done | " \
           "10 s | 85.7 | 28.6 | 68.6 |" in md


@pytest.mark.parametrize("axis, data, labels", [
    # Time: linear from 0 to the budget in plain seconds (not "2×10^1" on a log axis starting at 10).
    ("time", [0.0, 3.0, 20.0], ["0", "5", "10", "15", "20"]),
    ("k", [1, 2, 16], ["1", "2", "4", "8", "16"]),
    ("tokens", [100, 2000, 30000], ["100", "1k", "10k"]),
])
def test_figure_x_axes_read_at_a_glance(axis: str, data: list[float], labels: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from harness.report.figures import style_x_axis

    fig, ax = plt.subplots()
    ax.plot(data, [0.5] * len(data))
    style_x_axis(ax, axis, max(data))
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    shown = [t.get_text() for t, v in zip(ax.get_xticklabels(), ax.get_xticks()) if lo <= v <= hi]
    plt.close(fig)
    assert shown == labels
    if axis == "time":
        assert (lo, hi) == (0.0, 20.0) and ax.get_xscale() == "linear"


def test_legend_labels_name_only_what_tells_runs_apart(tmp_path: Path) -> None:
    import json

    def runs(root: Path, *settings: tuple[str, float, str]) -> dict[str, str]:
        for name, budget, dtype in settings:
            run = make_run(root, name, "smollm2", "hf", SAMPLES, P3, budget_s=budget)
            meta = json.loads((run / "run.json").read_text())
            meta["config"]["model"]["dtype"] = dtype
            (run / "run.json").write_text(json.dumps(meta))
        return {r.name: r.label for r in report.load_runs([root])}

    # The budget tells the 10 s run apart; the two 20 s runs differ only in their dtype.
    assert runs(tmp_path / "a", ("f32", 20, "float32"), ("bf16", 20, "bfloat16"), ("short", 10, "bfloat16")) == {
        "short": "smollm2 (hf), 10s", "f32": "smollm2 (hf), 20s, model.dtype=float32",
        "bf16": "smollm2 (hf), 20s, model.dtype=bfloat16"}
    # One budget: it says nothing, so the labels leave it out (make demo's --reference is such a label).
    assert runs(tmp_path / "b", ("f32", 20, "float32"), ("bf16", 20, "bfloat16")) == {
        "f32": "smollm2 (hf), model.dtype=float32", "bf16": "smollm2 (hf), model.dtype=bfloat16"}
