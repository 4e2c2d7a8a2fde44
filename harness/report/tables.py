"""summary.md: the tables a reader copies into a paper (and the time-to-match columns of summary.csv)."""

from __future__ import annotations

import math

import pandas as pd

from harness.analysis.summary import answer_rates, on_clock_events
from harness.data import dataset_title
from harness.report.curves import LEVEL, N_BOOT, SEED, throughput
from harness.report.figures import fmt_seconds
from harness.report.runs import Run

MATCH_COLUMNS = ["reference", "reference_run", "reference_accuracy", "time_to_match_s", "ttm_ci_low", "ttm_ci_high",
                 "speedup", "speedup_ci_low", "speedup_ci_high", "reached_share", "match_n_problems"]


def with_match(table: pd.DataFrame, matched: pd.DataFrame) -> pd.DataFrame:
    """The summary rows at each run's budget get its time to match (inf: not reached; empty: not compared)."""
    if not len(matched):
        return table.reindex(columns=[*table.columns, *MATCH_COLUMNS])
    cols = matched.rename(columns={"n_problems": "match_n_problems"})[["dataset", "run", "method", *MATCH_COLUMNS]]
    out = table.merge(cols, on=["dataset", "run", "method"], how="left")
    out.loc[out["t_s"] != out["budget_s"], MATCH_COLUMNS] = None
    return out


def _secs(t: float) -> str:
    return "not reached" if t == math.inf else "–" if math.isnan(t) else f"{t:.3g}"


def _ratio(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.2f}×"


def match_markdown(matched: pd.DataFrame, dataset: str | None = None) -> str:
    """The time-to-match table of one dataset (of all of them when ``dataset`` is None)."""
    lines = []
    for ds, d in matched.groupby("dataset", sort=False):
        if dataset is not None and ds != dataset:
            continue
        first = d.iloc[0]
        lines += [f"### Time to match on {dataset_title(ds)}: {first['reference']} at "
                  f"{fmt_seconds(first['reference_budget_s'])} ({first['reference_run']})", "",
                  f"Seconds per problem each model needs to reach the reference's accuracy at its full budget, "
                  f"on the problems both finished; speed-up = the reference's own time to reach it ÷ the model's. "
                  f"[{LEVEL:.0%} bootstrap CI, problems resampled jointly, {N_BOOT} resamples, seed {SEED}]; "
                  "`reached` = share of resamples in which the model reaches it within its budget; a "
                  "target of 0 (the reference solved none) has nothing to match.", "",
                  "| method | model | budget | problems | target (%) | seconds to match | speed-up | reached |",
                  "|---|---|---|---|---|---|---|---|"]
        for row in d.itertuples():
            head = (f"| {row.method} | {row.label} | {fmt_seconds(row.budget_s)} | {row.n_problems} | "
                    f"{100 * row.reference_accuracy:.1f} | ")
            if row.reference_accuracy == 0:  # every model "reaches" 0 at 0 s: nothing is measured
                lines.append(head + "– (nothing to match) | – | – |")
                continue
            lines.append(head + f"{_secs(row.time_to_match_s)} "
                         f"[{_secs(row.ttm_ci_low)}, {_secs(row.ttm_ci_high)}] | "
                         + ("–" if row.time_to_match_s == math.inf else
                            f"{_ratio(row.speedup)} [{_ratio(row.speedup_ci_low)}, {_ratio(row.speedup_ci_high)}]")
                         + f" | {100 * row.reached_share:.0f}% |")
        lines.append("")
    return "\n".join(lines)


def _pct(v: float) -> str:
    return "–" if math.isnan(v) else f"{100 * v:.1f}"


def _num(v: float) -> str:
    return "–" if math.isnan(v) else f"{v:.3g}"


def audit_line(meta: dict) -> str:
    """What the grader audit of a run found, in one line (harness.grading.audit)."""
    if "audit" not in meta:
        return "not audited (graded before grader version 3)"
    audit = meta["audit"]
    if not audit:
        return "not audited (runner.audit=false)"
    if not audit["samples"]:
        return f"nothing to audit ({audit['by']})"
    return (f"{100 * audit['agreement']:.1f}% of {audit['samples']} samples graded alike by {audit['by']}; "
            f"{audit['disagreements']} disagree ({audit['only_ours_correct']} correct only by this grader, "
            f"{audit['only_math_verify_correct']} only by Math-Verify)")


