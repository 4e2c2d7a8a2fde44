"""Selection metrics over a run's samples, vs wall-clock time (and the cost axes).

Every method is computed once as a *step function of arrivals*: samples of all problems are
sorted by (problem, arrival time) and ``Steps.value[i]`` is the method's correctness for that
problem once its samples up to ``i`` have arrived. Evaluating a curve at many times is then a
vectorised index lookup, so 500 problems x thousands of samples x hundreds of time points stay
cheap. Against the sample count k every method is instead an expectation over k-subsets
(`harness.analysis.subsets`). Voting classes are the grader's equivalence classes (``voting_classes``).
Definitions and formulas: docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import cached_property

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


def _running_leader(score: np.ndarray, pcode: np.ndarray) -> np.ndarray:
    """Running maximum of ``score`` within each problem (samples sorted by problem)."""
    return pd.Series(score).groupby(pcode, sort=False).cummax().to_numpy()


def _dense_rank(x: np.ndarray) -> np.ndarray:
    # Exact float comparison turned into integers, so ties stay ties in the packed scores.
    return np.unique(x, return_inverse=True)[1].reshape(-1)


@dataclass(frozen=True)
class Arrivals:
    """One problem set's samples within the budget, sorted by (problem, arrival): what a method reads."""

    problem_ids: np.ndarray  # (P,) output order of problems
    samples: pd.DataFrame  # the trajectory rows, in arrival order
    times: np.ndarray  # (N,) arrival time, ascending within a problem
    pcode: np.ndarray  # (N,) problem index of each sample
    rank: np.ndarray  # (N,) arrival rank within its problem
    start: np.ndarray  # (P,) index of each problem's first sample
    count: np.ndarray  # (P,) samples of each problem (within the budget)
    correct: np.ndarray  # (N,) bool
    n_correct: np.ndarray  # (N,) correct samples of the problem so far
    key: KeyFn | None

    @cached_property
    def classes(self) -> np.ndarray:
        """(N,) voting class of each sample within its problem, -1 for no vote (docs/metrics.md)."""
        return voting_classes(self.samples, self.pcode, self.key)

    @cached_property
    def class_correct(self) -> np.ndarray:
        """(N,) correctness of each sample's class: that of its representative, the class's
        first-finished member (every member is graded equal to it)."""
        s = self.samples
        order = np.lexsort((s["sample_idx"].to_numpy(), s["t_end_s"].to_numpy(dtype=float), self.classes, self.pcode))
        first = pd.Series(order).groupby([self.pcode[order], self.classes[order]], sort=False).transform("first")
        rep = np.empty(len(order), np.int64)
        rep[order] = first.to_numpy()
        return self.correct[rep] if len(rep) else self.correct


def voting_classes(samples: pd.DataFrame, pcode: np.ndarray, key: KeyFn | None = None) -> np.ndarray:
    """Voting class of each sample within its problem (-1: no vote): by ``key`` when given (equal
    keys vote together), else as grading recorded them (``answer_class``), else formed now by the
    grader's comparison (`harness.grading.answer_classes`, for runs graded before classes were
    recorded)."""
    preds = samples["pred"].to_numpy(dtype=object)
    has = np.array([isinstance(p, str) for p in preds], dtype=bool)
    if key is not None:
        keys = [key(p) if h else None for p, h in zip(preds, has)]
        ids = pd.Series([(c, k) for c, k in zip(pcode, keys)], dtype=object)
        codes = pd.factorize(ids)[0]
        return np.where([k is not None for k in keys], codes, -1).astype(np.int64)
    stored = samples["answer_class"] if "answer_class" in samples else None
    if stored is not None and not (stored.isna() & has).any():
        return stored.fillna(-1).to_numpy(dtype=np.int64)
    from harness.grading import Grader  # lazy: grading pulls in sympy and a process pool

    order = np.lexsort((samples["sample_idx"].to_numpy(), samples["t_end_s"].to_numpy(dtype=float), pcode))
    groups = pd.Series(order).groupby(pcode[order], sort=False)
    with Grader("math") as grader:  # the classes' comparison is the same for every dataset
        formed = grader.classes([[preds[i] if has[i] else None for i in idx] for idx in groups.groups.values()])
    out = np.full(len(preds), -1, np.int64)
    for idx, ids in zip(groups.groups.values(), formed):
        out[np.asarray(idx)] = [-1 if c is None else c for c in ids]
    return out


