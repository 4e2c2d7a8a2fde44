"""``make data``: fetch public copies of the benchmarks from the HF hub with the ``datasets`` library.

Writes ``<out>/<name>/test.jsonl`` for GSM8K, MATH-500, MATH, AIME 2024, AIME 2025 and AMC 2023
in the layout their loaders read (harness/data/; the fields of the offline copies in this
workplace's shared/data, whose README gives their provenance). The hub copies of the newer sets
(``HUB``) hold the same problems in other shapes; ``aime24_rows``, ``aime25_rows`` and
``amc23_rows`` convert them (ids as the shared copies have them, integer answers). Needs the
internet and ``pip install 'harness[data]'``; runs never download, they only read these files.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.data import integer_answer
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


# The hub copies of the newer sets: AIME 2024 from AIMO's validation set (ids 60-89, as in the
# Qwen2.5-Math file); AIME 2025 in two configs, I and II, 15 problems each, in problem order; AMC
# 2023 the Qwen2.5-Math file itself (answers as floats, the problem in field `question`).
HUB = {"aime24": ("HuggingFaceH4/aime_2024", None, "train"),
       "aime25": ("opencompass/AIME2025", ("AIME2025-I", "AIME2025-II"), "test"),
       "amc23": ("math-ai/amc23", None, "test")}
NAMES = ("gsm8k", "math500", "math", *HUB)
_DEGREES = re.compile(r"\^\{?\\circ\}?|°|\$")  # an angle's answer written 336^\circ: the number is the answer


def _integer(raw: Any) -> str:
    return integer_answer(_DEGREES.sub("", str(raw)))


def aime24_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """HuggingFaceH4/aime_2024 -> aime24/test.jsonl: by id (60-89), the answer an integer."""
    return [{"id": int(r["id"]), "problem": r["problem"], "answer": _integer(r["answer"]), "url": r.get("url"),
             "solution": r.get("solution")} for r in sorted(rows, key=lambda r: int(r["id"]))]


def aime25_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """opencompass/AIME2025's rows, part I then II -> aime25/test.jsonl: ids aime25-0 ... aime25-29 in
    that order (0-14 AIME I problems 1-15), as the shared copy numbers them."""
    return [{"id": f"aime25-{i}", "problem": r["question"], "answer": _integer(r["answer"])}
            for i, r in enumerate(rows)]


def amc23_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """math-ai/amc23 -> amc23/test.jsonl: by id, field ``problem``, the answer "27.0" as "27"."""
    return [{"id": int(r["id"]), "problem": r["question"], "answer": _integer(r["answer"]), "url": r.get("url")}
            for r in sorted(rows, key=lambda r: int(r["id"]))]


CONVERT = {"aime24": aime24_rows, "aime25": aime25_rows, "amc23": amc23_rows}


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
    for name in (n for n in HUB if n in names):
        repo, configs, split = HUB[name]
        rows = [r for config in (configs or (None,)) for r in load_dataset(repo, config, split=split)]
        _write(CONVERT[name](rows), out / name / "test.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("data"), help="folder to write into (default: data)")
    parser.add_argument("--only", nargs="*", default=list(NAMES), choices=NAMES,
                        help="the sets to fetch (default: all)")
    args = parser.parse_args()
    fetch(args.out, args.only)
