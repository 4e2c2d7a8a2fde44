"""Selection metrics on hand-built runs with known answers, and against brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from harness.analysis import selection as sel
from harness.errors import UserError


def key(pred: str | None) -> str | None:
    """Stand-in for the grader's classes: strip spaces; empty means no vote."""
    if pred is None or not pred.strip():
        return None
    return pred.replace(" ", "")


def frame(rows: list[tuple]) -> pd.DataFrame:
    """rows: (problem_id, sample_idx, t_end_s, pred, correct, reward, reward_s)."""
    cols = ["problem_id", "sample_idx", "t_end_s", "pred", "correct", "reward", "reward_s"]
    return pd.DataFrame(rows, columns=cols)


def value(df: pd.DataFrame, method: str, t: float, ids: list[str] | None = None, **kw) -> list[float]:
    st = sel.steps(df, method, key=key, problem_ids=ids, **kw)
    return list(sel.at_times(st, [t])[:, 0])


# ---------------------------------------------------------------- known answers

RUN = frame([
    # p1: answers 4, 4, 5 -> majority 4 (correct); highest reward on the wrong 5.
    ("p1", 0, 1.0, "4", True, 0.3, 0.1),
    ("p1", 1, 2.0, "5", False, 0.9, 0.1),
    ("p1", 2, 3.0, "4", True, 0.4, 0.1),
    # p2: nothing correct.
    ("p2", 0, 0.5, "7", False, 0.2, 0.1),
    ("p2", 1, 4.0, "8", False, 0.1, 0.1),
])


def test_coverage_over_time() -> None:
    assert value(RUN, "coverage", 0.9) == [0.0, 0.0]
    assert value(RUN, "coverage", 1.0) == [1.0, 0.0]  # a sample finishing at t counts at t
    assert value(RUN, "coverage", 10.0) == [1.0, 0.0]


def test_majority_over_time() -> None:
    assert value(RUN, "majority", 1.5) == [1.0, 0.0]
    # 4 vs 5 tie at t=2: the earliest-finished class (4) wins.
    assert value(RUN, "majority", 2.5) == [1.0, 0.0]
    assert value(RUN, "majority", 3.0) == [1.0, 0.0]


def test_majority_tie_goes_to_earliest_finished_member() -> None:
    df = frame([
        ("p", 0, 2.0, "1", True, None, None),  # sample_idx order must not matter, time does
        ("p", 1, 1.0, "2", False, None, None),
        ("p", 2, 3.0, "1", True, None, None),
        ("p", 3, 4.0, "2", False, None, None),
    ])
    assert value(df, "majority", 2.5) == [0.0]  # 1:1 tie, "2" finished first
    assert value(df, "majority", 3.5) == [1.0]  # "1" leads 2:1
    assert value(df, "majority", 5.0) == [0.0]  # 2:2 again, "2" still the earliest class


def test_empty_answers_never_vote_and_no_samples_is_wrong() -> None:
    df = frame([
        ("p", 0, 1.0, None, False, None, None),
        ("p", 1, 1.5, " ", False, None, None),
        ("p", 2, 2.0, "", False, None, None),
        ("p", 3, 3.0, "9", True, None, None),
    ])
    assert value(df, "majority", 2.5) == [0.0]  # only non-votes so far
    assert value(df, "majority", 3.0) == [1.0]  # one real vote beats three empty ones
    # "q" finished with no samples; "p" has none before t=1.
    assert value(df, "majority", 0.5, ids=["p", "q"]) == [0.0, 0.0]
    assert value(df, "coverage", 9.0, ids=["p", "q"]) == [1.0, 0.0]


def test_rm_weighted_and_best_of_n() -> None:
    # Without reward time on the axis: at t=3, p1 sums 4 -> 0.7 vs 5 -> 0.9.
    assert value(RUN, "rm_weighted", 3.0, reward_time=False) == [0.0, 0.0]
    assert value(RUN, "best_of_n", 3.0, reward_time=False) == [0.0, 0.0]
    assert value(RUN, "rm_weighted", 1.5, reward_time=False) == [1.0, 0.0]
    df = RUN.copy()
    df.loc[(df.problem_id == "p1") & (df.sample_idx == 2), "reward"] = 0.7  # 4 -> 1.0 > 0.9
    assert value(df, "rm_weighted", 3.0, reward_time=False) == [1.0, 0.0]
    assert value(df, "best_of_n", 3.0, reward_time=False) == [0.0, 0.0]