def arrivals(
    trajectories: pd.DataFrame,
    method: str,
    *,
    budget_s: float | None = None,
    problem_ids: Sequence[Hashable] | None = None,
    key: KeyFn | None = None,
    reward_time: bool = True,
) -> Arrivals:
    """The samples ``method`` reads, within the budget, in order of arrival (see ``steps``)."""
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
    sub = df.iloc[order].reset_index(drop=True)
    pcode = pcode_all[order]
    count = np.bincount(pcode, minlength=len(ids))
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    correct = _bool(sub["correct"]) if len(order) else np.zeros(0, bool)
    n_correct = pd.Series(correct.astype(np.int64)).groupby(pcode, sort=False).cumsum().to_numpy()
    return Arrivals(np.asarray(ids), sub, t_all[order], pcode, np.arange(len(order)) - start[pcode], start, count,
                    correct, n_correct, key)


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
    value_of = METHODS.get(method)
    a = arrivals(trajectories, method, budget_s=budget_s, problem_ids=problem_ids, key=key, reward_time=reward_time)
    value = value_of(a) if len(a.pcode) else np.zeros(0)
    t = a.times
    if cost is not None:  # same arrival order, so x still ascends within a problem (costs are >= 0)
        t = pd.Series(a.samples[cost].to_numpy(dtype=float)).groupby(a.pcode, sort=False).cumsum().to_numpy()
    return Steps(a.problem_ids, a.start, a.count, a.pcode, t, value, a.n_correct)


def coverage(a: Arrivals) -> np.ndarray:
    return (a.n_correct > 0).astype(float)


@dataclass(frozen=True)
class Candidates:
    """What a voting method weighs, per sample in arrival order: the candidate (a class, or for
    best_of_n the sample itself) it votes for, the vote's weight, and the candidate's correctness."""

    votes: np.ndarray  # (N,) bool: the sample votes (it states an answer; reward methods: it is scored)
    group: np.ndarray  # (N,) candidate within its problem, -1 for non-voters
    weight: np.ndarray  # (N,) 1 for majority, the reward for the reward methods
    correct: np.ndarray  # (N,) correctness of the sample's candidate


def candidates(a: Arrivals, method: str) -> Candidates | None:
    """The voting view of a method (None: a reward method on samples without rewards)."""
    cls = a.classes
    if method == "majority":
        return Candidates(cls >= 0, cls, np.ones(len(cls)), a.class_correct)
    reward, scored = _rewards(a)
    if reward is None:
        return None
    votes = _voters(reward, scored & (cls >= 0))
    if method == "rm_weighted":
        return Candidates(votes, np.where(votes, cls, -1), np.where(votes, reward, 0.0), a.class_correct)
    return Candidates(votes, np.where(votes, a.rank, -1), np.where(votes, reward, 0.0), a.correct)


def _vote(a: Arrivals, method: str) -> np.ndarray:
    c = candidates(a, method)
    if c is None:
        return np.zeros(len(a.pcode))
    grp = pd.DataFrame({"p": a.pcode, "g": c.group, "r": a.rank, "w": c.weight}).groupby(["p", "g"], sort=False)
    first = grp["r"].transform("min").to_numpy()  # arrival rank of the candidate's first member
    strength = np.zeros(len(a.pcode), np.int64)
    strength[c.votes] = _dense_rank(grp["w"].cumsum().to_numpy()[c.votes]) + 1
    return _leader_correct(a, c, strength, first)


def majority(a: Arrivals) -> np.ndarray:
    return _vote(a, "majority")


def rm_weighted(a: Arrivals) -> np.ndarray:
    return _vote(a, "rm_weighted")


def best_of_n(a: Arrivals) -> np.ndarray:
    return _vote(a, "best_of_n")


# Each method: Arrivals -> (N,) 0/1 correctness of its pick after each arrival; in display order.
METHODS = Registry("selection method", "selection.methods=[<name>, ...]",
                   {m.value: f"harness.analysis.selection:{m.value}" for m in Method})


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


def _leader_correct(a: Arrivals, c: Candidates, strength: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Correctness of the leading candidate after each arrival.

    Each candidate gets one packed integer score ``strength * (N + 1) + (N - first)``: the
    running maximum is then the leader, ties going to the earliest-arrived member. It is exact
    because a candidate's strength never decreases as samples arrive (counts; sums of rewards >= 0).
    """
    n = len(a.pcode)
    score = np.where(c.votes, strength * (n + 1) + (n - first), -1)
    lead = _running_leader(score, a.pcode)
    has_leader = lead >= 0
    rep = a.start[a.pcode] + (n - lead % (n + 1))  # the candidate's earliest member
    return np.where(has_leader, c.correct[np.where(has_leader, rep, 0)], False).astype(float)


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
