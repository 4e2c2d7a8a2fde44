"""summary.md: the tables a reader copies into a paper."""

from __future__ import annotations

import pandas as pd

from harness.report.curves import LEVEL, N_BOOT, SEED, throughput
from harness.report.figures import fmt_seconds
from harness.report.runs import DATASETS, Run


def summary_markdown(table: pd.DataFrame, runs: list[Run]) -> str:
    lines = ["# Results summary", "",
             f"Problems solved (%) at round wall-clock budgets per problem: mean over problems, "
             f"[{LEVEL:.0%} bootstrap CI over problems, {N_BOOT} resamples, seed {SEED}]. "
             "Methods are defined in docs/metrics.md; `samples` is the mean number of samples "
             "per problem finished by that time.", ""]
    for ds, d in table.groupby("dataset", sort=False):
        times = sorted(d["t_s"].unique())
        lines += [f"## {DATASETS.get(ds, ds)}", "",
                  "| model | device | problems | method | " + " | ".join(fmt_seconds(t) for t in times) + " |",
                  "|---|---|---|---|" + "---|" * len(times)]
        for label, g in d.groupby("label", sort=False):
            first = g.iloc[0]
            head = f"| {label} | {first['device']} | {first['n_problems']} |"
            cells = {t: f"{v:.1f}" for t, v in g.drop_duplicates("t_s").set_index("t_s")["samples_per_problem"].items()}
            lines.append(f"{head} samples | " + " | ".join(cells.get(t, "–") for t in times) + " |")
            for m, gm in g.groupby("method", sort=False):
                cells = {row.t_s: f"{100 * row.accuracy:.1f} [{100 * row.ci_low:.1f}, {100 * row.ci_high:.1f}]"
                         for row in gm.itertuples()}
                lines.append(f"{head} {m} | " + " | ".join(cells.get(t, "–") for t in times) + " |")
        lines.append("")
    lines += ["## Throughput and runs", "",
              "| dataset | model | device | status | budget | samples/s | tokens/s | concurrency | run directories |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        s = throughput(r)
        lines.append(f"| {DATASETS.get(r.dataset, r.dataset)} | {r.label} | {r.device} | {r.meta.get('status')} | "
                     f"{fmt_seconds(r.budget_s)} | {s['samples_per_s']:.2f} | {s['tokens_per_s']:.1f} | "
                     f"{s['concurrency']:g} | {', '.join(str(d) for d in r.dirs)} |")
    return "\n".join(lines) + "\n"
