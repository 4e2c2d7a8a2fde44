"""The reporter: runs under results/ -> figures, summary.md and summary.csv under plots/.

``python -m harness.report [RUN_DIR ...] [--out DIR] [--partial]``. Shards of one run (configs
equal except ``data.shard``) are merged first; curves average over problems with a seeded
percentile bootstrap band over problems (harness.selection; definitions in docs/metrics.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import selection as sel
from harness.store import config_diff, flatten, read_run

DATASETS = {"gsm8k": "GSM8K", "math500": "MATH-500", "math": "MATH"}
TITLES = {"coverage": "Coverage (any sample correct)", "majority": "Majority vote",
          "rm_weighted": "Reward-weighted vote", "best_of_n": "Best-of-N by reward"}
ROUND_BUDGETS_S = (1, 10, 60, 300, 600, 1800, 3600)
N_BOOT, SEED, LEVEL = 1000, 0, 0.95
# Keys that may differ between shards of one run: which shard, and how it was resumed.
SHARD_FREE_KEYS = ("data.shard", "run.resume")


class ReportError(Exception):
    """A one-line reason the report can't be made."""


@dataclass
class Run:
    dirs: list[Path]
    meta: dict[str, Any]
    problems: pd.DataFrame
    samples: pd.DataFrame
    label: str = ""
    _steps: dict[str, sel.Steps] = field(default_factory=dict, repr=False)

    @property
    def config(self) -> dict[str, Any]:
        return self.meta["config"]

    @property
    def dataset(self) -> str:
        return str(self.config["data"]["name"])

    @property
    def name(self) -> str:
        return self.dirs[0].name + (f" (+{len(self.dirs) - 1} shards)" if len(self.dirs) > 1 else "")

    @property
    def budget_s(self) -> float:
        if len(self.problems):
            return float(self.problems["budget_s"].max())
        from harness.budget import parse_budget

        return parse_budget(self.config["budget"])

    @property
    def reward_time(self) -> bool:
        return bool(((self.config.get("selection") or {}).get("reward") or {}).get("time_on_axis", True))

    @property
    def methods(self) -> tuple[str, ...]:
        return sel.METHODS if sel.has_rewards(self.samples) else ("coverage", "majority")

    @property
    def device(self) -> str:
        hw = self.meta.get("hardware") or {}
        return str(hw.get("gpu") or "CPU")

    def steps(self, method: str, key: sel.KeyFn | None) -> sel.Steps:
        if method not in self._steps:  # built once, then read at any t or k
            self._steps[method] = sel.steps(self.samples, method, budget_s=self.budget_s, key=key,
                                            problem_ids=list(self.problems["problem_id"]), reward_time=self.reward_time)
        return self._steps[method]


# ---------------------------------------------------------------- reading and merging

def find_run_dirs(paths: Sequence[Path]) -> list[Path]:
    """Run directories given directly or found anywhere below the given folders."""
    found: list[Path] = []
    for p in paths:
        found += [p] if (p / "run.json").is_file() else sorted(q.parent for q in p.rglob("run.json"))
    return list(dict.fromkeys(found))


def read_runs(dirs: Sequence[Path]) -> list[Run]:

    runs = []
    for d in dirs:
        meta, problems, samples = read_run(d)
        runs.append(Run([d], meta, problems, samples))
    return runs


def _identity(run: Run) -> str:
    flat = flatten(run.config)
    return json.dumps({k: v for k, v in flat.items() if not k.startswith(SHARD_FREE_KEYS)}, sort_keys=True, default=str)


def _shard(run: Run) -> tuple[int, int] | None:
    from harness.data import parse_shard

    shard = run.config["data"].get("shard")
    return None if shard is None else parse_shard(shard)


