"""The reporter: runs under results/ -> figures, summary.md and summary.csv under plots/.

``python -m harness.report [RUN_DIR ...] [--out DIR] [--partial]``. Shards of one run (configs
equal except ``data.shard``) are merged first; curves average over problems with a seeded
percentile bootstrap band over problems (harness.selection; definitions in docs/metrics.md).
Every figure's data is written beside it as CSV.

Modules: ``runs`` (reading, merging shards, labels), ``curves`` (the numbers), ``figures``,
``tables`` (summary.md), ``__main__`` (the CLI).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from harness import selection as sel
from harness.report.curves import N_BOOT, SEED, series, summary_table, throughput_table
from harness.report.figures import plot_curves, plot_throughput
from harness.report.runs import ReportError, Run, find_run_dirs, label_runs, merge_shards, read_runs
from harness.report.tables import summary_markdown

__all__ = ["N_BOOT", "SEED", "ReportError", "Run", "find_run_dirs", "merge_shards", "read_runs", "write_report"]


def write_report(paths: Sequence[Path], out: Path, partial: bool = False, key: sel.KeyFn | None = None) -> list[Path]:
    """Read, merge and report the runs under ``paths`` into ``out``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    try:
        runs = merge_shards(read_runs(find_run_dirs(paths)), partial)
    except ValueError as err:  # a corrupt results file: harness.store names file and line
        raise ReportError(str(err)) from None
    for r in runs:
        if not len(r.problems):
            print(f"report: {r.name} has no finished problems; left out", file=sys.stderr)
        elif not r.samples["correct"].notna().all():
            print(f"report: {r.name} has ungraded samples; they count as wrong", file=sys.stderr)
    runs = [r for r in runs if len(r.problems)]
    if not runs:
        raise ReportError(f"no results: no finished problems in any run under {', '.join(map(str, paths))}")
    runs.sort(key=lambda r: (r.dataset, r.config["model"]["name"], r.budget_s, r.name))
    label_runs(runs)
    cmap = matplotlib.colormaps["tab10"]
    colors = {lab: cmap(i % 10) for i, lab in enumerate(dict.fromkeys(r.label for r in runs))}
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    by_dataset: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        by_dataset[r.dataset].append(r)
    for group in by_dataset.values():
        for axis in ("time", "k"):
            files += plot_curves(series(group, axis, key), group, axis, out, colors)
    files += plot_throughput(throughput_table(runs), runs, out, colors)
    table = summary_table(runs, key)
    table.to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(summary_markdown(table, runs), encoding="utf-8")
    return files + [out / "summary.csv", out / "summary.md"]
