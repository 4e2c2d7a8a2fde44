"""Benchmark: vLLM (CPU build) against the HF backend, same model, problems, budget and concurrency.

    .venv-vllm/bin/python bench/vllm_vs_hf.py                 # SmolLM2-135M, 3 GSM8K problems x 30 s: ~6 min
    .venv-vllm/bin/python bench/vllm_vs_hf.py --model tiny_llama --problems 1 --budget 5 model.path=DIR

Runs one configuration after the other, each in a fresh process as a real run would be: vLLM (its
worker computes on one core, its front end takes the other), HF with ``runner.threads=1`` (one
core: the comparable setting) and HF with 2 threads. Each loads and warms up off the clock, then
samples the same problems through the runner's budget protocol (``run_problem``) with the same
seed. Prints one JSON line per configuration with ratios against vLLM. Needs vLLM importable
(``make setup-vllm``); the data directory comes from $HARNESS_DATA_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name -> Hydra overrides of that configuration
CONFIGS = {
    "vllm": ["model.backend=vllm"],
    "hf_1_thread": ["model.backend=hf", "runner.threads=1"],
    "hf_2_threads": ["model.backend=hf", "runner.threads=2"],
}


def measure_config(overrides: list[str], budget_s: float) -> dict[str, object]:
    """Load, warm up, and run every problem of the composed config; this process's numbers."""
    from harness.data import build_messages, load_problems
    from harness.generation.backends import backend_class
    from harness.measure.runner import warmup_prompt
    from harness.ops.profile import compose_config, measure

    cfg = compose_config(overrides)
    problems = load_problems(cfg.data)
    max_new = cfg.sampling.max_new_tokens or cfg.data.max_new_tokens
    backend = backend_class(cfg.model.backend)(cfg.model, cfg.sampling, cfg.runner, max_new, cfg.seed)
    t0 = time.perf_counter()
    backend.load()
    prompts = [backend.render_prompt(build_messages(p, cfg.prompt)) for p in problems]
    longest = max(len(p) for p in prompts)
    concurrency = backend.max_concurrency(longest)  # vLLM starts its engine here, sized for the longest prompt
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    backend.warmup(warmup_prompt(backend, cfg.prompt, longest), concurrency)
    warmup_s = time.perf_counter() - t0
    row = {"model": cfg.model.name, **measure(backend, problems, prompts, concurrency, budget_s, cfg.seed),
           "load_s": round(load_s, 1), "warmup_s": round(warmup_s, 1), **backend.describe()}
    backend.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2", help="a conf/model option (default smollm2)")
    parser.add_argument("--concurrency", type=int, default=8, help="samples in flight, the same for all")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per problem")
    parser.add_argument("--problems", type=int, default=3, help="GSM8K problems")
    parser.add_argument("--only", choices=sorted(CONFIGS), help=argparse.SUPPRESS)  # one configuration, in-process
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every configuration")
    args = parser.parse_args()
    common = [f"model={args.model}", f"data.limit={args.problems}", f"runner.concurrency={args.concurrency}",
              "runner.progress=false", *args.overrides]
    if args.only:
        print(json.dumps(measure_config([*common, *CONFIGS[args.only]], args.budget)), flush=True)
        return
    if "HARNESS_DATA_DIR" not in os.environ:
        raise SystemExit("error: set HARNESS_DATA_DIR to the benchmark data folder (e.g. ../shared/data)")
    baseline = None
    for name in CONFIGS:
        cmd = [sys.executable, __file__, "--only", name, "--budget", str(args.budget), "--model", args.model,
               "--problems", str(args.problems), "--concurrency", str(args.concurrency), *args.overrides]
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"error: {name} failed:\n{proc.stderr[-3000:]}")
        row = {"config": name, **json.loads(proc.stdout.strip().splitlines()[-1])}
        baseline = baseline or row
        for key in ("samples_per_s", "tokens_per_s"):
            row[f"{key}_vs_vllm"] = round(row[key] / max(baseline[key], 1e-9), 2)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    if "--only" not in sys.argv:
        print(json.dumps({"bench_wall_s": round(time.perf_counter() - t0, 1)}))
