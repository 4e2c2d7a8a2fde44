"""``make data``: fetch public copies of GSM8K, MATH-500 and MATH with the ``datasets`` library.

Writes ``<out>/{gsm8k,math500,math}/test.jsonl`` in the layout the data configs expect (the same
fields as the offline copies in this workplace's shared/data). Needs the internet and
``pip install 'harness[data]'``; runs never download, they only read these files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.errors import MissingPackage
from harness.grading.boxes import boxes

# The MATH test split comes per subject on the hub; rows keep problem/level/type/solution.
MATH_SUBJECTS = ("algebra", "counting_and_probability", "geometry", "intermediate_algebra", "number_theory",
                 "prealgebra", "precalculus")


def math_answer(solution: str) -> str:
    """The MATH paper's gold answer (its ``last_boxed_only_string``): the last box's content,
    verbatim. Not the grader's reading, which joins adjacent boxes into a list and strips spaces."""
    found = boxes(solution)
    if not found:
        return ""
    start, end, content = found[-1]
    box = solution[start:end]
    return box[box.index("{") + 1 : -1] if box.endswith("}") else content


def _write(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} problems to {path}")


def fetch(out: Path, names: list[str]) -> None:
    try:
        from datasets import load_dataset
    except ImportError:
        raise MissingPackage("`make data` needs the datasets library: pip install 'harness[data]'") from None
    if "gsm8k" in names:
        rows = [dict(r) for r in load_dataset("openai/gsm8k", "main", split="test")]
        _write(rows, out / "gsm8k" / "test.jsonl")
    if "math500" in names:
        rows = [dict(r) for r in load_dataset("HuggingFaceH4/MATH-500", split="test")]
        _write(rows, out / "math500" / "test.jsonl")
    if "math" in names:
        rows = [dict(r) for subject in MATH_SUBJECTS
                for r in load_dataset("EleutherAI/hendrycks_math", subject, split="test")]
        for idx, row in enumerate(rows):
            row.update(idx=idx, answer=math_answer(row["solution"]))
        _write(rows, out / "math" / "test.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data"), help="folder to write into (default: data)")
    parser.add_argument("--only", nargs="*", default=["gsm8k", "math500", "math"], choices=["gsm8k", "math500", "math"])
    args = parser.parse_args()
    fetch(args.out, args.only)
