"""Samples/s and tokens/s of a backend at several concurrencies, side by side in one process.

    python bench/throughput.py                       # SmolLM2 (hf) on CPU at concurrency 1, 8, 32
    python bench/throughput.py --model tiny_llama --concurrency 1 4 --budget 5

Each concurrency runs the same GSM8K problems under the same per-problem budget through the
runner's own budget protocol, after one warm-up. Prints one JSON line per concurrency; ratios
are against the first concurrency listed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.backends import backend_class  # noqa: E402
from harness.config import register  # noqa: E402
from harness.data import build_messages, load_problems  # noqa: E402
from harness.runner import problem_seed, run_problem  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2", help="a conf/model option (default smollm2)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per problem")
    parser.add_argument("--problems", type=int, default=2, help="GSM8K problems per concurrency")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. model.dtype=float32")
    args = parser.parse_args()

    register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"model={args.model}", f"data.limit={args.problems}",
                                           f"runner.threads={args.threads or 'null'}", *args.overrides])
    if "HARNESS_DATA_DIR" not in os.environ:
        raise SystemExit("error: set HARNESS_DATA_DIR to the benchmark data folder (e.g. ../shared/data)")
    problems = load_problems(cfg.data)
    max_new = cfg.sampling.max_new_tokens or cfg.data.max_new_tokens
    backend = backend_class(cfg.model.backend)(cfg.model, cfg.sampling, cfg.runner, max_new, cfg.seed)
    backend.load()
    prompts = [backend.render_prompt(build_messages(p, cfg.prompt)) for p in problems]
    baseline = None
    for concurrency in args.concurrency:
        backend.warmup(prompts[0], concurrency)
        samples = tokens = useful = 0
        wall = 0.0
        for problem, prompt in zip(problems, prompts):
            finished: list[int] = []
            backend.reseed(problem_seed(cfg.seed, problem.problem_id))
            result = run_problem(backend, prompt, concurrency, args.budget, lambda s, t: finished.append(s.n_tokens))
            samples += result.n_samples
            tokens += result.gen_tokens
            useful += sum(finished)
            wall += result.wall_s
        row = {"model": cfg.model.name, "backend": cfg.model.backend, "concurrency": concurrency,
               "budget_s": args.budget, "problems": len(problems), "samples_per_s": round(samples / wall, 3),
               "tokens_per_s": round(tokens / wall, 1), "useful_tokens_per_s": round(useful / wall, 1),
               **backend.describe()}
        baseline = baseline or row
        row["samples_per_s_vs_first"] = round(row["samples_per_s"] / max(baseline["samples_per_s"], 1e-9), 2)
        print(json.dumps(row), flush=True)
    backend.close()


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(json.dumps({"bench_wall_s": round(time.perf_counter() - t0, 1)}))
