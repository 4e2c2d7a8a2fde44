"""Selection against the sample count k: each method's expected value over the k-subsets of a
problem's n samples (docs/metrics.md, "Against the sample count").

The first k arrivals are a problem's k *shortest* samples, so a curve over them measures short
answers, not k samples. Here every method is the mean over all C(n, k) subsets of the samples
within the budget (all n of them where k >= n):

- coverage: pass@k, exact (`harness.analysis.selection.pass_at_k`);
- best_of_n: exact by order statistics: the subset's pick is its first voter in the order
  (reward descending, arrival ascending), so voter j of that order is picked with probability
  C(n - 1 - j, k - 1) / C(n, k);
- majority, rm_weighted: exact over all 2^n subsets for n <= EXACT_N; beyond, the mean over the
  prefixes of R random orderings of the samples (each prefix of length k is a uniform k-subset),
  with its standard error; k = 1 and k >= n are exact.

Within a subset a candidate's strength is its vote count (rm_weighted: its sum of rewards); ties
go to the candidate whose earliest member *in the subset* arrived first, as on the time axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from harness.analysis.selection import Arrivals, Candidates, candidates, pass_at_k

EXACT_N = 12  # 4,096 subsets: every one is evaluated
DRAWS = 256  # random orderings per problem beyond EXACT_N samples ...
MAX_ROWS = 50_000  # ... fewer for large n (at least MIN_DRAWS), to bound the work per problem
MIN_DRAWS = 32


def at_k(a: Arrivals, method: str, ks: Sequence[int] | np.ndarray, *, seed: int = 0,
         exact_n: int = EXACT_N) -> tuple[np.ndarray, np.ndarray]:
    """(P, K) expected correctness of ``method`` on k-subsets of each problem's samples, and the
    (P, K) variance of each estimate (0 where it is exact)."""
    ks = np.asarray(ks, dtype=np.int64)
    if (ks < 1).any():
        raise ValueError(f"k must be >= 1, got {ks.min()}")
    mean = np.zeros((len(a.count), len(ks)))
    var = np.zeros_like(mean)
    if method == "coverage":
        last = a.start + a.count - 1
        c = np.where(a.count > 0, a.n_correct[np.clip(last, 0, None)] if len(a.n_correct) else 0, 0)
        return np.stack([pass_at_k(a.count, c, int(k)) for k in ks], axis=1), var
    cand = candidates(a, method)
    if cand is None:
        return mean, var
    rng = np.random.default_rng(seed)
    for p, (start, n) in enumerate(zip(a.start, a.count)):
        if n == 0:
            continue
        mine = _slice(cand, start, n)
        kk = np.minimum(ks, n)
        if method == "best_of_n":
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
