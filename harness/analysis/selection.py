"""Selection metrics over a run's samples, vs wall-clock time (and the cost axes).

Every method (`harness.analysis.methods`, by registry) is computed once as a *step function of
arrivals*: samples of all problems are sorted by (problem, arrival time) and ``Steps.value[i]``
is the method's correctness for that problem once its samples up to ``i`` have arrived.
Evaluating a curve at many times is then a vectorised index lookup, so 500 problems x thousands
of samples x hundreds of time points stay cheap. Against the sample count k every method is
instead an expectation over k-subsets (`harness.analysis.subsets`). Definitions and formulas:
docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.analysis import methods
from harness.analysis.methods import METHODS, Arrivals, KeyFn, arrivals, has_rewards, pass_at_k, voting_classes

# Beside the step functions, what their callers read: a run's arrivals and the methods' registry.
__all__ = ["METHODS", "Arrivals", "KeyFn", "Steps", "arrivals", "arrived", "at_times", "has_rewards", "mean_ci",
           "pass_at_k", "pass_at_k_times", "pass_at_ks", "steps", "summarize", "voting_classes"]


@dataclass(frozen=True)
class Steps:
    """One method's correctness per problem as a step function of arrivals (see module doc)."""

    problem_ids: np.ndarray  # (P,) output order of problems
    start: np.ndarray  # (P,) index of each problem's first sample
    count: np.ndarray  # (P,) samples of each problem (within the budget)
    pcode: np.ndarray  # (N,) problem index of each sample
    times: np.ndarray  # (N,) arrival time (or cumulative cost, see ``steps``), ascending within a problem
    value: np.ndarray  # (N,) 0/1 correctness of the method after this arrival
    n_correct: np.ndarray  # (N,) correct samples of the problem so far (for pass@k)


def steps(
    trajectories: pd.DataFrame,
    method: str,
    *,
    budget_s: float | None = None,
    problem_ids: Sequence[Hashable] | None = None,
    key: KeyFn | None = None,
    reward_time: bool = True,
    cost: str | None = None,
) -> Steps:
    """Build the arrival step function of ``method`` (a name in METHODS).

    ``problem_ids`` lists every finished problem (problems without samples count as wrong);
    default: the problems present in the frame. Samples arriving after ``budget_s`` are dropped.
    ``key`` maps an answer to its voting class (None: no vote); default: the classes grading
    recorded (``voting_classes``).
    ``cost`` names a column of per-sample cost (tokens, FLOPs, bytes): the step function's x is
    then the cost of the problem's samples arrived so far, in arrival order, instead of the time.
    """
    pick = METHODS.get(method).pick
    a = arrivals(trajectories, method, budget_s=budget_s, problem_ids=problem_ids, key=key, reward_time=reward_time)
    value = pick(a) if len(a.pcode) else np.zeros(0)
    t = a.times
    if cost is not None:  # same arrival order, so x still ascends within a problem (costs are >= 0)
        t = pd.Series(a.samples[cost].to_numpy(dtype=float)).groupby(a.pcode, sort=False).cumsum().to_numpy()
    return Steps(a.problem_ids, a.start, a.count, a.pcode, t, value, a.n_correct)


def arrived(st: Steps, times: Sequence[float] | np.ndarray) -> np.ndarray:
    """(P, T) number of each problem's samples arrived by each time (vectorised search)."""
    times = np.asarray(times, dtype=float)
    # Times are replaced by their exact ranks so (problem, time) packs into one sortable int.
    _, inv = np.unique(np.concatenate([st.times, times]), return_inverse=True)
    inv = inv.reshape(-1).astype(np.int64)
    width = int(inv.max()) + 1 if len(inv) else 1
    sample_key = st.pcode.astype(np.int64) * width + inv[: len(st.times)]
    query = np.arange(len(st.problem_ids), dtype=np.int64)[:, None] * width + inv[len(st.times) :]
    return np.searchsorted(sample_key, query, side="right") - st.start[:, None]


def _lookup(st: Steps, counts: np.ndarray, arr: np.ndarray) -> np.ndarray:
    """``arr`` at each problem's last arrived sample; 0 where none has arrived."""
    idx = st.start[:, None] + counts - 1
    return np.where(counts > 0, arr[np.clip(idx, 0, None)] if len(arr) else 0, 0).astype(float)


def at_times(st: Steps, times: Sequence[float] | np.ndarray) -> np.ndarray:
    """(P, T) correctness of each problem at each time."""
    return _lookup(st, arrived(st, times), st.value)


def pass_at_k_times(st: Steps, k: int, times: Sequence[float] | np.ndarray) -> np.ndarray:
    """(P, T) pass@k of each problem from the samples arrived by each time (coverage steps)."""
    counts = arrived(st, times)
    return pass_at_k(counts, _lookup(st, counts, st.n_correct).astype(np.int64), k)


def pass_at_ks(st: Steps, ks: Sequence[int] | np.ndarray) -> np.ndarray:
    """(P, K) pass@k of each problem from all its samples within the budget."""
    return methods.pass_at_ks(st.start, st.count, st.n_correct, ks)


def mean_ci(
    per_problem: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over problems (axis 0) with a percentile bootstrap band over problems.

    Resampling is done with multinomial weights and one matrix product instead of
    materialising n_boot copies of the (P, T) matrix.
    """
    m = np.asarray(per_problem, dtype=float)
    p = m.shape[0]
    mean = m.mean(axis=0)
    if p == 0:
        return mean, mean, mean
    w = np.random.default_rng(seed).multinomial(p, np.full(p, 1.0 / p), size=n_boot)
    boot = (w @ m) / p
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return mean, lo, hi


def summarize(
    trajectories: pd.DataFrame,
    budget_s: float,
    methods: Sequence[str],
    problem_ids: Sequence[Hashable] | None = None,
    key: KeyFn | None = None,
    reward_time: bool = True,
) -> dict[str, float]:
    """Accuracy of each method at the full budget, averaged over problems.

    ``problem_ids``: all finished problems, so those without samples count as wrong.
    Methods that need rewards give NaN when no sample has a reward (not scored is not "wrong").
    """
    out: dict[str, float] = {}
    for m in methods:
        if METHODS.get(m).needs_rewards and not has_rewards(trajectories):
            out[m] = float("nan")
            continue
        st = steps(trajectories, m, budget_s=budget_s, problem_ids=problem_ids, key=key,
                   reward_time=reward_time)
        vals = at_times(st, [budget_s])[:, 0]
        out[m] = float(vals.mean()) if len(vals) else float("nan")
    return out
