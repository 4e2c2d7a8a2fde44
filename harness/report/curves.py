"""The reporter's numbers: every figure's series and every table's cells, as DataFrames.

A figure is drawn from exactly the frame ``series`` returns, and that frame is written beside
it as CSV, so what a figure shows can be checked against harness.analysis.selection directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis import selection as sel
from harness.analysis import subsets
from harness.analysis.summary import answer_rates
from harness.report.runs import Run

ROUND_BUDGETS_S = (1, 10, 60, 300, 600, 1800, 3600)
N_BOOT, SEED, LEVEL = 1000, 0, 0.95
CURVE_POINTS = 240  # points of a curve against time (evenly spaced) or a cost (log-spaced)


def x_curve(run: Run, method: str, xs: np.ndarray, key: sel.KeyFn | None, x: str = "time") -> tuple[np.ndarray, ...]:
    """Mean and band of ``method`` at each x: seconds, or cumulative tokens / FLOPs / bytes per problem."""
    return sel.mean_ci(sel.at_times(run.steps(method, key, x), xs), N_BOOT, SEED, LEVEL)


def k_curve(run: Run, method: str, ks: np.ndarray, key: sel.KeyFn | None) -> tuple[np.ndarray, ...]:
    """Mean, band and standard error of ``method`` on k-subsets of each problem's samples
    (`harness.analysis.subsets`); the error is that of the subset sampling (0 where exact), the band the
    bootstrap over problems."""
    per_problem, var = subsets.at_k(run.arrivals(method, key), method, ks, seed=SEED)
    se = np.sqrt(var.sum(axis=0)) / max(len(per_problem), 1)
    return (*sel.mean_ci(per_problem, N_BOOT, SEED, LEVEL), se)


def methods_of(runs: list[Run]) -> list[str]:
    """The methods any of these runs can show, in display order (one panel each)."""
    return [m for m in sel.METHODS if any(m in r.methods for r in runs)]


def x_end(run: Run, x: str, key: sel.KeyFn | None) -> float:
    """Where a run's curve ends: its budget, or its largest per-problem cost within the budget."""
    return run.budget_s if x == "time" else float(run.steps("coverage", key, x).times.max(initial=0.0))


def x_grid(runs: list[Run], x: str, key: sel.KeyFn | None) -> np.ndarray:
    """Time: evenly spaced from 0 to the largest budget (a linear axis). A cost, which spans orders
    of magnitude: log-spaced from just before the first finished sample to the largest end."""
    hi = max(max(x_end(r, x, key) for r in runs), 1e-9)
    if x == "time":
        return np.linspace(0.0, hi, CURVE_POINTS)
    first = min(float(r.steps("coverage", key, x).times.min(initial=hi)) for r in runs)
    return np.geomspace(max(first / 2, hi * 1e-4), hi, CURVE_POINTS)


def k_grid(kmax: int) -> np.ndarray:
    # Every k while few, log-spaced beyond: thousands of samples need no thousands of points.
    return np.arange(1, kmax + 1) if kmax <= 256 else np.unique(np.geomspace(1, kmax, 256).round().astype(int))


def series(runs: list[Run], axis: str, key: sel.KeyFn | None) -> pd.DataFrame:
    """One row per (method, run, x) of a dataset's figure: x is seconds ("time"), a cumulative
    cost per problem (COST_AXES) or the sample count k ("k"); ``se`` is the standard error of
    the subset sampling on the k axis (0 where exact, and on the other axes)."""
    rows = []
    grid = None if axis == "k" else x_grid(runs, axis, key)
    for m in methods_of(runs):
        for r in runs:
            if m not in r.methods:
                continue
            if axis == "k":
                xs = k_grid(max(int(r.steps("coverage", key).count.max()), 1))
                mean, lo, hi, se = k_curve(r, m, xs, key)
            else:
                end = x_end(r, axis, key)
                xs = np.append(grid[grid < end], end)
                mean, lo, hi = x_curve(r, m, xs, key, axis)
                se = np.zeros(len(xs))  # arrivals are read, not sampled
            rows += [{"method": m, "label": r.label, "run": r.name, "engine": r.engine, "x": x, "accuracy": a,
                      "ci_low": low, "ci_high": high, "se": e} for x, a, low, high, e in zip(xs, mean, lo, hi, se)]
    return pd.DataFrame(rows, columns=["method", "label", "run", "engine", "x", "accuracy", "ci_low", "ci_high", "se"])


def summary_times(budget_s: float) -> list[float]:
    return [float(t) for t in ROUND_BUDGETS_S if t < budget_s] + [budget_s]


def summary_table(runs: list[Run], key: sel.KeyFn | None) -> pd.DataFrame:
    rows = []
    for r in runs:
        times = np.array(summary_times(r.budget_s))
        arrived = sel.arrived(r.steps("coverage", key), times).mean(axis=0)
        done = r.samples["t_end_s"].to_numpy()[:, None] <= times  # (samples, times)
        tokens = r.samples["n_tokens"].to_numpy(dtype=float) @ done / len(r.problems)
        per_run = {"dataset": r.dataset, "model": r.model, "engine": r.engine,
                   "engine_class": r.speed_class, "label": r.label, "device": r.device, "run": r.name,
                   "status": r.meta.get("status"), "grader": r.grader, "n_problems": len(r.problems),
                   "budget_s": r.budget_s, **answer_rates(r.samples)}
        for m in r.methods:
            mean, lo, hi = x_curve(r, m, times, key)
            for j, t in enumerate(times):
                rows.append({**per_run, "t_s": t, "samples_per_problem": float(arrived[j]),
                             "tokens_per_problem": float(tokens[j]), "method": m, "accuracy": mean[j],
                             "ci_low": lo[j], "ci_high": hi[j]})
    return pd.DataFrame(rows)


def throughput(run: Run) -> dict[str, float]:
    """Measured speed, and the analytic FLOPs / bytes per generated token (NaN where not available)."""
    p = run.problems
    wall = float(p["wall_s"].sum())
    tokens = float(run.samples["n_tokens"].sum())
    per_token = {f"{x}_per_token": run.cost_of_samples(x) / tokens if tokens and not run.missing_cost(x)
                 else float("nan") for x in ("flops", "bytes")}
    return {"samples_per_s": float(p["n_samples"].sum()) / wall if wall else 0.0,
            "tokens_per_s": float(p["gen_tokens"].sum()) / wall if wall else 0.0,
            "concurrency": float(p["concurrency"].median()) if len(p) else 0.0, **per_token}


def throughput_table(runs: list[Run]) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": r.dataset, "label": r.label, "device": r.device, "run": r.name, **throughput(r)}
                         for r in runs])
