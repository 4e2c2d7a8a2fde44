"""``python -m harness.profile``: samples/s and tokens/s of a model at several concurrencies, the
paper's throughput figure.

    python -m harness.profile model=smollm2                          # concurrency 1, 8, 32; model.dtype
    python -m harness.profile model=smollm2 --dtypes auto bfloat16   # two dtypes side by side
    python -m harness.profile model=llama_1b --concurrency 1 16 64 256 --budget 60 --out plots/llama_1b

Every (concurrency, dtype) samples the same problems under the same per-problem budget through
the runner's own protocol (``run_problem`` on the backend ``model.backend`` resolves to, each
problem reseeded as in a run), after a warm-up at that concurrency. The variants are loaded
once and measured in turn at each concurrency, so a machine whose load drifts slows them alike.
The warm-up runs a synthetic prompt as long as the longest problem's, as a run's does.
A concurrency above what fits (GPU memory, vLLM's KV cache) is skipped, saying so. Prints one
JSON line per measurement and writes throughput_profile.{png,svg,csv} into ``--out``. Tokens/s
counts every generated token; useful tokens/s only those of samples finished within the budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.config import Dtype, HarnessConfig
from harness.data import Problem, build_messages, load_problems
from harness.errors import USAGE_EXIT, UserError
from harness.extensions import load_config, register_all
from harness.generation.backends import Backend
from harness.measure.runner import problem_seed, run_problem, warmup_prompt

CONF = Path(__file__).resolve().parents[2] / "conf"


def measure(backend: Backend, problems: Sequence[Problem], prompts: Sequence[list[int]], concurrency: int,
            budget_s: float, seed: int) -> dict[str, float]:
    """Throughput of ``backend`` over ``problems`` at ``concurrency`` (warm it up first)."""
    samples = aborted = tokens = 0
    useful: list[int] = []
    wall = 0.0
    for problem, prompt in zip(problems, prompts):
        backend.reseed(problem_seed(seed, problem.problem_id))
        result = run_problem(backend, prompt, concurrency, budget_s, lambda s, t: useful.append(s.n_tokens))
        samples, aborted = samples + result.n_samples, aborted + result.n_aborted
        tokens += result.gen_tokens
        wall += result.wall_s
    return {"concurrency": concurrency, "budget_s": budget_s, "problems": len(problems), "samples": samples,
            "aborted": aborted, "samples_per_s": round(samples / wall, 3), "tokens_per_s": round(tokens / wall, 1),
            "useful_tokens_per_s": round(sum(useful) / wall, 1),
            "mean_sample_tokens": round(sum(useful) / max(len(useful), 1), 1)}


def compose_config(overrides: Sequence[str]) -> HarnessConfig:
    from hydra import compose, initialize_config_dir

    register_all()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return load_config(compose("config", overrides=list(overrides)))


@dataclasses.dataclass
class Variant:
    backend: Backend
    info: dict[str, Any]  # model, backend and its reason, describe(): what every row repeats
    prompts: list[list[int]]
    fits: int  # the most samples at once this backend holds


def load_variant(cfg: HarnessConfig, dtype: str, problems: Sequence[Problem], most: int) -> Variant:
    from harness.generation.backends.auto import make_backend

    # Sized for the largest concurrency asked: vLLM fixes its batch at start-up.
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, dtype=Dtype(dtype)),
                              runner=dataclasses.replace(cfg.runner, concurrency=most))
    backend, choice = make_backend(cfg, cfg.sampling.max_new_tokens or cfg.data.max_new_tokens)
    backend.load()
    prompts = [backend.render_prompt(build_messages(p, cfg.prompt)) for p in problems]
    info = {"model": cfg.model.name, "backend": choice.backend, "backend_reason": choice.reason,
            "dtype_asked": dtype, **backend.describe()}
    return Variant(backend, info, prompts, backend.max_concurrency(max(map(len, prompts))))


def plot(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """Samples/s and tokens/s against concurrency, a line per variant (data beside it as CSV)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from harness.report.figures import save

    frame = pd.DataFrame(rows)
    frame["label"] = [f"{r['model']} ({r['backend']}, {r['dtype']})" for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    for ax, (key, name) in zip(axes, [("samples_per_s", "finished samples per second"),
                                      ("tokens_per_s", "generated tokens per second")]):
        for label, group in frame.groupby("label", sort=False):
            ax.plot(group["concurrency"], group[key], marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(frame["concurrency"].unique()), [str(c) for c in sorted(frame["concurrency"].unique())])
        ax.set_xlabel("samples in flight (concurrency)")
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    first = rows[0]
    threads = first.get("threads")
    where = first.get("gpu") or f"{first['device']}, {threads} thread{'' if threads == 1 else 's'}"
    fig.suptitle(f"Throughput on {where}: {first['budget_s']:g} s per problem, "
                 f"{first['problems']} problem(s) per point", fontsize=11)
    out.mkdir(parents=True, exist_ok=True)
    paths = save(fig, frame, out, "throughput_profile")
    plt.close(fig)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.profile", description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides of the run config, e.g. model=smollm2 runner.threads=1")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32], help="samples in flight (default 1 8 32)")
    ap.add_argument("--dtypes", nargs="+", choices=[d.value for d in Dtype], help="measure each (default: model.dtype)")
    ap.add_argument("--budget", type=float, default=30.0, help="seconds per problem (default 30)")
    ap.add_argument("--problems", type=int, default=2, help="problems per measurement (default 2)")
    ap.add_argument("--out", type=Path, default=Path("plots/profile"), help="folder for the figure (default plots/profile)")
    args = ap.parse_args(argv)
    if min(args.concurrency) < 1 or args.budget <= 0 or args.problems < 1:
        ap.error("--concurrency, --budget and --problems must be positive")
    try:
        cfg = compose_config([*args.overrides, f"data.limit={args.problems}"])
        problems = load_problems(cfg.data)
        variants = [load_variant(cfg, dtype, problems, max(args.concurrency))
                    for dtype in args.dtypes or [str(cfg.model.dtype)]]
    except UserError as err:  # bad input: one line; anything else keeps its traceback
        print(f"error: {err}", file=sys.stderr)
        return USAGE_EXIT
    rows = []
    for concurrency in args.concurrency:
        for v in variants:
            if concurrency > v.fits:
                print(f"profile: concurrency {concurrency} skipped for {v.info['dtype']}: {v.fits} fit", file=sys.stderr)
                continue
            v.backend.warmup(warmup_prompt(v.backend, cfg.prompt, max(map(len, v.prompts))), concurrency)
            row = {**v.info, **measure(v.backend, problems, v.prompts, concurrency, args.budget, cfg.seed)}
            base = next((r for r in rows if r["concurrency"] == concurrency), row)
            row["tokens_per_s_vs_first"] = round(row["tokens_per_s"] / max(base["tokens_per_s"], 1e-9), 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    for v in variants:
        v.backend.close()
    if not rows:
        print("error: no concurrency fit: lower --concurrency", file=sys.stderr)
        return 2
    figure = plot(rows, args.out)[0]
    print(f"profile: {len(rows)} measurements; figure {figure}, data {args.out / 'throughput_profile.csv'}")
    return 0