def test_reward_time_is_on_the_axis() -> None:
    # Scored at t_end + reward_s: at t=1.05 the first p1 sample (1.0 + 0.1) is not usable yet.
    assert value(RUN, "best_of_n", 1.05) == [0.0, 0.0]
    assert value(RUN, "best_of_n", 1.1) == [1.0, 0.0]
    assert value(RUN, "best_of_n", 1.05, reward_time=False) == [1.0, 0.0]
    # ... and beyond the budget it is not counted at all.
    st = sel.steps(RUN, "best_of_n", key=key, budget_s=3.05)
    assert list(st.count) == [2, 1]


def test_best_of_n_ties_and_unscored() -> None:
    df = frame([
        ("p", 0, 1.0, "1", False, None, None),  # unscored: never picked by a reward method
        ("p", 1, 2.0, "2", True, 0.5, 0.0),
        ("p", 2, 3.0, "3", False, 0.5, 0.0),  # same reward, later: the earlier one stays
    ])
    assert value(df, "best_of_n", 1.5) == [0.0]
    assert value(df, "best_of_n", 9.0) == [1.0]
    assert value(df, "rm_weighted", 9.0) == [1.0]
    assert value(df.drop(columns=["reward", "reward_s"]), "best_of_n", 9.0) == [0.0]


def test_negative_rewards_are_refused() -> None:
    df = RUN.assign(reward=-1.0)
    with pytest.raises(ValueError, match="rewards >= 0"):
        sel.steps(df, "rm_weighted", key=key)


def test_summarize_counts_problems_without_samples() -> None:
    out = sel.summarize(RUN, 10.0, ["coverage", "majority", "best_of_n"], problem_ids=["p1", "p2", "p3"], key=key)
    assert out["coverage"] == pytest.approx(1 / 3)
    assert out["majority"] == pytest.approx(1 / 3)
    assert out["best_of_n"] == 0.0
    no_rm = sel.summarize(RUN.drop(columns=["reward"]), 10.0, ["rm_weighted"], key=key)
    assert math.isnan(no_rm["rm_weighted"])
    with pytest.raises(UserError, match="unknown selection method"):
        sel.summarize(RUN, 10.0, ["oracle"], key=key)


def test_summarize_with_the_graders_classes() -> None:
    grading = pytest.importorskip("harness.grading")
    df = frame([
        ("p", 0, 1.0, "1/2", True, None, None),
        ("p", 1, 2.0, "7", False, None, None),
        ("p", 2, 3.0, "0.5", True, None, None),
        ("p", 3, 4.0, "7", False, None, None),
        ("p", 4, 5.0, None, False, None, None),
    ])
    # Formed by the grader's comparison (no classes recorded), 1/2 and 0.5 are one class and win
    # the 2:2 tie (earlier); recorded classes are read as they are.
    assert grading.answer_classes(["1/2", "7", "0.5", "7", None]) == [0, 1, 0, 1, None]
    assert sel.summarize(df, 10.0, ["majority"])["majority"] == 1.0
    recorded = df.assign(answer_class=[0, 1, 2, 1, None])  # as if 0.5 were another answer
    assert sel.summarize(recorded, 10.0, ["majority"])["majority"] == 0.0


# ---------------------------------------------------------------- pass@k

def brute_pass_at_k(correct: list[bool], k: int) -> float:
    subsets = list(itertools.combinations(correct, k))
    return sum(any(s) for s in subsets) / len(subsets)


def test_pass_at_k_matches_enumeration() -> None:
    for n in range(1, 8):
        for c in range(n + 1):
            for k in range(1, n + 1):
                correct = [True] * c + [False] * (n - c)
                got = float(sel.pass_at_k(n, c, k))
                assert got == pytest.approx(brute_pass_at_k(correct, k), abs=1e-12), (n, c, k)