def _on_clock(run: Run) -> str:
    """The runs table's cell: engine events on the problems' clocks (docs/architecture.md)."""
    events = on_clock_events(run.problems)
    if events is None:
        return "–"  # a run made before they were counted
    if not events:
        return "not counted"
    hit = sum(isinstance(e, dict) and any(e.values()) for e in run.problems["on_clock_events"])
    counts = ", ".join(f"{kind} {n}" for kind, n in events.items() if n)
    return f"{counts} ({hit} problem{'s' * (hit != 1)})" if counts else "none"


def summary_markdown(table: pd.DataFrame, runs: list[Run], matched: pd.DataFrame,
                     warnings: dict[str, str | None]) -> str:
    lines = ["# Results summary", "",
             f"Problems solved (%) at round wall-clock budgets per problem: mean over problems, "
             f"[{LEVEL:.0%} bootstrap CI over problems, {N_BOOT} resamples, seed {SEED}]. "
             "Methods are defined in docs/metrics.md; `samples` and `tokens` are the mean number of samples "
             "and of their generated tokens per problem finished by that time. Models are labelled "
             "`model (engine)`.", ""]
    for ds, d in table.groupby("dataset", sort=False):
        times = sorted(d["t_s"].unique())
        lines += [f"## {dataset_title(ds)}", ""]
        if warnings.get(ds):
            lines += [f"**Warning:** {warnings[ds]}", ""]
        lines += ["| model | device | problems | method | " + " | ".join(fmt_seconds(t) for t in times) + " |",
                  "|---|---|---|---|" + "---|" * len(times)]
        for label, g in d.groupby("label", sort=False):
            first = g.iloc[0]
            head = f"| {label} | {first['device']} | {first['n_problems']} |"
            per_t = g.drop_duplicates("t_s").set_index("t_s")
            for name, column, fmt in (("samples", "samples_per_problem", "{:.1f}"),
                                      ("tokens", "tokens_per_problem", "{:.0f}")):
                cells = {t: fmt.format(v) for t, v in per_t[column].items()}
                lines.append(f"{head} {name} | " + " | ".join(cells.get(t, "–") for t in times) + " |")
            for m, gm in g.groupby("method", sort=False):
                cells = {row.t_s: f"{100 * row.accuracy:.1f} [{100 * row.ci_low:.1f}, {100 * row.ci_high:.1f}]"
                         for row in gm.itertuples()}
                lines.append(f"{head} {m} | " + " | ".join(cells.get(t, "–") for t in times) + " |")
        lines.append("")
        if len(matched):
            lines.append(match_markdown(matched, ds))
    lines += ["## Runs: engines, answers, throughput", "",
              "`answered`: graded samples that state an answer (%); `cut`: samples stopped by max_new_tokens (%); "
              "engine classes and grader versions: docs/metrics.md (\"Engines, grader versions, answer rates\"); "
              "FLOPs and bytes per generated token: analytic (docs/metrics.md, \"Cost axes\"); `on-clock events`: "
              "slot allocations, CUDA-graph captures or engine preemptions inside a problem's clock (none in a "
              "normal run; docs/architecture.md).", "",
              "| dataset | model | engine class | device | grader | status | budget | answered | cut | "
              "tokens/sample | FLOPs/token | bytes/token | samples/s | tokens/s | concurrency | on-clock events | "
              "run directories |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        s = throughput(r)
        rates = answer_rates(r.samples)
        lines.append(f"| {dataset_title(r.dataset)} | {r.label} | {r.speed_class} | {r.device} | "
                     f"{r.grader} | {r.meta.get('status')} | {fmt_seconds(r.budget_s)} | "
                     f"{_pct(rates['answer_rate'])} | {_pct(rates['truncated_rate'])} | "
                     f"{r.samples['n_tokens'].mean() if len(r.samples) else 0:.1f} | {_num(s['flops_per_token'])} | "
                     f"{_num(s['bytes_per_token'])} | "
                     f"{s['samples_per_s']:.2f} | {s['tokens_per_s']:.1f} | {s['concurrency']:g} | {_on_clock(r)} | "
                     f"{', '.join(str(d) for d in r.dirs)} |")
    lines += ["", "## Grader audit", "",
              "Math-Verify's own pipeline (parse and verify, on each sample's text and the gold answer) grades "
              "the same samples after the run; each run directory's `grader_audit.jsonl` lists every "
              "disagreement (problem, sample, both answers, both verdicts). docs/grading.md, \"Grader audit\".", ""]
    lines += [f"- {r.label} ({', '.join(str(d) for d in r.dirs)}): {audit_line(r.meta)}" for r in runs]
    return "\n".join(lines) + "\n"
