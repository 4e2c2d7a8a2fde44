"""Every method against the sample count k is its expected value over k-subsets (harness.analysis.subsets):
checked against brute force over all subsets, and on hand-built runs through `python -m harness.report`."""

from __future__ import annotations

import itertools
import subprocess
import sys
from math import comb
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_helpers import make_run, sample

from harness.analysis import selection as sel
from harness.analysis import subsets
from harness.analysis.methods import method, set_method
from test_selection import frame, key, random_run

ROOT = Path(__file__).resolve().parents[1]


def vote(pred: object) -> str | None:
    return key(pred if isinstance(pred, str) else None)


def brute_force(df: pd.DataFrame, method: str, pid: str, k: int) -> float:
    """The mean over all k-subsets (all samples when k >= n), each subset judged in plain Python."""
    rm = sel.METHODS.get(method).needs_rewards
    rows = sorted((r for r in df.itertuples() if r.problem_id == pid),
                  key=lambda r: (r.t_end_s + (r.reward_s if rm else 0), r.sample_idx))  # index = arrival rank
    if not rows:
        return 0.0
    values = []
    for subset in itertools.combinations(range(len(rows)), min(k, len(rows))):
        if method == "coverage":
            values.append(float(any(rows[i].correct for i in subset)))
            continue
        voters = [i for i in subset if vote(rows[i].pred) is not None and not (rm and pd.isna(rows[i].reward))]
        candidate = (lambda i: i) if method == "best_of_n" else (lambda i: vote(rows[i].pred))
        strength: dict = {}
        for i in voters:
            strength[candidate(i)] = strength.get(candidate(i), 0) + (rows[i].reward if rm else 1)
        if not strength:
            values.append(0.0)
            continue
        best = max(strength.values())
        # Ties: the candidate whose earliest member in the subset arrived first (voters are in arrival order).
        winner = next(candidate(i) for i in voters if strength[candidate(i)] == best)
        values.append(float(next(rows[i].correct for i in voters if candidate(i) == winner)))
    return sum(values) / len(values)


def small_run(rng: np.random.Generator, n_problems: int, max_n: int) -> pd.DataFrame:
    df = random_run(rng, n_problems)
    return df[df["sample_idx"] < max_n]


@pytest.mark.parametrize("method", sel.METHODS)
def test_exact_paths_equal_brute_force_over_all_subsets(method: str) -> None:
    rng = np.random.default_rng(11)
    ks = [1, 2, 3, 4, 6, 9, 12, 20]
    for _ in range(6):
        df = small_run(rng, 5, 10)
        ids = [f"p{p}" for p in range(5)]
        mean, var = subsets.at_k(sel.arrivals(df, method, key=key, problem_ids=ids), method, ks)
        assert not var.any()  # n <= EXACT_N: no sampling
        for p, pid in enumerate(ids):
            want = [brute_force(df, method, pid, k) for k in ks]
            np.testing.assert_allclose(mean[p], want, atol=1e-12, err_msg=f"{method} {pid}")


@pytest.mark.parametrize("method", ["majority", "rm_weighted"])
def test_random_orderings_agree_with_brute_force_within_their_error(method: str) -> None:
    rng = np.random.default_rng(5)
    df = small_run(rng, 6, 11)
    ids = [f"p{p}" for p in range(6)]
    ks = [1, 2, 3, 5, 8, 11]
    mean, var = subsets.at_k(sel.arrivals(df, method, key=key, problem_ids=ids), method, ks, exact_n=0)
    for p, pid in enumerate(ids):
        want = np.array([brute_force(df, method, pid, k) for k in ks])
        assert np.all(np.abs(mean[p] - want) <= 4.5 * np.sqrt(var[p]) + 1e-12), (pid, mean[p], want)
    n = np.bincount(pd.Index(ids).get_indexer(df["problem_id"]), minlength=len(ids))
    assert not var[:, 0].any() and not var[np.arange(len(ids)), np.searchsorted(ks, n)].any()  # k = 1, k = n exact


def test_best_of_n_is_exact_for_any_n() -> None:
    n = 40
    df = frame([("p", i, float(i), "x", i % 3 == 0, float(i % 7) / 8, 0.0) for i in range(n)])
    mean, var = subsets.at_k(sel.arrivals(df, "best_of_n", key=key), "best_of_n", [1, 2, 5, 40, 50])
    # The pick is the first voter in (reward descending, arrival ascending) order.
    order = sorted(range(n), key=lambda i: (-(i % 7), i))
    for j, k in enumerate([1, 2, 5, 40, 50]):
        k = min(k, n)
        want = sum((order[r] % 3 == 0) * comb(n - 1 - r, k - 1) for r in range(n)) / comb(n, k)
        assert mean[0, j] == pytest.approx(want, abs=1e-12) and var[0, j] == 0


def test_k_must_be_positive() -> None:
    with pytest.raises(ValueError, match="k must be >= 1"):
        subsets.at_k(sel.arrivals(frame([]), "coverage"), "coverage", [0, 1])


# ---------------------------------------------------------------- a method declared by its function alone


def _first_stated(samples: pd.DataFrame) -> bool:
    stated = samples[samples["answer_class"] >= 0]
    return bool(len(stated)) and bool(stated["correct"].iloc[0])


@pytest.fixture
def own_methods() -> dict[str, object]:
    """Two methods with neither a closed form nor a vote, as a plugin would declare them (conftest
    unregisters them after the test): name -> their answer on one subset in arrival order."""
    set_method("first_stated", title="First stated answer")(_first_stated)
    method("latest", title="Latest sample")(lambda a: a.correct.astype(float))
    return {"first_stated": lambda rows: next((r.correct for r in rows if vote(r.pred) is not None), False),
            "latest": lambda rows: rows[-1].correct}


