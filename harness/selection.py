"""Selection metrics over a run's samples, vs wall-clock time and vs sample count.

Every method is computed once as a *step function of arrivals*: samples of all problems are
sorted by (problem, arrival time) and ``Steps.value[i]`` is the method's correctness for that
problem once its samples up to ``i`` have arrived. Evaluating a curve at many times or sample
counts is then a vectorised index lookup, so 500 problems x thousands of samples x hundreds
of time points stay cheap. Definitions and formulas: docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.config import Method
from harness.registry import Registry

REWARD_METHODS = frozenset({"rm_weighted", "best_of_n"})

KeyFn = Callable[[str | None], Hashable | None]


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


def arrival_times(trajectories: pd.DataFrame, method: str, reward_time: bool = True) -> np.ndarray:
    """Seconds at which each sample becomes usable by ``method``.

    Reward methods can only use a sample once it is scored, so its scoring time is added
    (``reward_time``), so that a faster generator can't hide a slower scorer.
    """
    t = trajectories["t_end_s"].to_numpy(dtype=float)
    if method in REWARD_METHODS and reward_time and "reward_s" in trajectories:
        t = t + trajectories["reward_s"].to_numpy(dtype=float, na_value=0.0)
    return t


def _bool(series: pd.Series) -> np.ndarray:
    # correct may hold None (not graded yet): that counts as not correct.
    return series.eq(True).to_numpy(dtype=bool, na_value=False)


def _keys(preds: pd.Series, key: KeyFn | None) -> np.ndarray:
    """Integer voting class of each prediction, -1 for no vote (keys computed once per string)."""
    codes, uniques = pd.factorize(preds)  # None/NaN -> -1
    answers = [u if isinstance(u, str) else None for u in uniques]
    if key is None:
        from harness.grading import answer_keys  # lazy: grading pulls in sympy and a process pool

        keys = answer_keys(answers)  # one pipelined batch instead of a round trip per answer
    else:
        keys = [key(a) for a in answers]
    classes: dict[Hashable, int] = {}
    lut = [-1 if k is None else classes.setdefault(k, len(classes)) for k in keys]
    return np.array(lut + [-1], dtype=np.int64)[codes]


def _running_leader(score: np.ndarray, pcode: np.ndarray) -> np.ndarray:
    """Running maximum of ``score`` within each problem (samples sorted by problem)."""
    return pd.Series(score).groupby(pcode, sort=False).cummax().to_numpy()


def _dense_rank(x: np.ndarray) -> np.ndarray:
    # Exact float comparison turned into integers, so ties stay ties in the packed scores.
    return np.unique(x, return_inverse=True)[1].reshape(-1)


@dataclass(frozen=True)
class Arrivals:
    """One problem set's samples within the budget, sorted by (problem, arrival): what a method reads."""

    samples: pd.DataFrame  # the trajectory rows, in arrival order
    pcode: np.ndarray  # (N,) problem index of each sample
    rank: np.ndarray  # (N,) arrival rank within its problem
    start: np.ndarray  # (P,) index of each problem's first sample
    correct: np.ndarray  # (N,) bool
    n_correct: np.ndarray  # (N,) correct samples of the problem so far
    key: KeyFn | None


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
    ``key`` maps an answer to its voting class (None: no vote); default harness.grading's.
    ``cost`` names a column of per-sample cost (tokens, FLOPs, bytes): the step function's x is
    then the cost of the problem's samples arrived so far, in arrival order, instead of the time.
    """
    value_of = METHODS.get(method)
    df = trajectories
    ids = pd.unique(df["problem_id"]) if problem_ids is None else np.asarray(problem_ids)
    pcode_all = pd.Index(ids).get_indexer(df["problem_id"])
    t_all = arrival_times(df, method, reward_time)
    keep = pcode_all >= 0
    if budget_s is not None:
        keep &= t_all <= budget_s
    # Ties in time go to the lower sample index, so order never depends on row order.
    sidx = df["sample_idx"].to_numpy(dtype=np.int64)
    order = np.flatnonzero(keep)[np.lexsort((sidx[keep], t_all[keep], pcode_all[keep]))]
    sub = df.iloc[order]
    pcode, t = pcode_all[order], t_all[order]
    n = len(order)
    count = np.bincount(pcode, minlength=len(ids))
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    rank = np.arange(n) - start[pcode]  # arrival rank within the problem
    correct = _bool(sub["correct"]) if n else np.zeros(0, bool)
    n_correct = pd.Series(correct.astype(np.int64)).groupby(pcode, sort=False).cumsum().to_numpy()
    value = value_of(Arrivals(sub, pcode, rank, start, correct, n_correct, key)) if n else np.zeros(0)
    if cost is not None:  # same arrival order, so x still ascends within a problem (costs are >= 0)
        t = pd.Series(sub[cost].to_numpy(dtype=float)).groupby(pcode, sort=False).cumsum().to_numpy()
    return Steps(np.asarray(ids), start, count, pcode, t, value, n_correct)


def coverage(a: Arrivals) -> np.ndarray:
    return (a.n_correct > 0).astype(float)


def majority(a: Arrivals) -> np.ndarray:
    cls = _keys(a.samples["pred"], a.key)
    votes = cls >= 0
    first, grp = _class_first(a, cls)
    return _leader_correct(a, votes, grp.cumcount().to_numpy() + 1, first)


def rm_weighted(a: Arrivals) -> np.ndarray:
    reward, scored = _rewards(a)
    if reward is None:
        return np.zeros(len(a.pcode))
    cls = _keys(a.samples["pred"], a.key)
    votes = _voters(reward, scored & (cls >= 0))
    cls = np.where(votes, cls, -1)  # non-voters form no class
    first, _ = _class_first(a, cls)
    sums = pd.Series(np.where(votes, reward, 0.0)).groupby([a.pcode, cls], sort=False).cumsum()
    strength = np.zeros(len(a.pcode), np.int64)
    strength[votes] = _dense_rank(sums.to_numpy()[votes]) + 1
    return _leader_correct(a, votes, strength, first)


def best_of_n(a: Arrivals) -> np.ndarray:
    reward, scored = _rewards(a)
    if reward is None:
        return np.zeros(len(a.pcode))
    votes = _voters(reward, scored & (_keys(a.samples["pred"], a.key) >= 0))
    strength = np.zeros(len(a.pcode), np.int64)
    strength[votes] = _dense_rank(reward[votes]) + 1
    return _leader_correct(a, votes, strength, a.rank)  # each sample is its own candidate


# Each method: Arrivals -> (N,) 0/1 correctness of its pick after each arrival; in display order.
METHODS = Registry("selection method", "selection.methods=[<name>, ...]",
                   {m.value: f"harness.selection:{m.value}" for m in Method})


def _rewards(a: Arrivals) -> tuple[np.ndarray | None, np.ndarray]:
    """Rewards and which samples have one (unscored samples can't be picked by a reward method)."""
    if "reward" not in a.samples:
        return None, np.zeros(len(a.pcode), bool)
    reward = a.samples["reward"].to_numpy(dtype=float, na_value=np.nan)
    return reward, ~np.isnan(reward)


def _voters(reward: np.ndarray, votes: np.ndarray) -> np.ndarray:
    if (reward[votes] < 0).any():
        raise ValueError("reward methods need rewards >= 0 (probabilities); got negatives")
    return votes


def _class_first(a: Arrivals, cls: np.ndarray):
    """Arrival rank of each sample's class's first member, and the (problem, class) groups."""
    grp = pd.DataFrame({"p": a.pcode, "c": cls, "r": a.rank}).groupby(["p", "c"], sort=False)
    return grp["r"].transform("min").to_numpy(), grp


def _leader_correct(a: Arrivals, votes: np.ndarray, strength: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Correctness of the leading candidate after each arrival.

    Each candidate gets one packed integer score ``strength * (N + 1) + (N - first)``: the
    running maximum is then the leader, ties going to the earliest-arrived member. It is exact
    because a class's strength never decreases as samples arrive (counts; sums of rewards >= 0).
    """
    n = len(a.pcode)
    score = np.where(votes, strength * (n + 1) + (n - first), -1)
    lead = _running_leader(score, a.pcode)
    has_leader = lead >= 0
    rep = a.start[a.pcode] + (n - lead % (n + 1))  # representative: the class's earliest member
    return np.where(has_leader, a.correct[np.where(has_leader, rep, 0)], False).astype(float)


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


def at_k(st: Steps, ks: Sequence[int] | np.ndarray) -> np.ndarray:
    """(P, K) correctness using each problem's first k arrivals (all of them if it has fewer)."""
    counts = np.minimum(np.asarray(ks, dtype=np.int64)[None, :], st.count[:, None])
    return _lookup(st, counts, st.value)


def pass_at_k(n: np.ndarray | int, c: np.ndarray | int, k: int) -> np.ndarray:
    """Unbiased pass@k = 1 - C(n-c, k) / C(n, k) (Chen et al. 2021), elementwise.

    Guard: with fewer than k samples (n < k) it is pass@n, i.e. whether any sample is correct;
    with n = 0 it is 0.
    """
    if k < 1:
        raise ValueError(f"pass@k needs k >= 1, got {k}")
    n = np.asarray(n, dtype=np.int64)
    c = np.asarray(c, dtype=np.int64)
    k_eff = np.minimum(k, n)
    # log C(a, k) from a log-factorial table: exact enough and free of overflow for large n.
    logfact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, int(n.max(initial=0)) + 1)))])
    wrong = n - c
    fail_possible = wrong >= k_eff
    a = np.where(fail_possible, wrong, k_eff)
    log_ratio = logfact[a] - logfact[a - k_eff] - logfact[n] + logfact[n - k_eff]
    p = np.where(fail_possible, 1.0 - np.exp(log_ratio), 1.0)
    return np.where(n > 0, p, 0.0)


