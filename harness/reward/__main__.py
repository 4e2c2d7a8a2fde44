"""``python -m harness.reward RUN_DIR [--model PATH] [--kind prm|orm] [--aggregation last]``: fill the
null ``reward`` / ``reward_s`` of a run's samples (harness.reward.score), then its summary."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.analysis.summary import refresh_summary
from harness.errors import USAGE_EXIT, UserError
from harness.ops.runlock import check_not_running
from harness.reward.models import AGGREGATIONS, KINDS, load_reward_model, reward_config, reward_identity
from harness.reward.score import run_questions, score_run
from harness.store import RunStore


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.reward", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--model", help="hub id or local path (default: the run's selection.reward.model)")
    ap.add_argument("--kind", choices=KINDS.names())
    ap.add_argument("--aggregation", choices=AGGREGATIONS)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the run's, else cuda when visible)")
    ap.add_argument("--dtype", help="auto, bfloat16, float16, float32 (default: the run's, else auto)")
    ap.add_argument("--data-dir", help="folder holding <dataset>/<file>, if not where the run read it")
    ap.add_argument("--rescore", action="store_true", help="score every sample again, not just null ones")
    args = ap.parse_args(argv)

    try:
        return _score_cli(args)
    except UserError as err:  # bad input: one line; anything else keeps its traceback
        print(f"error: {err}", file=sys.stderr)
        return USAGE_EXIT


def _score_cli(args: argparse.Namespace) -> int:
    store = RunStore(args.run_dir)
    run = store.meta
    # A live runner appends to trajectories.jsonl and a rewrite would lose its lines; a run whose
    # status says "running" with no writer holding its lock was killed, and its finished problems
    # can be scored (a resume adds the rest).
    check_not_running(args.run_dir)
    chosen = {name: getattr(args, name) for name in ("model", "kind", "aggregation", "batch_size", "device", "dtype")
              if getattr(args, name) is not None}
    cfg = reward_config({**(run["config"].get("selection", {}).get("reward") or {}), **chosen})
    used = reward_identity(cfg)
    if run.get("reward") not in (None, used) and not args.rescore:
        # Mixing two reward models' scores in one run would make rm_weighted meaningless.
        raise UserError(f"{args.run_dir} was scored with {run['reward']}; use --rescore to replace")
    questions = run_questions(run["config"], args.data_dir)
    rm = load_reward_model(cfg)
    store.update_meta(reward=used)
    n = score_run(store, rm, questions, args.rescore)
    refresh_summary(store)
    print(f"{args.run_dir}: scored {n} samples with {used['model']} ({used['kind']}, {used['aggregation']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
