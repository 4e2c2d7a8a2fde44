"""The reporter's figures, drawn from the frames of harness.report.curves (written beside as CSV)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.methods import METHODS, reward_methods
from harness.data import dataset_title
from harness.report.curves import LEVEL
from harness.report.runs import Run

# x axis -> (file stem, what the title plots against, axis label, caption note); docs/metrics.md.
_COST_NOTE = ("x: {} of the problem's samples arrived so far, in arrival order (aborted and in-flight "
              "samples not counted; a reward model's work not counted)")
AXES = {
    "time": ("time", "wall-clock budget per problem", "wall-clock seconds per problem",
             "x: seconds since the problem's clock started"),
    "tokens": ("tokens", "generated tokens per problem", "generated tokens per problem (log)",
               _COST_NOTE.format("generated tokens")),
    "flops": ("flops", "analytic FLOPs per problem", "FLOPs per problem, analytic (log)",
              _COST_NOTE.format("decode FLOPs (from the model's shape)")),
    "bytes": ("bytes", "analytic bytes moved per problem", "bytes moved per problem, analytic (log)",
              _COST_NOTE.format("decode bytes moved (weights shared by the run's concurrency)")),
    "k": ("samples", "samples per problem", "samples per problem, k (log)",
          "each method's expected value over the k-subsets of a problem's samples finished within the "
          "budget (all of them where there are fewer than k); coverage panel: unbiased pass@k"),
}


def style_x_axis(ax: Any, axis: str, end: float) -> None:
    """Ticks a reader parses at a glance: time linear from 0 to the budget, in plain seconds; the
    sample count on a log2 axis in plain numbers; costs on a log axis with SI prefixes (2k, 1.5G)."""
    from matplotlib.ticker import EngFormatter, FuncFormatter, MaxNLocator, NullFormatter

    if axis == "time":
        ax.set_xlim(0, end)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        return
    ax.set_xscale("log", base=2 if axis == "k" else 10)
    plain = FuncFormatter(lambda v, _: f"{v:g}") if axis == "k" else EngFormatter(sep="")
    ax.xaxis.set_major_formatter(plain)
    lo, hi = ax.get_xlim()
    # Within a decade the powers alone leave too few labels: the minor ticks get plain ones too.
    ax.xaxis.set_minor_formatter(plain if axis != "k" and hi < 10 * lo else NullFormatter())


def fmt_seconds(t: float) -> str:
    if t >= 3600 and t % 3600 == 0:
        return f"{t / 3600:g} h"
    if t >= 60 and t % 60 == 0:
        return f"{t / 60:g} min"
    return f"{t:g} s"


def save(fig: Any, frame: pd.DataFrame, out: Path, stem: str) -> list[Path]:
    """The figure as PNG and SVG, and the data it shows as CSV, side by side."""
    paths = [out / f"{stem}.png", out / f"{stem}.svg", out / f"{stem}.csv"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"Date": None})  # reproducible SVG
    frame.to_csv(paths[2], index=False)
    return paths


def _on_device(runs: list[Run]) -> str:
    devices = {r.device for r in runs}
    return f" on {devices.pop()}" if len(devices) == 1 else ""


def plot_curves(frame: pd.DataFrame, runs: list[Run], axis: str, out: Path, colors: dict[str, Any],
                warning: str | None = None) -> list[Path]:
    """One figure per dataset and x axis (a key of AXES): a panel per selection method."""
    import matplotlib.pyplot as plt

    ds = dataset_title(runs[0].dataset)
    methods = list(dict.fromkeys(frame["method"]))
    fig, axes = plt.subplots(1, len(methods), figsize=(4.3 * len(methods), 4.6), sharey=True, squeeze=False,
                             layout="constrained")
    stem, against, xlabel, note = AXES[axis]
    title = f"{ds}: accuracy vs {against}{_on_device(runs)}"
    if axis == "time" and any(r.reward_time for r in runs if reward_methods(r.methods)):
        note += "; reward methods also count scoring time"
    by_name = {r.name: r for r in runs}
    for ax, m in zip(axes[0], methods):
        for name, curve in frame[frame["method"] == m].groupby("run", sort=False):
            r = by_name[name]
            c = colors[r.label]
            ax.plot(curve["x"], 100 * curve["accuracy"], color=c, drawstyle="steps-post", lw=1.8,
                    label=f"{r.label}, n={len(r.problems)} problems" + ("" if r.meta.get("status") == "done"
                                                                        else f" [{r.meta.get('status')}]"))
            ax.fill_between(curve["x"], 100 * curve["ci_low"], 100 * curve["ci_high"], color=c, alpha=0.18,
                            step="post", lw=0)
        style_x_axis(ax, axis, float(frame["x"].max()))
        declared = METHODS.get(m)  # each method's title, as it declares it (harness.analysis.methods)
        ax.set_title(declared.k_title or declared.title if axis == "k" else declared.title, fontsize=11)
        ax.set_xlabel(xlabel)
        ax.set_ylim(-2, 102)
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].set_ylabel("problems solved (%)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle(title, fontsize=13)
    # The caption sits with the legend, under the panels, where a reader looks for the key.
    caption = textwrap.fill(f"{note}; shaded: {LEVEL:.0%} bootstrap CI over problems"
                            + (f". Warning: {warning}" if warning else ""), 65 * len(methods))
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3), frameon=False,
               title=caption, title_fontsize=9)
    paths = save(fig, frame, out, f"{runs[0].dataset}_vs_{stem}")
    plt.close(fig)
    return paths


def plot_throughput(frame: pd.DataFrame, runs: list[Run], out: Path, colors: dict[str, Any]) -> list[Path]:
    import matplotlib.pyplot as plt

    on = _on_device(runs)
    names = [f"{dataset_title(row.dataset)} · {row.label}" + ("" if on else f" · {row.device}")
             for row in frame.itertuples()]
    fig, axes = plt.subplots(1, 2, figsize=(12, 1.2 + 0.45 * len(frame)), squeeze=False)
    for ax, (k, xlabel) in zip(axes[0], [("samples_per_s", "finished samples per second"),
                                         ("tokens_per_s", "generated tokens per second")]):
        vals = list(frame[k])
        ax.barh(range(len(frame)), vals, color=[colors[label] for label in frame["label"]])
        for y, (v, concurrency) in enumerate(zip(vals, frame["concurrency"])):
            ax.text(v, y, f" {v:,.1f}  (concurrency {concurrency:g})", va="center", fontsize=8)
        ax.set_xlim(0, max(vals + [1e-9]) * 1.7)  # room for the value labels
        ax.set_xlabel(xlabel)
        ax.set_yticks(range(len(frame)), names if ax is axes[0][0] else [""] * len(frame))
        ax.invert_yaxis()
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(f"Generation throughput{on}: finished samples (generated tokens) ÷ wall-clock seconds, "
                 "summed over problems", fontsize=12)
    fig.tight_layout()
    paths = save(fig, frame, out, "throughput")
    plt.close(fig)
    return paths
