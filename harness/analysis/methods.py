"""Selection methods by registry: what a method declares, the four built in, and what they read.

A method answers, per problem: once the samples up to the i-th arrival are in, is the answer it
picks correct? It is declared once, beside its function, with its title and whether it needs
rewards, by one of three decorators (docs/extending.md, "A selection method"):

- ``@vote_method``: a vote. The function says, per sample, whether it votes, for which candidate,
  with what weight, and whether that candidate is correct (``Candidates``); the candidate with the
  largest sum of weights leads, ties going to the one whose first member arrived first.
  majority, rm_weighted and best_of_n are votes.
- ``@set_method``: a function of one problem's samples (a DataFrame in arrival order) -> bool; the
  simplest to write, evaluated on every prefix of the arrivals and on drawn k-subsets.
- ``@method``: the step function itself, vectorised over all problems (``Arrivals`` -> (N,)),
  with a closed form against k where there is one (``at_k``). coverage is one.

Against the sample count k (`harness.analysis.subsets`) a method with ``at_k`` uses it, a vote
its exact or sampled subset estimators, any other method its function on drawn k-subsets.
Voting classes are the grader's equivalence classes (``voting_classes``). Definitions:
docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from harness.registry import Registry

KeyFn = Callable[[str | None], Hashable | None]


def arrival_times(trajectories: pd.DataFrame, method: str, reward_time: bool = True) -> np.ndarray:
    """Seconds at which each sample becomes usable by ``method``.

    A method that needs rewards can only use a sample once it is scored, so its scoring time is
    added (``reward_time``), so that a faster generator can't hide a slower scorer.
    """
    t = trajectories["t_end_s"].to_numpy(dtype=float)
    if METHODS.get(method).needs_rewards and reward_time and "reward_s" in trajectories:
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
    from harness.grading.grader import Grader  # lazy: grading pulls in sympy and a process pool

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


@dataclass(frozen=True)
class SelectionMethod:
    """What a selection method declares (registered by ``method``, ``vote_method`` or ``set_method``)."""

    name: str  # selection.methods=[..., name]
    title: str  # the figure panel's title
    pick: Callable[[Arrivals], np.ndarray]  # (N,) 0/1: is the pick correct after each arrival
    # Reads ``reward``: a job whose selection.methods has it scores every sample with the reward
    # model, and a sample arrives for it once scored (arrival_times).
    needs_rewards: bool = False
    k_title: str | None = None  # the panel's title against the sample count k (None: title)
    # (a, ks) -> (P, K): the exact expectation over k-subsets of each problem's samples.
    at_k: Callable[[Arrivals, np.ndarray], np.ndarray] | None = None
    votes: Callable[[Arrivals], Candidates | None] | None = None  # a vote's candidates (vote_method)
    of_set: Callable[[pd.DataFrame], bool] | None = None  # the method on one set of samples (set_method)


# In display order: one figure panel and one summary row each.
METHODS: Registry[SelectionMethod] = Registry("selection method", "selection.methods=[<name>, ...]")


def method(name: str, *, title: str, needs_rewards: bool = False, k_title: str | None = None,
           at_k: Callable[[Arrivals, np.ndarray], np.ndarray] | None = None):
    """Register the decorated step function ``Arrivals -> (N,)`` as the method ``name``."""
    def register(pick: Callable[[Arrivals], np.ndarray]) -> Callable[[Arrivals], np.ndarray]:
        METHODS.register(name, SelectionMethod(name, title, pick, needs_rewards, k_title, at_k))
        return pick

    return register


def vote_method(name: str, *, title: str, needs_rewards: bool = False):
    """Register the decorated ``Arrivals -> Candidates`` (None: nothing to vote with, e.g. no
    rewards) as the vote ``name``."""
    def register(votes: Callable[[Arrivals], Candidates | None]) -> Callable[[Arrivals], Candidates | None]:
        METHODS.register(name, SelectionMethod(name, title, lambda a: vote(a, candidates(a, votes)), needs_rewards,
                                               votes=votes))
        return votes

    return register


def set_method(name: str, *, title: str, needs_rewards: bool = False):
    """Register the decorated ``samples -> bool`` as the method ``name``: ``samples`` are one
    problem's samples in arrival order (the columns of trajectories.jsonl; ``answer_class`` is the
    voting class, -1 for no answer), the result whether the method's answer is correct."""
    def register(of_set: Callable[[pd.DataFrame], bool]) -> Callable[[pd.DataFrame], bool]:
        METHODS.register(name, SelectionMethod(name, title, lambda a: _prefixes(a, of_set), needs_rewards,
                                               of_set=of_set))
        return of_set

    return register


def reward_methods(names: Iterable[str]) -> list[str]:
    """Those of ``names`` that need rewards (the job scores every sample with the reward model)."""
    return [m for m in names if METHODS.get(str(m)).needs_rewards]