def brute_force_own(df: pd.DataFrame, judge, pid: str, k: int) -> float:
    rows = sorted((r for r in df.itertuples() if r.problem_id == pid), key=lambda r: (r.t_end_s, r.sample_idx))
    if not rows:
        return 0.0  # a problem without samples is not solved
    subsets_of_k = itertools.combinations(range(len(rows)), min(k, len(rows)))
    values = [float(judge([rows[i] for i in subset])) for subset in subsets_of_k]
    return sum(values) / len(values)


@pytest.mark.parametrize("name", ["first_stated", "latest"])
def test_a_method_without_closed_form_is_its_function_on_every_subset(own_methods, name: str) -> None:
    rng = np.random.default_rng(3)
    ks = [1, 2, 3, 5, 7, 9]
    for _ in range(4):
        df = small_run(rng, 4, 7)  # C(7, k) <= 35: every subset is judged
        ids = [f"p{p}" for p in range(4)]
        mean, var = subsets.at_k(sel.arrivals(df, name, key=key, problem_ids=ids), name, ks)
        assert not var.any()
        for p, pid in enumerate(ids):
            want = [brute_force_own(df, own_methods[name], pid, k) for k in ks]
            np.testing.assert_allclose(mean[p], want, atol=1e-12, err_msg=f"{name} {pid}")


@pytest.mark.parametrize("name", ["first_stated", "latest"])
def test_beyond_the_drawn_subsets_it_is_their_mean_within_its_error(own_methods, name: str) -> None:
    # Two problems of 12 samples, answers stated or not and right or wrong in no simple pattern.
    df = frame([(f"p{p}", i, float(i), ["1", "2", None][(i * (p + 2)) % 3], (i * (p + 3)) % 5 < 2, None, None)
                for p in range(2) for i in range(12)])
    ids = ["p0", "p1"]
    ks = [1, 3, 5, 8, 12]
    mean, var = subsets.at_k(sel.arrivals(df, name, key=key, problem_ids=ids), name, ks)
    for p, pid in enumerate(ids):
        want = np.array([brute_force_own(df, own_methods[name], pid, k) for k in ks])
        assert np.all(np.abs(mean[p] - want) <= 4.5 * np.sqrt(var[p]) + 1e-12), (pid, mean[p], want)
    assert var[:, 1:4].all()  # C(12, 5) = 792 subsets: drawn, not all judged


def test_a_set_method_over_time_is_its_function_on_what_has_arrived(own_methods) -> None:
    df = small_run(np.random.default_rng(4), 4, 8)
    ids = [f"p{p}" for p in range(4)]
    st = sel.steps(df, "first_stated", key=key, problem_ids=ids)
    for t in (0.5, 1.0, 2.0, 3.5, 9.0):
        arrived = df[df["t_end_s"] <= t]
        want = [brute_force_own(arrived, own_methods["first_stated"], pid, 10**6) for pid in ids]
        assert sel.at_times(st, [t])[:, 0].tolist() == want


# ---------------------------------------------------------------- hand-built runs, through the report

def _report(tmp_path: Path, samples: list[dict]) -> pd.DataFrame:
    make_run(tmp_path / "results", "run", "m", "hf", samples, ["p"], budget_s=10.0)
    proc = subprocess.run([sys.executable, "-m", "harness.report", str(tmp_path / "results"), "--out",
                           str(tmp_path / "plots")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return pd.read_csv(tmp_path / "plots" / "gsm8k_vs_samples.csv").set_index(["method", "x"])


def test_majority_at_k_is_over_subsets_not_the_first_arrivals(tmp_path: Path) -> None:
    """One problem: the two earliest samples wrong with the same answer, the four later ones right.
    The first k arrivals would give majority@1 = majority@3 = 0."""
    samples = [{**sample("p", t, correct), "answer_class": 0 if correct else 1}
               for t, correct in ((1, False), (2, False), (3, True), (4, True), (5, True), (6, True))]
    csv = _report(tmp_path, samples)
    assert csv.loc[("majority", 1), "accuracy"] == pytest.approx(4 / 6, abs=1e-9)  # 0.667
    assert csv.loc[("majority", 2), "accuracy"] == pytest.approx(6 / 15, abs=1e-9)  # a 1:1 tie goes to the earlier
    assert csv.loc[("majority", 3), "accuracy"] == pytest.approx(16 / 20, abs=1e-9)  # 0.8
    assert csv.loc[("coverage", 1), "accuracy"] == pytest.approx(4 / 6)
    assert (csv["se"] == 0).all()  # six samples: every subset is counted


def test_reward_methods_at_k_are_over_subsets(tmp_path: Path) -> None:
    """The two earliest samples wrong with reward 0.9, the four later right with reward 0.5."""
    samples = [{**sample("p", t, correct), "answer_class": 0 if correct else 1,
                "reward": 0.5 if correct else 0.9, "reward_s": 0.0}
               for t, correct in ((1, False), (2, False), (3, True), (4, True), (5, True), (6, True))]
    csv = _report(tmp_path, samples)
    # best_of_n: right only when no wrong sample is drawn, C(4, k) / C(6, k).
    for k in (1, 2, 3, 4):
        assert csv.loc[("best_of_n", k), "accuracy"] == pytest.approx(comb(4, k) / comb(6, k), abs=1e-9)
    # rm_weighted: 0.9 per wrong vote against 0.5 per right one.
    for k, want in ((1, 4 / 6), (2, 6 / 15), (3, 16 / 20), (4, 9 / 15)):
        assert csv.loc[("rm_weighted", k), "accuracy"] == pytest.approx(want, abs=1e-9)
