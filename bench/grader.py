"""Benchmark: this grader against Math-Verify on a realistic pool of MATH-500 samples.

Each problem gets `--samples` samples (default 64): its reference solution with the final
\\boxed{} replaced by the gold answer as written, an equivalent rewrite, a wrong answer, or cut off
before the box (no answer), drawn with the duplicates a real pool has. Both graders grade the
same samples in the same order (as they lie in a run's trajectories file); the script prints JSON
lines: the pool, answers/s of each grader, their agreement (also against the intended labels),
the speed ratio, and both graders' accuracy on the equivalence table
(tests/grading/test_equivalence.py) and on the whole-sample tables of real formats
(tests/grading/test_real_formats.py) and of the formats of issue 18 (tests/grading/test_breadth.py).

    python bench/grader.py                  # 100 problems x 64 samples, ~20 s on 2 cores
    python bench/grader.py --full           # all 500 problems, ~1 minute (mostly Math-Verify)

The data directory comes from --data-dir or $HARNESS_DATA_DIR.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import random
import re
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.grading import Grader, is_equivalent
from harness.grading.boxes import last_boxed
from harness.grading.normalization import normalize

WEIGHTS = {"gold": 0.45, "rewrite": 0.2, "wrong": 0.3, "none": 0.05}


def rewrites(gold: str) -> list[str]:
    """Equivalent ways to write `gold` (formatting, other number forms)."""
    out = []
    if "\\frac" in gold:
        out.append(gold.replace("\\frac", "\\dfrac"))
    spaced = re.sub(r"\s*([+=])\s*", r" \1 ", gold).strip()
    if spaced != gold:
        out.append(spaced)
    if re.fullmatch(r"-?\d+", gold):
        n = int(gold)
        out += [f"{n}.0", f"\\frac{{{2 * n}}}{{2}}", f"{n:,}" if abs(n) >= 1000 else f"{n}\\text{{ units}}"]
    m = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", gold)
    if m:
        p, q = int(m.group(1) + m.group(2)), int(m.group(3))
        out += [f"{p}/{q}", f"\\frac{{{2 * p}}}{{{2 * q}}}"]
        if 10**6 % q == 0:
            out.append(str(float(Fraction(p, q))))
    m = re.fullmatch(r"\\text\{\s*([A-Za-z ()]+?)\s*\}", gold)
    if m:
        out.append(m.group(1))
    if gold[:1] in "([" and gold[-1:] in ")]" and "\\left" not in gold:
        out.append(f"\\left{gold[0]}{gold[1:-1]}\\right{gold[-1]}")
    return list(dict.fromkeys(x for x in out if x != gold))[:3]


def wrongs(gold: str, others: list[str], rng: random.Random) -> list[str]:
    """Answers that are not equivalent to `gold`."""
    out = []
    if re.fullmatch(r"-?\d+", gold):
        n = int(gold)
        out += [str(n + 1), str(n - 1), str(10 * n + 3)]
    m = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", gold)
    if m:
        sign, p, q = m.group(1), int(m.group(2)), int(m.group(3))
        out += [f"{sign}\\frac{{{q}}}{{{p}}}", f"{sign}\\frac{{{p + 1}}}{{{q}}}"]
    if re.search(r"[a-zA-Z]", gold) and not re.search(r",|\\begin|\\text|^[(\[]|\\\{", gold):
        out.append(f"{gold}+1")  # an expression answer, off by a term
    out += rng.sample(others, 3)  # another problem's answer: wrong, of a realistic shape
    return [x for x in dict.fromkeys(out) if x != gold][:3]


def build_pool(rows: list[dict], samples: int, seed: int) -> list[tuple[str, str, str, bool]]:
    """(text, gold, variant kind, intended label) for every sample, grouped by problem."""
    rng = random.Random(seed)
    answers = [r["answer"] for r in rows]
    pool = []
    for row in rows:
        gold, solution = row["answer"], row["solution"]
        cut = solution.rfind("\\boxed")
        body, boxed = solution[:cut], last_boxed(solution)
        tail = solution[cut:].split(boxed, 1)[-1] if boxed else ""
        choices = {"gold": [gold], "rewrite": rewrites(gold),
                   "wrong": wrongs(gold, [a for a in answers if a != gold], rng), "none": [""]}
        kinds = [k for k in WEIGHTS if choices[k]]
        for _ in range(samples):
            kind = rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]
            variant = rng.choice(choices[kind])
            text = body.rstrip() + " and we stop here." if kind == "none" else f"{body}\\boxed{{{variant}}}{tail[1:]}"
            pool.append((text, gold, kind, kind in ("gold", "rewrite")))
    return pool


def run_ours(pool: list, workers: int) -> tuple[list[bool], float, float, dict]:
    """Verdicts, seconds to start the workers (paid once per run, like an import), seconds to grade."""
    normalize.cache_clear()  # each configuration starts cold
    start = time.perf_counter()
    with Grader("math", workers=workers) as grader:
        grader.grade_many([r"\boxed{\sqrt{2}}"] * workers, ["1"] * workers)
        startup = time.perf_counter() - start
        start = time.perf_counter()
        verdicts = [ok for _, ok in grader.grade_many([p[0] for p in pool], [p[1] for p in pool])]
        seconds = time.perf_counter() - start
        grader.stats["graded"] -= workers
    return verdicts, startup, seconds, grader.stats


def run_math_verify(pool: list) -> tuple[list[bool], float]:
    from math_verify import parse, verify

    start = time.perf_counter()
    verdicts, gold_cache = [], {}
    for text, gold, _, _ in pool:
        if gold not in gold_cache:  # a fair user parses each gold answer once
            gold_cache[gold] = parse(f"${gold}$")
        verdicts.append(bool(verify(gold_cache[gold], parse(text))))
    return verdicts, time.perf_counter() - start


def _table(name: str) -> object:
    path = ROOT / "tests" / "grading" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _accuracy(metric: str, checks: list[tuple[str, bool, bool, bool]]) -> dict:
    """checks: (label, expected, ours, math_verify) per check."""
    misses = {"ours": [c[0] for c in checks if c[2] is not c[1]],
              "math_verify": [c[0] for c in checks if c[3] is not c[1]]}
    return {"metric": metric, "cases": len(checks),
            **{name: round(1 - len(m) / len(checks), 4) for name, m in misses.items()},
            **{f"{name}_misses": m[:30] for name, m in misses.items()}}


def table_accuracy() -> dict:
    """Both graders on the equivalence table (both directions of every row)."""
    from math_verify import parse, verify

    checks = []
    for group, rows in _table("test_equivalence").CASES.items():
        for gold, pred, expected in rows:
            for a, b in ((gold, pred), (pred, gold)):
                mv = bool(verify(parse(f"$\\boxed{{{a}}}$"), parse(f"$\\boxed{{{b}}}$")))
                checks.append((f"{group}: {a} vs {b}", expected, is_equivalent(b, a), mv))
    return _accuracy("table_accuracy", checks)


def formats_accuracy() -> dict:
    """Both graders on whole samples in real formats (the text as generated, against the gold answer)."""
    from math_verify import parse, verify

    checks = []
    for table, name in (("test_real_formats", "FORMATS"), ("test_breadth", "BREADTH")):
        for group, rows in getattr(_table(table), name).items():
            for dataset, text, gold, expected in rows:
                with Grader(dataset) as grader:
                    ours = grader.grade_many([text], [gold])[0][1]
                math_verify = bool(verify(parse(f"${gold}$"), parse(text)))
                checks.append((f"{table} {group}: {text[-60:]!r} vs {gold}", expected, ours, math_verify))
    return _accuracy("real_formats_accuracy", checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("HARNESS_DATA_DIR"),
                        help="benchmark data directory (default: $HARNESS_DATA_DIR)")
    parser.add_argument("--problems", type=int, default=100, help="MATH-500 problems in the pool (default 100)")
    parser.add_argument("--samples", type=int, default=64, help="samples per problem (default 64)")
    parser.add_argument("--full", action="store_true", help="all 500 problems")
    parser.add_argument("--workers", default="1,2", help="worker counts to run this grader with (default 1,2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.data_dir is None:
        parser.error("no data directory: pass --data-dir or set HARNESS_DATA_DIR")
    logging.disable(logging.WARNING)  # Math-Verify logs every timeout
    rows = [json.loads(line) for line in (Path(args.data_dir) / "math500" / "test.jsonl").read_text().splitlines()]
    rows = rows if args.full else random.Random(args.seed).sample(rows, min(args.problems, len(rows)))
    pool = build_pool(rows, args.samples, args.seed)
    distinct = len({(last_boxed(t) or "", g) for t, g, _, _ in pool})
    print(json.dumps({"bench": "pool", "problems": len(rows), "samples": len(pool), "distinct_pairs": distinct,
                      "kinds": {k: sum(p[2] == k for p in pool) for k in WEIGHTS}}), flush=True)

    timings = {}
    for workers in map(int, args.workers.split(",")):
        ours, startup_s, timings[workers], stats = run_ours(pool, workers)
        print(json.dumps({"grader": "ours", "workers": workers, "seconds": round(timings[workers], 2),
                          "startup_seconds": round(startup_s, 2),
                          "answers_per_s": round(len(pool) / timings[workers], 1), "stats": stats}), flush=True)
    mv, mv_s = run_math_verify(pool)
    print(json.dumps({"grader": "math_verify", "seconds": round(mv_s, 2),
                      "answers_per_s": round(len(pool) / mv_s, 1)}), flush=True)

    labels = [p[3] for p in pool]
    disagree = [(p[2], last_boxed(p[0]), p[1], o) for p, o, m in zip(pool, ours, mv) if o != m]
    print(json.dumps({
        "metric": "agreement", "ours_vs_math_verify": round(1 - len(disagree) / len(pool), 4),
        "ours_vs_intended": round(sum(o == y for o, y in zip(ours, labels)) / len(pool), 4),
        "math_verify_vs_intended": round(sum(m == y for m, y in zip(mv, labels)) / len(pool), 4),
        "speed_ratio_by_workers": {w: round(mv_s / t, 1) for w, t in timings.items()},
        "disagreements_by_kind": {k: sum(d[0] == k for d in disagree) for k in WEIGHTS},
        "disagreements (kind, pred, gold, ours)": sorted(set(d for d in disagree if d[0] != "none"))[:25],
    }), flush=True)
    print(json.dumps(table_accuracy()), flush=True)
    print(json.dumps(formats_accuracy()), flush=True)


if __name__ == "__main__":
    main()
