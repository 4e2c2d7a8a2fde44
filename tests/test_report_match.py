"""Time to match on hand-built runs: known values, a brute-force bootstrap, the reference rule."""

from __future__ import annotations

import math
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


P6 = [f"gsm8k/test/{i}" for i in range(6)]
REF = [  # coverage 4/6 on P6, reached at 8 s; majority 3/6 (p1's tie goes to the earlier wrong), at 8 s
    sample(P6[0], 1.0, True), sample(P6[1], 2.0, False), sample(P6[1], 6.0, True), sample(P6[2], 3.0, False),
    sample(P6[3], 4.0, True), sample(P6[4], 8.0, True), sample("gsm8k/test/6", 0.1, True),  # p6: not in the others
]
FAST = [  # coverage 4/6 at 3 s; majority 3/6 at 2 s (p3's two wrong answers outvote its right one)
    sample(P6[0], 0.5, True), sample(P6[1], 1.0, True), sample(P6[2], 2.0, True), sample(P6[3], 0.2, False),
    sample(P6[3], 0.3, False), sample(P6[3], 3.0, True), sample(P6[5], 9.0, True),
]
SLOW = [sample(P6[0], 4.0, True), sample(P6[1], 19.0, False)]  # never reaches 4/6 or 3/6
WRONG = [sample(P6[0], 1.0, False), sample(P6[3], 2.0, False)]  # never right: its curves never move