def test_pass_at_k_guard_and_vectorised() -> None:
    assert float(sel.pass_at_k(0, 0, 4)) == 0.0
    assert float(sel.pass_at_k(3, 1, 4)) == 1.0  # n < k: any of the 3 correct
    assert float(sel.pass_at_k(3, 0, 4)) == 0.0
    got = sel.pass_at_k(np.array([5, 5, 2000]), np.array([1, 0, 3]), 2)
    assert got == pytest.approx([0.4, 0.0, 1 - math.comb(1997, 2) / math.comb(2000, 2)])
    with pytest.raises(ValueError):
        sel.pass_at_k(3, 1, 0)


def test_pass_at_k_over_time_and_k() -> None:
    st = sel.steps(RUN, "coverage", key=key)
    # p1 by t=1: 1 of 1 correct; by t=2: 1 of 2; all: 2 of 3 (pass@1 = 2/3, pass@2 = 1).
    np.testing.assert_allclose(sel.pass_at_k_times(st, 1, [0.1, 1.0, 2.0, 9.0]),
                               [[0, 1, 0.5, 2 / 3], [0, 0, 0, 0]])
    np.testing.assert_allclose(sel.pass_at_k_times(st, 2, [2.0]), [[1], [0]])
    np.testing.assert_allclose(sel.pass_at_ks(st, [1, 2, 5]), [[2 / 3, 1, 1], [0, 0, 0]])


# ---------------------------------------------------------------- against a slow reference

def reference(df: pd.DataFrame, method: str, ids: list[str], t: float) -> list[float]:
    """Direct per-problem definition in plain Python, one problem and one time at a time."""
    out = []
    rm = sel.METHODS.get(method).needs_rewards
    for pid in ids:
        rows = [r for r in df.itertuples() if r.problem_id == pid]
        arrived = sorted(rows, key=lambda r: (r.t_end_s + (r.reward_s if rm else 0), r.sample_idx))
        arrived = [r for r in arrived if r.t_end_s + (r.reward_s if rm else 0) <= t]
        if method == "coverage":
            out.append(float(any(r.correct for r in arrived)))
            continue
        voters = [r for r in arrived if key(r.pred if isinstance(r.pred, str) else None) is not None
                  and not (rm and pd.isna(r.reward))]
        if not voters:
            out.append(0.0)
        elif method == "best_of_n":
            out.append(float(max(voters, key=lambda r: r.reward).correct))  # max: first of ties
        else:
            strength: dict[str, float] = {}
            for r in voters:
                strength[key(r.pred)] = strength.get(key(r.pred), 0) + (r.reward if rm else 1)
            best = max(strength, key=lambda c: strength[c])  # dict order = first arrival
            out.append(float(next(r for r in voters if key(r.pred) == best).correct))
    return out


def random_run(rng: np.random.Generator, n_problems: int) -> pd.DataFrame:
    rows = []
    for p in range(n_problems):
        for i in range(int(rng.integers(0, 12))):
            pred = rng.choice(["1", "2", "3", " 1", "", None], p=[0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
            t = float(rng.integers(1, 8)) / 2  # coarse times: many ties
            reward = None if rng.random() < 0.1 else float(rng.integers(0, 4)) / 4
            rows.append((f"p{p}", i, t, pred, key(pred) == "1", reward, float(rng.integers(0, 3)) / 4))
    return frame(rows)


@pytest.mark.parametrize("method", sel.METHODS)
def test_vectorised_matches_reference(method: str) -> None:
    rng = np.random.default_rng(7)
    for _ in range(15):
        df = random_run(rng, 6)
        ids = [f"p{p}" for p in range(6)]
        st = sel.steps(df, method, key=key, problem_ids=ids)
        times = [0.25, 0.5, 1.0, 1.75, 2.5, 3.5, 9.0]
        got_t = sel.at_times(st, times)
        for j, t in enumerate(times):
            assert got_t[:, j].tolist() == reference(df, method, ids, t), (method, t)


def test_mean_ci_is_seeded_and_brackets_the_mean() -> None:
    m = np.random.default_rng(0).random((40, 5)) < 0.5
    mean, lo, hi = sel.mean_ci(m, seed=3)
    again = sel.mean_ci(m, seed=3)
    assert np.array_equal(lo, again[1]) and np.array_equal(hi, again[2])
    assert np.all(lo <= mean) and np.all(mean <= hi) and np.all(hi - lo > 0)
    const = sel.mean_ci(np.ones((10, 2)))
    assert const[1].tolist() == const[2].tolist() == [1.0, 1.0]
