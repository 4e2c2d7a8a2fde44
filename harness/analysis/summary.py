"""The closing summary of a run: throughput, the answer rate and, once graded, coverage and accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import plugins
from harness.store import RunStore, read_run

if TYPE_CHECKING:
    import pandas as pd


def answer_rates(trajectories: pd.DataFrame) -> dict[str, float]:
    """Share of graded samples that state an answer (pred not null), and of samples cut by
    max_new_tokens (finish_reason "length"); NaN where there is nothing to count."""
    graded = trajectories["correct"].notna()
    return {"answer_rate": float(trajectories.loc[graded, "pred"].notna().mean()) if graded.any() else float("nan"),
            "truncated_rate": float(trajectories["finish_reason"].eq("length").mean()) if len(trajectories)
            else float("nan")}


def on_clock_events(problems: pd.DataFrame) -> dict[str, int] | None:
    """Engine events (allocations, graph captures, preemptions) on the problems' clocks, summed by
    kind; None where no problem recorded them (runs made before they were counted)."""
    recorded = [e for e in problems["on_clock_events"] if isinstance(e, dict)] if len(problems) else []
    if not recorded:
        return None
    return {kind: sum(e.get(kind, 0) for e in recorded) for kind in dict.fromkeys(k for e in recorded for k in e)}


def summarize_run(run_dir: str | Path) -> dict[str, Any]:
    """Numbers of a run's finished problems (the runner stores them as ``summary`` in run.json)."""
    meta, problems, trajectories = read_run(run_dir)
    n = len(problems)
    wall = float(problems["wall_s"].sum()) if n else 0.0
    summary: dict[str, Any] = {
        "problems": n,
        "samples": int(problems["n_samples"].sum()) if n else 0,
        "samples_per_problem": round(float(problems["n_samples"].mean()), 2) if n else 0.0,
        "aborted_per_problem": round(float(problems["n_aborted"].mean()), 2) if n else 0.0,
        "samples_per_s": round(float(problems["n_samples"].sum()) / wall, 2) if wall else 0.0,
        "tokens_per_s": round(float(problems["gen_tokens"].sum()) / wall, 1) if wall else 0.0,
    }
    events = on_clock_events(problems)
    if events is not None:
        summary["on_clock_events"] = events
    graded = trajectories["correct"].notna()
    if len(trajectories):  # once graded: how many samples state an answer at all
        rates = answer_rates(trajectories)
        summary["truncated_rate"] = round(rates["truncated_rate"], 4)
        if graded.all():
            summary["answer_rate"] = round(rates["answer_rate"], 4)
    if n and graded.all():
        from harness.analysis.methods import reward_methods
        from harness.analysis.selection import summarize

        plugins.load_for(meta["config"])  # a plugin's method, named in the run's config
        methods = list(meta["config"]["selection"]["methods"])
        if trajectories["reward"].isna().any():  # not scored (yet): no numbers for the methods that need rewards
            methods = [m for m in methods if m not in reward_methods(methods)]
        accuracy = summarize(trajectories, float(problems["budget_s"].max()), methods,
                             problem_ids=list(problems["problem_id"]))
        summary.update({name: round(float(value), 4) for name, value in accuracy.items()})
    if (meta.get("audit") or {}).get("agreement") is not None:  # how far Math-Verify agrees with the grades
        summary["audit_agreement"] = meta["audit"]["agreement"]
    return summary


def refresh_summary(store: RunStore) -> None:
    """Recompute a finished run's stored summary once its grades or rewards were rewritten (which
    drops it: harness.store), through the run's store."""
    if store.meta.get("status") == "done":
        store.update_meta(summary=summarize_run(store.dir))


def format_summary(summary: dict[str, Any]) -> str:
    return "  ".join(f"{key}={value}" for key, value in summary.items())

