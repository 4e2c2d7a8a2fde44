"""Selection against the sample count k: each method's expected value over the k-subsets of a
problem's n samples (docs/metrics.md, "Against the sample count").

The first k arrivals are a problem's k *shortest* samples, so a curve over them measures short
answers, not k samples. Here every method is the mean over all C(n, k) subsets of the samples
within the budget (all n of them where k >= n), by what the method declares
(`harness.analysis.methods`):

- a closed form (``at_k``): coverage's pass@k;
- a vote: where each voter is its own candidate (best_of_n; a majority whose answers all differ)
  exact by order statistics: the subset's pick is its first voter in the order (weight
  descending, arrival ascending), so voter j of that order is picked with probability
  C(n - 1 - j, k - 1) / C(n, k); otherwise exact over all 2^n subsets for n <= EXACT_N, and
  beyond, the mean over the prefixes of R random orderings of the samples (each prefix of length
  k is a uniform k-subset), with its standard error; k = 1 and k >= n are exact;
- anything else: the method's own function on every k-subset where there are at most DRAWS of
  them, else on DRAWS uniform k-subsets, with its standard error.

Within a subset a candidate's strength is its vote count (rm_weighted: its sum of rewards); ties
go to the candidate whose earliest member *in the subset* arrived first, as on the time axis.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from math import comb

import numpy as np
import pandas as pd

from harness.analysis.methods import METHODS, Arrivals, Candidates, SelectionMethod, candidates, set_frame

EXACT_N = 12  # 4,096 subsets: every one is evaluated
DRAWS = 256  # random orderings per problem beyond EXACT_N samples ...
MAX_ROWS = 50_000  # ... fewer for large n (at least MIN_DRAWS), to bound the work per problem
MIN_DRAWS = 32
SUBSET_DRAWS = 64  # a method's own function: every k-subset where there are at most this many, else this many


def at_k(a: Arrivals, method: str, ks: Sequence[int] | np.ndarray, *, seed: int = 0,
         exact_n: int = EXACT_N) -> tuple[np.ndarray, np.ndarray]:
    """(P, K) expected correctness of ``method`` on k-subsets of each problem's samples, and the
    (P, K) variance of each estimate (0 where it is exact)."""
    ks = np.asarray(ks, dtype=np.int64)
    if (ks < 1).any():
        raise ValueError(f"k must be >= 1, got {ks.min()}")
    spec = METHODS.get(method)
    mean = np.zeros((len(a.count), len(ks)))
    var = np.zeros_like(mean)
    if spec.at_k is not None:
        return spec.at_k(a, ks), var
    rng = np.random.default_rng(seed)
    if spec.votes is None:
        return _drawn_subsets(a, spec, ks, rng)
    cand = candidates(a, spec.votes)
    if cand is None:
        return mean, var
    for p, (start, n) in enumerate(zip(a.start, a.count)):
        if n == 0:
            continue
        mine = _slice(cand, start, n)
        kk = np.minimum(ks, n)
        if mine.votes.sum() == mine.group.max(initial=-1) + 1:  # each voter its own candidate
            mean[p] = _order_statistics(mine, n, kk)
        elif n <= exact_n:
            mean[p] = _all_subsets(mine, n)[kk - 1]
        else:
            m, v = _random_orderings(mine, n, rng)
            mean[p], var[p] = m[kk - 1], v[kk - 1]
    return mean, var


def _slice(c: Candidates, start: int, n: int) -> Candidates:
    """One problem's candidates, groups renumbered 0..G-1 (non-voters -1), index = arrival rank."""
    part = slice(start, start + n)
    votes = c.votes[part]
    group = np.full(n, -1, np.int64)
    group[votes] = np.unique(c.group[part][votes], return_inverse=True)[1]
    return Candidates(votes, group, c.weight[part], c.correct[part])


def _order_statistics(c: Candidates, n: int, ks: np.ndarray) -> np.ndarray:
    voters = np.flatnonzero(c.votes)
    order = voters[np.lexsort((voters, -c.weight[voters]))]  # reward descending, then arrival
    logfact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])
    rest = n - 1 - np.arange(len(order))[:, None]  # samples that are neither voter j nor above it
    feasible = rest >= ks[None, :] - 1
    rest_k = np.where(feasible, rest - ks[None, :] + 1, 0)
    log_p = (logfact[np.where(feasible, rest, 0)] - logfact[ks - 1][None, :] - logfact[rest_k]
             - (logfact[n] - logfact[ks] - logfact[n - ks])[None, :])
    return (np.where(feasible, np.exp(log_p), 0.0) * c.correct[order][:, None]).sum(axis=0)