def merge_shards(runs: list[Run], partial: bool = False) -> list[Run]:
    """One Run per experiment: shards with equal configs (but for SHARD_FREE_KEYS) concatenated.

    Refuses (ReportError) shards of one model and dataset whose configs differ, a missing or
    doubled shard, unless ``partial``: then each config group is plotted from what is there.
    """
    groups: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        groups[_identity(r) if _shard(r) else str(r.dirs[0])].append(r)
    merged = []
    for members in groups.values():
        shards = [_shard(r) for r in members]
        if shards[0] is None:
            merged += members
            continue
        names = ", ".join(str(r.dirs[0]) for r in members)
        counts = {n for _, n in shards}  # type: ignore[misc]
        have = [i for i, _ in shards]  # type: ignore[misc]
        if len(counts) > 1 or len(set(have)) < len(have):
            raise ReportError(f"shards {names} overlap (different shard counts or a shard twice); keep one of each")
        missing = sorted(set(range(counts.pop())) - set(have))
        if missing and not partial:
            me = members[0]
            kin = [r for r in runs if _shard(r) and r not in members and r.dataset == me.dataset
                   and r.config["model"]["name"] == me.config["model"]["name"]]
            if kin:
                diff = config_diff(me.config, kin[0].config, SHARD_FREE_KEYS)
                raise ReportError(f"shards with different configs: {me.dirs[0]} and {kin[0].dirs[0]} differ in "
                                  f"{', '.join(diff)}; rerun one, or --partial to plot them as separate runs")
            raise ReportError(f"missing shard(s) {', '.join(str(i) for i in missing)} of {names}; "
                              "run them, or --partial to plot what is there")
        members.sort(key=lambda r: _shard(r) or (0, 0))
        status = {r.meta.get("status", "?") for r in members}
        meta = dict(members[0].meta, status=status.pop() if len(status) == 1 else "mixed")
        merged.append(Run([r.dirs[0] for r in members], meta,
                          pd.concat([r.problems for r in members], ignore_index=True),
                          pd.concat([r.samples for r in members], ignore_index=True)))
    return merged


def _label(runs: list[Run]) -> None:
    """Legend labels: model (backend), made unique within a dataset by budget, then run name."""
    for r in runs:
        r.label = f"{r.config['model']['name']} ({r.config['model'].get('backend', '?')})"
    for extra in (lambda r: str(r.config.get("budget")), lambda r: r.name):
        seen: dict[tuple[str, str], int] = defaultdict(int)
        for r in runs:
            seen[(r.dataset, r.label)] += 1
        for r in runs:
            if seen[(r.dataset, r.label)] > 1:
                r.label += f", {extra(r)}"


# ---------------------------------------------------------------- numbers

def time_curve(run: Run, method: str, times: np.ndarray, key: sel.KeyFn | None) -> tuple[np.ndarray, ...]:
    return sel.mean_ci(sel.at_times(run.steps(method, key), times), N_BOOT, SEED, LEVEL)


def k_curve(run: Run, method: str, ks: np.ndarray, key: sel.KeyFn | None) -> tuple[np.ndarray, ...]:
    st = run.steps(method, key)
    per_problem = sel.pass_at_ks(st, ks) if method == "coverage" else sel.at_k(st, ks)
    return sel.mean_ci(per_problem, N_BOOT, SEED, LEVEL)


def summary_times(budget_s: float) -> list[float]:
    return [float(t) for t in ROUND_BUDGETS_S if t < budget_s] + [budget_s]


def summary_table(runs: list[Run], key: sel.KeyFn | None) -> pd.DataFrame:
    rows = []
    for r in runs:
        times = np.array(summary_times(r.budget_s))
        arrived = sel.arrived(r.steps("coverage", key), times).mean(axis=0)
        for m in r.methods:
            mean, lo, hi = time_curve(r, m, times, key)
            for j, t in enumerate(times):
                rows.append({"dataset": r.dataset, "model": r.config["model"]["name"],
                             "backend": r.config["model"].get("backend"), "label": r.label, "device": r.device,
                             "run": r.name, "status": r.meta.get("status"), "n_problems": len(r.problems),
                             "budget_s": r.budget_s, "t_s": t, "samples_per_problem": float(arrived[j]),
                             "method": m, "accuracy": mean[j], "ci_low": lo[j], "ci_high": hi[j]})
    return pd.DataFrame(rows)


