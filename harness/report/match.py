"""Time to match: the seconds per problem each model needs to reach a reference's accuracy.

Per dataset and method, on the problems both runs finished: the target is the reference's mean
accuracy at its full budget; a run's time to match is the first arrival time at which its own
mean accuracy reaches the target (inf: not within its budget); the speed-up is the reference's
own time to reach the target divided by the run's. The interval resamples problems jointly for
both runs (the same multinomial weights, as harness.analysis.selection.mean_ci draws them). Estimator and
reference rule: docs/metrics.md ("Time to match").
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from harness.analysis import cost
from harness.analysis import selection as sel
from harness.data import dataset_title
from harness.report.curves import LEVEL, N_BOOT, SEED
from harness.report.runs import ReportError, Run, by_dataset

# Bootstrap rows x events held at once while scanning a curve (bounds memory on long runs).
CHUNK_CELLS = 1 << 22


def boot_weights(n_problems: int) -> np.ndarray:
    """(1 + N_BOOT, P) problem weights: row 0 the sample itself, then mean_ci's resamples."""
    w = np.random.default_rng(SEED).multinomial(n_problems, np.full(n_problems, 1.0 / n_problems), size=N_BOOT)
    return np.vstack([np.ones((1, n_problems), np.int64), w])


def reach_times(st: sel.Steps, columns: np.ndarray, weights: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(R,) first x at which ``weights[r] @ value_p(x)`` reaches ``targets[r]`` (inf: never).

    ``columns[p]`` is the weight column of the step function's problem p (-1: not compared).
    The weighted sum changes only where a problem's value changes, so it is scanned over those
    events alone, all events at one x applied together; sums are of integers, so exact.
    """
    value = st.value.astype(np.int64)
    first = np.zeros(len(value), bool)
    first[st.start[st.count > 0]] = True
    delta = value - np.where(first, 0, np.roll(value, 1))  # change at each arrival within its problem
    event = (delta != 0) & (columns[st.pcode] >= 0)
    col, delta, x = columns[st.pcode[event]], delta[event], st.times[event]
    order = np.argsort(x, kind="stable")
    col, delta, x = col[order], delta[order], x[order]
    out = np.where(targets <= 0, 0.0, np.inf)  # nothing arrived: every method is wrong, so 0 reaches only 0
    if not len(x):
        return out
    last = np.flatnonzero(np.append(x[1:] != x[:-1], True))  # the last event at each distinct x
    step = max(1, CHUNK_CELLS // max(len(delta), 1))
    for lo in range(0, len(weights), step):
        level = np.cumsum(weights[lo:lo + step][:, col] * delta, axis=1)[:, last]
        hit = level >= targets[lo:lo + step, None]
        reached = hit.any(axis=1) & (targets[lo:lo + step] > 0)
        out[lo:lo + step][reached] = x[last][hit.argmax(axis=1)[reached]]
    return out


def _interval(values: np.ndarray) -> tuple[float, float]:
    """Percentile interval; no interpolation between replicates, so "not reached" (inf) ones order
    correctly. NaN replicates (a target of 0, where no speed-up is defined) are left out."""
    if np.isnan(values).all():
        return np.nan, np.nan
    lo, hi = np.nanquantile(values, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], method="inverted_cdf")
    return float(lo), float(hi)


def match(ref: Run, run: Run, method: str, key: sel.KeyFn | None) -> dict[str, float] | None:
    """Time to match and speed-up of ``run`` against ``ref`` (None: no problem in common)."""
    common = pd.Index(ref.problems["problem_id"]).intersection(pd.Index(run.problems["problem_id"]), sort=False)
    if not len(common):
        return None
    weights = boot_weights(len(common))
    st_ref, st_run = ref.steps(method, key), run.steps(method, key)
    ref_cols = pd.Index(common).get_indexer(st_ref.problem_ids)
    ref_final = np.zeros(len(common), np.int64)
    ref_final[ref_cols[ref_cols >= 0]] = sel.at_times(st_ref, [ref.budget_s])[ref_cols >= 0, 0].astype(np.int64)
    targets = weights @ ref_final
    t_ref = reach_times(st_ref, ref_cols, weights, targets)
    t_run = reach_times(st_run, pd.Index(common).get_indexer(st_run.problem_ids), weights, targets)
    with np.errstate(divide="ignore", invalid="ignore"):
        speedup = t_ref / t_run  # not reached (inf) -> 0; both 0 (a target of 0) -> NaN
    return {"n_problems": len(common), "reference_accuracy": targets[0] / len(common),
            "time_to_match_s": t_run[0], **dict(zip(("ttm_ci_low", "ttm_ci_high"), _interval(t_run[1:]))),
            "speedup": speedup[0], **dict(zip(("speedup_ci_low", "speedup_ci_high"), _interval(speedup[1:]))),
            "reached_share": float(np.isfinite(t_run[1:]).mean())}


def _size(run: Run) -> int:
    return cost.counts(run.shape).step_params if run.shape else 0


def _best(runs: list[Run]) -> Run:
    """Of several runs, the one with the largest budget; ties: an optimized engine, more parameters,
    more problems, then the first run name in sort order (max keeps the first of equals)."""
    return max(sorted(runs, key=lambda r: r.name),
               key=lambda r: (r.budget_s, r.speed_class == "optimized", _size(r), len(r.problems)))


def pick_reference(runs: list[Run], reference: str | None) -> Run | None:
    """The reference run of one dataset: of ``reference``'s runs (a model name, "model (engine)", or
    a whole legend label such as "smollm2 (hf), model.dtype=bfloat16"), else of the Transformer runs
    (all layers attention; else of all runs), the one ``_best`` picks. None: ``reference`` has no run there."""
    if reference is not None:
        mine = [r for r in runs if reference in (r.model, f"{r.model} ({r.engine})", r.label)]
        return _best(mine) if mine else None
    return _best([r for r in runs if r.is_transformer] or runs)


def contenders(runs: list[Run]) -> list[Run]:
    """One run per model and engine: its largest budget (a shorter run of the same model measures
    a prefix of the same curve); runs tied on budget are all kept."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.model, r.engine), []).append(r)
    return [r for g in groups.values() for r in g if r.budget_s == max(q.budget_s for q in g)]


def match_table(runs: list[Run], reference: str | None, key: sel.KeyFn | None) -> pd.DataFrame:
    """Time to match, one row per (dataset, method, contender); ``reference`` as in pick_reference.
    A dataset with one model and engine alone (a single run's own report) gets no rows."""
    rows = []
    found = False
    for ds, group in by_dataset(runs).items():
        ref = pick_reference(group, reference)
        if ref is None:
            models = ", ".join(sorted({r.model for r in group}))
            print(f"report: no run of --reference {reference} in {dataset_title(ds)} (models there: {models}); "
                  "no time to match for it", file=sys.stderr)
            continue
        found = True
        compared = contenders(group)
        if len(compared) < 2:  # one model alone: its own reference, nothing to compare
            continue
        for m in ref.methods:
            for r in compared:
                got = match(ref, r, m, key) if m in r.methods else None
                if got is not None:
                    rows.append({"dataset": ds, "method": m, "reference": ref.label, "reference_run": ref.name,
                                 "reference_budget_s": ref.budget_s, "label": r.label, "run": r.name,
                                 "budget_s": r.budget_s, **got})
    if reference is not None and not found:
        raise ReportError(f"--reference {reference}: no run of that model; models: "
                          + ", ".join(sorted({r.model for r in runs})))
    return pd.DataFrame(rows)