@dataclass(frozen=True)
class Candidates:
    """What a vote weighs, per sample in arrival order: the candidate (a class, or for best_of_n
    the sample itself) it votes for, the vote's weight (>= 0), and the candidate's correctness."""

    votes: np.ndarray  # (N,) bool: the sample votes (it states an answer; reward methods: it is scored)
    group: np.ndarray  # (N,) candidate within its problem, -1 for non-voters
    weight: np.ndarray  # (N,) 1 for majority, the reward for the reward methods
    correct: np.ndarray  # (N,) correctness of the sample's candidate


def candidates(a: Arrivals, votes: Callable[[Arrivals], Candidates | None]) -> Candidates | None:
    """A vote's candidates; weights must not be negative (a candidate's strength never falls)."""
    c = votes(a)
    if c is not None and (c.weight[c.votes] < 0).any():
        raise ValueError("votes need weights >= 0 (reward methods: rewards >= 0, probabilities); got negatives")
    return c


def vote(a: Arrivals, c: Candidates | None) -> np.ndarray:
    """(N,) correctness of the leading candidate after each arrival (0 where nothing votes)."""
    if c is None:
        return np.zeros(len(a.pcode))
    grp = pd.DataFrame({"p": a.pcode, "g": c.group, "r": a.rank, "w": c.weight}).groupby(["p", "g"], sort=False)
    first = grp["r"].transform("min").to_numpy()  # arrival rank of the candidate's first member
    strength = np.zeros(len(a.pcode), np.int64)
    strength[c.votes] = _dense_rank(grp["w"].cumsum().to_numpy()[c.votes]) + 1
    return _leader_correct(a, c, strength, first)


def set_frame(a: Arrivals) -> pd.DataFrame:
    """The samples as a ``set_method`` reads them: with their voting class in ``answer_class``."""
    return a.samples.assign(answer_class=a.classes)


def _prefixes(a: Arrivals, of_set: Callable[[pd.DataFrame], bool]) -> np.ndarray:
    frame = set_frame(a)
    out = np.zeros(len(a.pcode))
    for start, n in zip(a.start, a.count):
        for i in range(n):
            out[start + i] = float(bool(of_set(frame.iloc[start : start + i + 1])))
    return out


def _rewards(a: Arrivals) -> tuple[np.ndarray | None, np.ndarray]:
    """Rewards and which samples have one (unscored samples can't be picked by a reward method)."""
    if "reward" not in a.samples:
        return None, np.zeros(len(a.pcode), bool)
    reward = a.samples["reward"].to_numpy(dtype=float, na_value=np.nan)
    return reward, ~np.isnan(reward)


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


def has_rewards(trajectories: pd.DataFrame) -> bool:
    return "reward" in trajectories and bool(trajectories["reward"].notna().any())


# ---------------------------------------------------------------- the built-in methods


def pass_at_ks(start: np.ndarray, count: np.ndarray, n_correct: np.ndarray,
               ks: Sequence[int] | np.ndarray) -> np.ndarray:
    """(P, K) unbiased pass@k of each problem from all its samples within the budget (Chen et al.
    2021): ``start``, ``count`` and ``n_correct`` as ``Arrivals`` (and ``Steps``) hold them."""
    last = start + count - 1
    c = np.where(count > 0, n_correct[np.clip(last, 0, None)] if len(n_correct) else 0, 0)
    return np.stack([pass_at_k(count, c, int(k)) for k in ks], axis=1)


def coverage_at_k(a: Arrivals, ks: np.ndarray) -> np.ndarray:
    return pass_at_ks(a.start, a.count, a.n_correct, ks)


@method("coverage", title="Coverage (any sample correct)", k_title="Coverage: pass@k", at_k=coverage_at_k)
def coverage(a: Arrivals) -> np.ndarray:
    return (a.n_correct > 0).astype(float)


@vote_method("majority", title="Majority vote")
def majority(a: Arrivals) -> Candidates:
    cls = a.classes
    return Candidates(cls >= 0, cls, np.ones(len(cls)), a.class_correct)


def _reward_vote(a: Arrivals, group: np.ndarray, correct: np.ndarray) -> Candidates | None:
    """Scored samples that state an answer vote for their ``group``, weighted by their reward."""
    reward, scored = _rewards(a)
    if reward is None:
        return None
    votes = scored & (a.classes >= 0)
    return Candidates(votes, np.where(votes, group, -1), np.where(votes, reward, 0.0), correct)


@vote_method("rm_weighted", title="Reward-weighted vote", needs_rewards=True)
def rm_weighted(a: Arrivals) -> Candidates | None:
    return _reward_vote(a, a.classes, a.class_correct)


@vote_method("best_of_n", title="Best-of-N by reward", needs_rewards=True)
def best_of_n(a: Arrivals) -> Candidates | None:
    return _reward_vote(a, a.rank, a.correct)  # each sample a candidate of its own
