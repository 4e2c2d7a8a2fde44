"""Benchmark problems from JSONL: GSM8K, MATH-500 and full MATH, plus prompt construction.

The data directory comes from config (``data.dir``, default ``$HARNESS_DATA_DIR``); the files
are never part of the project. ``make data`` fetches public copies with the ``datasets`` library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import DataConfig, PromptConfig
from harness.errors import UserError
from harness.jsonl import JsonlError, read_jsonl


class DataError(UserError):
    pass


@dataclass(frozen=True)
class Problem:
    problem_id: str
    question: str
    gold: str


def _cfg(data: DataConfig | Mapping[str, Any]) -> Mapping[str, Any]:
    return data if isinstance(data, Mapping) else vars(data)


def data_file(data: DataConfig | Mapping[str, Any]) -> Path:
    cfg = _cfg(data)
    return Path(cfg["dir"]) / cfg["name"] / cfg["file"]


def _gold(raw: str, answer_format: str) -> str:
    if answer_format == "gsm8k_hashes":
        # The final line is "#### N", sometimes with thousands separators ("#### 2,125").
        return raw.rsplit("####", 1)[-1].strip().replace(",", "")
    return raw.strip()


def parse_shard(shard: str | None) -> tuple[int, int]:
    if shard is None:
        return 0, 1
    try:
        index, count = (int(part) for part in str(shard).split("/"))
    except ValueError:
        index, count = -1, 0
    if not 0 <= index < count:
        raise DataError(f"data.shard={shard!r} is malformed: use i/n with 0 <= i < n, e.g. data.shard=0/4")
    return index, count


def load_problems(data: DataConfig | Mapping[str, Any]) -> list[Problem]:
    """The problems this run covers: file order, then ``limit``, then every n-th for ``shard``.

    Limit before shard, so the shards of a limited run partition exactly that run's problems.
    """
    cfg = _cfg(data)
    path = data_file(cfg)
    fix = f"run `make data` or point data.dir / $HARNESS_DATA_DIR at a folder holding {cfg['name']}/{cfg['file']}"
    if not path.is_file():
        raise DataError(f"data file {path} not found: {fix}")
    problems = []
    try:
        rows = read_jsonl(path, f"restore the file ({fix})", torn_tail_ok=False)
    except JsonlError as err:
        raise DataError(str(err)) from None
    for index, row in enumerate(rows):
        for key in (cfg["question_field"], cfg["answer_field"]):
            if key not in row:
                raise DataError(f"{path}:{index + 1}: missing field {key!r}; check data={cfg['name']} matches this file")
        problem_id = str(row[cfg["id_field"]]) if cfg.get("id_field") else f"{cfg['name']}/test/{index}"
        problems.append(Problem(problem_id, row[cfg["question_field"]], _gold(str(row[cfg["answer_field"]]), cfg["answer_format"])))
    if cfg.get("limit") is not None:
        problems = problems[: cfg["limit"]]
    shard_index, shard_count = parse_shard(cfg.get("shard"))
    return problems[shard_index::shard_count]


def load_gold(data: DataConfig | Mapping[str, Any]) -> dict[str, str]:
    """problem_id -> gold answer, over the whole file (graders look up any problem)."""
    cfg = dict(_cfg(data), limit=None, shard=None)
    return {p.problem_id: p.gold for p in load_problems(cfg)}


def build_messages(problem: Problem, prompt: PromptConfig | Mapping[str, Any]) -> list[dict[str, str]]:
    """One user turn (optionally after a system turn), from the templates in config."""
    cfg = prompt if isinstance(prompt, Mapping) else vars(prompt)
    messages = [{"role": "system", "content": cfg["system"]}] if cfg.get("system") else []
    # str.replace, not str.format: problems contain LaTeX braces.
    messages.append({"role": "user", "content": cfg["user"].replace("{problem}", problem.question)})
    return messages