def pass_at_k_times(st: Steps, k: int, times: Sequence[float] | np.ndarray) -> np.ndarray:
    """(P, T) pass@k of each problem from the samples arrived by each time (coverage steps)."""
    counts = arrived(st, times)
    return pass_at_k(counts, _lookup(st, counts, st.n_correct).astype(np.int64), k)


def pass_at_ks(st: Steps, ks: Sequence[int] | np.ndarray) -> np.ndarray:
    """(P, K) pass@k of each problem from all its samples within the budget."""
    c = st.n_correct[st.start + st.count - 1] if len(st.times) else np.zeros(len(st.count))
    c = np.where(st.count > 0, c, 0)
    return np.stack([pass_at_k(st.count, c, int(k)) for k in ks], axis=1)


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


def has_rewards(trajectories: pd.DataFrame) -> bool:
    return "reward" in trajectories and bool(trajectories["reward"].notna().any())


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
    Reward methods give NaN when no sample has a reward (not scored is not "wrong").
    """
    out: dict[str, float] = {}
    for m in methods:
        if m in REWARD_METHODS and not has_rewards(trajectories):
            out[m] = float("nan")
            continue
        st = steps(trajectories, m, budget_s=budget_s, problem_ids=problem_ids, key=key,
                   reward_time=reward_time)
        vals = at_times(st, [budget_s])[:, 0]
        out[m] = float(vals.mean()) if len(vals) else float("nan")
    return out