def _all_subsets(c: Candidates, n: int) -> np.ndarray:
    """(n,) exact mean correctness over all subsets of each size 1..n."""
    masks = ((np.arange(1 << n)[:, None] >> np.arange(n)) & 1).astype(bool)[1:]
    groups = int(c.group.max()) + 1
    if groups == 0:
        return np.zeros(n)
    member = np.zeros((n, groups), bool)
    member[c.votes, c.group[c.votes]] = True
    present = masks @ member
    strength = np.where(present, masks @ (member * c.weight[:, None]), -np.inf)
    earliest = np.where(masks[:, :, None] & member[None], np.arange(n)[None, :, None], n).min(axis=1)
    top = strength == strength.max(axis=1, keepdims=True)
    pick = np.where(present & top, earliest, n).argmin(axis=1)
    group_correct = np.zeros(groups, bool)
    group_correct[c.group[c.votes]] = c.correct[c.votes]
    value = np.where(present.any(axis=1), group_correct[pick], False)
    size = masks.sum(axis=1)
    return np.bincount(size, weights=value, minlength=n + 1)[1:] / np.bincount(size, minlength=n + 1)[1:]


def _random_orderings(c: Candidates, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(n,) mean correctness of the prefixes of R random orderings, and its variance (R draws)."""
    draws = max(MIN_DRAWS, min(DRAWS, MAX_ROWS // n))
    order = rng.permuted(np.tile(np.arange(n), (draws, 1)), axis=1).ravel()  # sample at each (draw, position)
    draw = np.repeat(np.arange(draws), n)
    votes = c.votes[order]
    seg = pd.Series(draw * n + c.group[order])[votes]  # one candidate of one ordering
    frame = pd.DataFrame({"seg": seg, "w": c.weight[order][votes], "r": order[votes]})
    grp = frame.groupby("seg", sort=False)
    sums = grp["w"].cumsum().to_numpy()  # in the ordering's order: the subset so far
    earliest = grp["r"].cummin().to_numpy()  # arrival rank of its earliest member so far
    # Counts are exact integers already; sums of rewards become their dense ranks (ties stay ties).
    unit = (c.weight == 1).all()
    strength = sums.astype(np.int64) if unit else np.unique(sums, return_inverse=True)[1].reshape(-1) + 1
    score = np.zeros(len(order), np.int64)
    score[votes] = strength * (n + 1) + (n - earliest)
    width = int(score.max()) + 1
    lead = np.maximum.accumulate(score + draw * width) - draw * width  # running leader per ordering
    pick = n - lead % (n + 1)
    value = np.where(lead > 0, c.correct[np.minimum(pick, n - 1)], False).reshape(draws, n).astype(float)
    mean, var = value.mean(axis=0), value.var(axis=0, ddof=1) / draws
    mean[0] = c.correct[c.votes].sum() / n  # k = 1: each sample alone, exactly
    var[0] = 0.0
    return mean, var


def _drawn_subsets(a: Arrivals, spec: SelectionMethod, ks: np.ndarray,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The method's own function on k-subsets of each problem's samples: all of them where there
    are at most SUBSET_DRAWS, else SUBSET_DRAWS uniform ones; their mean and its variance."""
    mean = np.zeros((len(a.count), len(ks)))
    var = np.zeros_like(mean)
    frame = set_frame(a) if spec.of_set is not None else None
    for p, (start, n) in enumerate(zip(a.start, a.count)):
        for j, k in enumerate(np.minimum(ks, n)):
            if n == 0:
                continue
            exact = comb(n, k) <= SUBSET_DRAWS
            picks = (list(itertools.combinations(range(n), k)) if exact
                     else [np.sort(rng.choice(n, k, replace=False)) for _ in range(SUBSET_DRAWS)])
            rows = [start + np.asarray(s, dtype=np.int64) for s in picks]
            if frame is not None:
                values = np.array([float(bool(spec.of_set(frame.iloc[r]))) for r in rows])
            else:
                values = _last_values(a, spec, rows)
            mean[p, j] = values.mean()
            var[p, j] = 0.0 if exact else values.var(ddof=1) / len(values)
    return mean, var


def _last_values(a: Arrivals, spec: SelectionMethod, rows: list[np.ndarray]) -> np.ndarray:
    """The method's step function on each subset of rows (in arrival order), read at its last
    arrival: one call, each subset a problem of its own."""
    idx = np.concatenate(rows)
    count = np.array([len(r) for r in rows], dtype=np.int64)
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    pcode = np.repeat(np.arange(len(rows)), count)
    correct = a.correct[idx]
    n_correct = pd.Series(correct.astype(np.int64)).groupby(pcode, sort=False).cumsum().to_numpy()
    sub = dataclasses.replace(a, problem_ids=np.arange(len(rows)), samples=a.samples.iloc[idx].reset_index(drop=True),
                              times=a.times[idx], pcode=pcode, rank=np.arange(len(idx)) - start[pcode], start=start,
                              count=count, correct=correct, n_correct=n_correct)
    sub.__dict__["classes"] = a.classes[idx]  # the cached property: classes are the problem's own
    return spec.pick(sub)[start + count - 1]