@pytest.fixture
def study(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    make_run(root, "ref", "llama_1b", "hf", REF, [*P6, "gsm8k/test/6"], budget_s=10)
    make_run(root, "ref_short", "llama_1b", "hf", REF[:1], P6, budget_s=5)  # shorter run of the reference model
    make_run(root, "fast", "llamba_1b", "llamba", FAST, P6, budget_s=10)
    make_run(root, "slow", "mamba_hybrid", "mamba_in_llama", SLOW, P6, budget_s=20)  # larger budget, no Transformer
    make_run(root, "wrong", "llamba_3b", "llamba", WRONG, P6, budget_s=10)
    return root


def frame_of(samples: list[dict]) -> pd.DataFrame:
    rows, seen = [], {}
    for s in samples:
        rows.append({**s, "sample_idx": seen.setdefault(s["problem_id"], 0), "reward": None, "reward_s": None})
        seen[s["problem_id"]] += 1
    return pd.DataFrame(rows)


def brute_force(ref: list[dict], ref_ids: list[str], ref_budget: float, run: list[dict], run_ids: list[str],
                budget: float, method: str) -> dict[str, np.ndarray]:
    """The estimator of docs/metrics.md, by enumeration: every replicate, every arrival time."""
    common = [p for p in ref_ids if p in run_ids]
    c = len(common)
    weights = np.vstack([np.ones(c, np.int64),
                         np.random.default_rng(report.SEED).multinomial(c, np.full(c, 1 / c), size=report.N_BOOT)])
    final = sel.at_times(sel.steps(frame_of(ref), method, budget_s=ref_budget, problem_ids=common, key=key),
                         [ref_budget])[:, 0]
    targets = weights @ final

    def first_reach(samples: list[dict], b: float) -> np.ndarray:
        st = sel.steps(frame_of(samples), method, budget_s=b, problem_ids=common, key=key)
        times = np.unique(np.append(st.times, 0.0))
        level = weights @ sel.at_times(st, times)  # (replicates, times): weighted problems solved
        return np.array([next((t for t, v in zip(times, lv) if v >= tg), math.inf)
                         for lv, tg in zip(level, targets)])

    t_run, t_ref = first_reach(run, budget), first_reach(ref, ref_budget)
    with np.errstate(divide="ignore", invalid="ignore"):
        speedup = t_ref / t_run
    return {"target": targets[0] / c, "t": t_run, "speedup": speedup, "n": c}


def interval(values: np.ndarray) -> list[float]:
    return list(np.nanquantile(values, [0.025, 0.975], method="inverted_cdf"))


def test_time_to_match_equals_brute_force_and_the_known_values(study: Path, tmp_path: Path) -> None:
    out = tmp_path / "plots"
    report.write_report([study], out, key=key)
    table = pd.read_csv(out / "summary.csv")
    rows = table[table["time_to_match_s"].notna()].set_index(["run", "method"])
    assert set(rows.index.get_level_values("run")) == {"ref", "fast", "slow", "wrong"}  # ref_short: a prefix of ref
    assert (rows["reference_run"] == "ref").all() and (rows["t_s"] == rows["budget_s"]).all()
    runs = {"ref": (REF, [*P6, "gsm8k/test/6"], 10.0), "fast": (FAST, P6, 10.0), "slow": (SLOW, P6, 20.0),
            "wrong": (WRONG, P6, 10.0)}
    for (name, method), row in rows.iterrows():
        samples, ids, budget = runs[name]
        want = brute_force(REF, [*P6, "gsm8k/test/6"], 10.0, samples, ids, budget, method)
        got = row.to_dict()
        assert got["match_n_problems"] == want["n"] and got["reference_accuracy"] == pytest.approx(want["target"])
        assert got["time_to_match_s"] == want["t"][0], (name, method)
        assert [got["ttm_ci_low"], got["ttm_ci_high"]] == interval(want["t"][1:])
        np.testing.assert_allclose([got["speedup"], got["speedup_ci_low"], got["speedup_ci_high"]],
                                   [want["speedup"][0], *interval(want["speedup"][1:])])
        assert got["reached_share"] == pytest.approx(np.isfinite(want["t"][1:]).mean())
    # By hand: the reference reaches 4/6 coverage and 3/6 majority at 8 s; fast at 3 s and 2 s; slow never.
    assert rows.loc[("fast", "coverage"), "time_to_match_s"] == 3.0
    assert rows.loc[("fast", "coverage"), "speedup"] == pytest.approx(8 / 3)
    assert rows.loc[("fast", "majority"), ["time_to_match_s", "speedup"]].tolist() == [2.0, 4.0]
    assert rows.loc[("slow", "coverage"), "time_to_match_s"] == math.inf
    assert rows.loc[("slow", "coverage"), "speedup"] == 0
    # Never right: reached only in resamples where the reference solves nothing either (a target of 0).
    assert rows.loc[("wrong", "majority"), "time_to_match_s"] == math.inf
    assert 0 < rows.loc[("wrong", "majority"), "reached_share"] < 0.05
    assert rows.loc[("ref", "coverage"), "reference_accuracy"] == pytest.approx(5 / 7)  # p6 counts against itself
    md = (out / "summary.md").read_text()
    assert "### Time to match on GSM8K: llama_1b (hf), 10s at 10 s (ref)" in md
    assert "| coverage | llamba_1b (llamba) | 10 s | 6 | 66.7 | 3 [" in md and "| not reached [" in md


def test_a_reference_that_solved_none_has_nothing_to_match(tmp_path: Path) -> None:
    root = tmp_path / "results"
    make_run(root, "ref", "llama_1b", "hf", WRONG, P6, budget_s=10)
    make_run(root, "fast", "llamba_1b", "llamba", FAST, P6, budget_s=10)
    out = tmp_path / "plots"
    report.write_report([root], out, key=key)
    table = pd.read_csv(out / "summary.csv")
    rows = table[table["time_to_match_s"].notna()].set_index(["run", "method"])
    # By the definition every run "reaches" a target of 0 at 0 s, and summary.csv says so ...
    assert (rows["reference_accuracy"] == 0).all() and (rows["time_to_match_s"] == 0).all()
    # ... but summary.md does not show it as a measured time.
    md = (out / "summary.md").read_text()
    assert "| coverage | llamba_1b (llamba) | 10 s | 6 | 0.0 | – (nothing to match) | – | – |" in md
    assert "| 0 [0, 0] |" not in md


def test_reference_option_and_its_one_line_refusal(study: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "harness.report", str(study), "--out", str(tmp_path / "p")]
    named = subprocess.run([*cmd, "--reference", "llamba_1b (llamba)"], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    assert named.returncode == 0, named.stderr
    assert "### Time to match on GSM8K: llamba_1b (llamba) at 10 s (fast)" in named.stdout  # as make plots prints
    table = pd.read_csv(tmp_path / "p" / "summary.csv")
    assert set(table["reference_run"].dropna()) == {"fast"}
    unknown = subprocess.run([*cmd, "--reference", "llama_70b"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    err = unknown.stderr.strip().splitlines()
    assert unknown.returncode == 1 and err[-1].startswith("report: --reference llama_70b: no run of that model")
    assert "llama_1b, llamba_1b, llamba_3b, mamba_hybrid" in err[-1]


LLAMA_1B = {"model_type": "llama", "vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192,
            "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
            "tie_word_embeddings": True}  # Llama-3.2-1B-Instruct's config.json, the keys that matter
LLAMA_3B = {**LLAMA_1B, "hidden_size": 3072, "num_hidden_layers": 28, "num_attention_heads": 24, "head_dim": 128}


def test_the_default_reference_is_the_transformer_with_the_largest_budget(tmp_path: Path) -> None:
    root = tmp_path / "results"
    make_run(root, "one", "llama_1b", "hf", REF, P6, budget_s=40, model_shape=cost.model_shape(LLAMA_1B))
    make_run(root, "small", "llama_3b", "hf", REF, P6, budget_s=20, model_shape=cost.model_shape(LLAMA_3B))
    make_run(root, "student", "mamba_hybrid", "mamba_in_llama", FAST, P6, budget_s=80)  # not a Transformer, by engine
    make_run(root, "mamba2", "tiny", "hf", FAST, P6, budget_s=80, model_shape={"arch": "mamba2"})  # by shape

    def reference() -> str:
        return report.match.pick_reference(report.read_runs(report.find_run_dirs([root])), None).name

    assert reference() == "one"
    make_run(root, "three", "llama_3b", "hf", REF, P6, budget_s=40, model_shape=cost.model_shape(LLAMA_3B))
    assert reference() == "three"  # tied budgets: the larger model
    make_run(root, "three_vllm", "llama_3b", "vllm", REF, P6, budget_s=40, model_shape=cost.model_shape(LLAMA_3B))
    assert reference() == "three_vllm"  # tied budget and size: the optimized engine, the teacher's best
