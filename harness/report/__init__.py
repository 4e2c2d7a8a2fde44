"""The reporter: runs under results/ -> figures, summary.md and summary.csv under plots/.

``python -m harness.report [RUN_DIR ...] [--out DIR] [--partial] [--x time tokens flops bytes]
[--reference MODEL]``. Shards of one run (configs equal except ``data.shard``) are merged first;
curves average over problems with a seeded percentile bootstrap band over problems
(harness.analysis.selection), against wall-clock time or a cost per problem (generated tokens, analytic
FLOPs or bytes: harness.analysis.cost), and against samples. The time to match a reference model is
printed and tabled. Definitions: docs/metrics.md. Every figure's data is written beside it as CSV.

Modules: ``runs`` (reading, merging shards, labels, engines, graders), ``curves`` (the numbers),
``match`` (time to match), ``figures``, ``tables`` (summary.md), ``__main__`` (the CLI).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from harness.analysis import selection as sel
from harness.data import dataset_title
from harness.errors import UserError
from harness.report.curves import N_BOOT, SEED, series, summary_table, throughput_table
from harness.report.figures import plot_curves, plot_throughput
from harness.report.match import match_table
from harness.report.runs import (COST_AXES, ReportError, Run, by_dataset, check_graders, engine_warning,
                                 find_run_dirs, label_runs, merge_shards, read_runs)
from harness.report.tables import match_markdown, summary_markdown, with_match

X_AXES = ("time", *COST_AXES)

__all__ = ["N_BOOT", "SEED", "ReportError", "Run", "curve_frames", "find_run_dirs", "load_runs", "merge_shards",
           "read_runs", "tables", "write_report"]


def load_runs(paths: Sequence[Path], partial: bool = False) -> list[Run]:
    """The runs under ``paths`` as the report shows them: read, graders checked, shards merged, runs
    without a finished problem left out, sorted and labelled (warnings to stderr)."""
    try:
        raw = read_runs(find_run_dirs(paths))
    except UserError as err:  # a corrupt results file: harness.store names file and line
        raise ReportError(str(err)) from None
    for ds, group in by_dataset([r for r in raw if len(r.problems)]).items():
        check_graders(group, dataset_title(ds))
    runs = merge_shards(raw, partial)
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
    return runs


def curve_frames(runs: list[Run], axis: str, key: sel.KeyFn | None = None) -> dict[str, tuple[list[Run], pd.DataFrame]]:
    """Per dataset, the runs its figure against ``axis`` draws and the frame it draws (``series``);
    a run without the cost ``axis`` needs is left off, saying why on stderr."""
    frames = {}
    for ds, group in by_dataset(runs).items():
        drawn = [r for r in group if r.missing_cost(axis) is None]
        for r in group:
            if r not in drawn:
                print(f"report: {r.name} left off the {axis} figure: {r.missing_cost(axis)}", file=sys.stderr)
        if drawn:
            frames[ds] = (drawn, series(drawn, axis, key))
    return frames


def tables(runs: list[Run], reference: str | None = None,
           key: sel.KeyFn | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """summary.csv's frame (with each run's time to match at its budget) and the time-to-match table."""
    matched = match_table(runs, reference, key)
    return with_match(summary_table(runs, key), matched), matched


def write_report(paths: Sequence[Path], out: Path, partial: bool = False, key: sel.KeyFn | None = None,
                 xs: Sequence[str] = ("time",), reference: str | None = None) -> list[Path]:
    """Read, merge and report the runs under ``paths`` into ``out``; returns the files written.

    ``xs``: the x axes of the accuracy figures (X_AXES; the figure against samples is always made).
    ``reference``: the model whose accuracy others must match (default: match.pick_reference's rule).
    Warnings go to stderr, the time-to-match table to stdout.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    runs = load_runs(paths, partial)
    cmap = matplotlib.colormaps["tab10"]
    colors = {lab: cmap(i % 10) for i, lab in enumerate(dict.fromkeys(r.label for r in runs))}
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    warnings = {ds: engine_warning(group, dataset_title(ds)) for ds, group in by_dataset(runs).items()}
    for warning in filter(None, warnings.values()):
        print(f"report: warning: {warning}", file=sys.stderr)
    for axis in (*dict.fromkeys(xs), "k"):
        for ds, (drawn, frame) in curve_frames(runs, axis, key).items():
            files += plot_curves(frame, drawn, axis, out, colors, warnings[ds] if axis == "time" else None)
    files += plot_throughput(throughput_table(runs), runs, out, colors)
    table, matched = tables(runs, reference, key)
    table.to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(summary_markdown(table, runs, matched, warnings), encoding="utf-8")
    if len(matched):
        print(match_markdown(matched))
    return files + [out / "summary.csv", out / "summary.md"]