def throughput(run: Run) -> dict[str, float]:
    p = run.problems
    wall = float(p["wall_s"].sum())
    return {"samples_per_s": float(p["n_samples"].sum()) / wall if wall else 0.0,
            "tokens_per_s": float(p["gen_tokens"].sum()) / wall if wall else 0.0,
            "concurrency": float(p["concurrency"].median()) if len(p) else 0.0}


# ---------------------------------------------------------------- figures

def _fmt_s(t: float) -> str:
    if t >= 3600 and t % 3600 == 0:
        return f"{t / 3600:g} h"
    if t >= 60 and t % 60 == 0:
        return f"{t / 60:g} min"
    return f"{t:g} s"


def _k_grid(kmax: int) -> np.ndarray:
    # Every k while few, log-spaced beyond: thousands of samples need no thousands of points.
    return np.arange(1, kmax + 1) if kmax <= 256 else np.unique(np.geomspace(1, kmax, 256).round().astype(int))


def _save(fig: Any, out: Path, stem: str) -> list[Path]:
    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})  # reproducible SVG
    return paths


def plot_dataset(runs: list[Run], axis: str, out: Path, key: sel.KeyFn | None, colors: dict[str, Any]) -> list[Path]:
    """One figure per dataset and x axis ("time" or "k"): a panel per selection method."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    ds = DATASETS.get(runs[0].dataset, runs[0].dataset)
    methods = [m for m in sel.METHODS if any(m in r.methods for r in runs)]
    devices = {r.device for r in runs}
    on = f" on {devices.pop()}" if len(devices) == 1 else ""
    fig, axes = plt.subplots(1, len(methods), figsize=(4.3 * len(methods), 4.6), sharey=True, squeeze=False,
                             layout="constrained")
    if axis == "time":
        t_hi = max(r.budget_s for r in runs)
        first = min(float(r.steps("coverage", key).times.min(initial=t_hi)) for r in runs)
        grid = np.geomspace(max(first / 2, t_hi * 1e-4), t_hi, 240)
        title = f"{ds}: accuracy vs wall-clock budget per problem{on}"
        note = ("x: seconds since the problem's clock started; reward methods also count scoring time"
                if any(r.reward_time for r in runs if "rm_weighted" in r.methods) else
                "x: seconds since the problem's clock started")
        xlabel = "wall-clock seconds per problem (log)"
    else:
        title = f"{ds}: accuracy vs samples per problem{on}"
        note = ("first k finished samples within the budget; a problem with fewer than k uses all it has; "
                "coverage panel: unbiased pass@k")
        xlabel = "samples per problem, k (log)"
    for ax, m in zip(axes[0], methods):
        for r in runs:
            if m not in r.methods:
                continue
            if axis == "time":
                xs = np.append(grid[grid < r.budget_s], r.budget_s)
                mean, lo, hi = time_curve(r, m, xs, key)
            else:
                xs = _k_grid(max(int(r.steps("coverage", key).count.max()), 1))
                mean, lo, hi = k_curve(r, m, xs, key)
            c = colors[r.label]
            ax.plot(xs, 100 * mean, color=c, drawstyle="steps-post", lw=1.8,
                    label=f"{r.label}, n={len(r.problems)} problems" + ("" if r.meta.get("status") == "done"
                                                                        else f" [{r.meta.get('status')}]"))
            ax.fill_between(xs, 100 * lo, 100 * hi, color=c, alpha=0.18, step="post", lw=0)
        ax.set_xscale("log", base=10 if axis == "time" else 2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_title("Coverage: pass@k" if axis == "k" and m == "coverage" else TITLES[m], fontsize=11)
        ax.set_xlabel(xlabel)
        ax.set_ylim(-2, 102)
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("problems solved (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle(title, fontsize=13)
    # The caption sits with the legend, under the panels, where a reader looks for the key.
    caption = textwrap.fill(f"{note}; shaded: {LEVEL:.0%} bootstrap CI over problems", 65 * len(methods))
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3), frameon=False,
               title=caption, title_fontsize=9)
    paths = _save(fig, out, f"{runs[0].dataset}_vs_{'time' if axis == 'time' else 'samples'}")
    plt.close(fig)
    return paths


def plot_throughput(runs: list[Run], out: Path, colors: dict[str, Any]) -> list[Path]:
    import matplotlib.pyplot as plt

    devices = {r.device for r in runs}
    on = f" on {devices.pop()}" if len(devices) == 1 else ""
    names = [f"{DATASETS.get(r.dataset, r.dataset)} · {r.label}" + ("" if on else f" · {r.device}") for r in runs]
    stats = [throughput(r) for r in runs]
    fig, axes = plt.subplots(1, 2, figsize=(12, 1.2 + 0.45 * len(runs)), squeeze=False)
    for ax, (k, xlabel) in zip(axes[0], [("samples_per_s", "finished samples per second"),
                                         ("tokens_per_s", "generated tokens per second")]):
        vals = [s[k] for s in stats]
        ax.barh(range(len(runs)), vals, color=[colors[r.label] for r in runs])
        for y, (v, s) in enumerate(zip(vals, stats)):
            ax.text(v, y, f" {v:,.1f}  (concurrency {s['concurrency']:g})", va="center", fontsize=8)
        ax.set_xlim(0, max(vals + [1e-9]) * 1.7)  # room for the value labels
        ax.set_xlabel(xlabel)
        ax.set_yticks(range(len(runs)), names if ax is axes[0][0] else [""] * len(runs))
        ax.invert_yaxis()
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(f"Generation throughput{on}: finished samples (generated tokens) ÷ wall-clock seconds, "
                 "summed over problems", fontsize=12)
    fig.tight_layout()
    paths = _save(fig, out, "throughput")
    plt.close(fig)
    return paths


# ---------------------------------------------------------------- summary.md

def summary_markdown(table: pd.DataFrame, runs: list[Run]) -> str:
    lines = ["# Results summary", "",
             f"Problems solved (%) at round wall-clock budgets per problem: mean over problems, "
             f"[{LEVEL:.0%} bootstrap CI over problems, {N_BOOT} resamples, seed {SEED}]. "
             "Methods are defined in docs/metrics.md; `samples` is the mean number of samples "
             "per problem finished by that time.", ""]
    for ds, d in table.groupby("dataset", sort=False):
        times = sorted(d["t_s"].unique())
        lines += [f"## {DATASETS.get(ds, ds)}", "",
                  "| model | device | problems | method | " + " | ".join(_fmt_s(t) for t in times) + " |",
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
                     f"{_fmt_s(r.budget_s)} | {s['samples_per_s']:.2f} | {s['tokens_per_s']:.1f} | "
                     f"{s['concurrency']:g} | {', '.join(str(d) for d in r.dirs)} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- entry points

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
    _label(runs)
    cmap = matplotlib.colormaps["tab10"]
    colors = {lab: cmap(i % 10) for i, lab in enumerate(dict.fromkeys(r.label for r in runs))}
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    by_dataset: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        by_dataset[r.dataset].append(r)
    for group in by_dataset.values():
        files += plot_dataset(group, "time", out, key, colors)
        files += plot_dataset(group, "k", out, key, colors)
    files += plot_throughput(runs, out, colors)
    table = summary_table(runs, key)
    table.to_csv(out / "summary.csv", index=False)
    (out / "summary.md").write_text(summary_markdown(table, runs), encoding="utf-8")
    return files + [out / "summary.csv", out / "summary.md"]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.report", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", type=Path, help="run directories or folders holding them (default: results/)")
    ap.add_argument("--out", type=Path, default=Path("plots"), help="folder for figures and tables (default: plots)")
    ap.add_argument("--partial", action="store_true", help="plot runs with missing or mismatched shards as they are")
    args = ap.parse_args(argv)
    try:
        files = write_report(args.runs or [Path("results")], args.out, args.partial)
    except ReportError as err:
        print(f"report: {err}", file=sys.stderr)
        return 1
    print(f"report: wrote {len(files)} files to {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
