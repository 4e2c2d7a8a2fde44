"""The problems a run covers: the dataset's own (its registered loader), then ``data.ids``, ``limit``
and ``shard``; and the chat prompt built from a problem."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from harness.config import DataConfig, PromptConfig
from harness.data.dataset import DATASETS, DataError, Problem


def data_config(data: DataConfig | Mapping[str, Any]) -> DataConfig:
    """``data`` as a DataConfig; a recorded run's (run.json) may hold keys retired since, which go."""
    if isinstance(data, DataConfig):
        return data
    names = {f.name for f in dataclasses.fields(DataConfig)}
    return DataConfig(**{k: v for k, v in data.items() if k in names})


def with_defaults(data: DataConfig) -> DataConfig:
    """``data`` with what its dataset declares filled in where the config leaves it open."""
    declared = DATASETS.get(data.name)
    return dataclasses.replace(data, max_new_tokens=data.max_new_tokens or declared.max_new_tokens)


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


def _keep(problems: list[Problem], ids: list[str], name: str) -> list[Problem]:
    known = {p.problem_id for p in problems}
    unknown = [i for i in dict.fromkeys(ids) if i not in known]
    if unknown:
        example = problems[0].problem_id if problems else "none"
        raise DataError(f"data.ids: {len(unknown)} unknown to {name}: {', '.join(map(repr, unknown[:5]))}"
                        f"{' ...' if len(unknown) > 5 else ''} (its ids look like {example!r})")
    wanted = set(ids)
    return [p for p in problems if p.problem_id in wanted]


def load_problems(data: DataConfig | Mapping[str, Any]) -> list[Problem]:
    """The problems this run covers: the dataset's order, then ``ids``, then ``limit``, then every
    n-th for ``shard``. Limit before shard, so the shards of a limited run partition exactly that
    run's problems."""
    cfg = data_config(data)
    problems = DATASETS.get(cfg.name).load(cfg)
    seen: set[str] = set()
    for p in problems:
        if p.problem_id in seen:
            raise DataError(f"dataset {cfg.name} has problem id {p.problem_id!r} twice: its loader must give "
                            "every problem its own id")
        seen.add(p.problem_id)
    if cfg.ids is not None:
        problems = _keep(problems, list(cfg.ids), cfg.name)
    if cfg.limit is not None:
        problems = problems[: cfg.limit]
    shard_index, shard_count = parse_shard(cfg.shard)
    return problems[shard_index::shard_count]


def load_gold(data: DataConfig | Mapping[str, Any]) -> dict[str, str]:
    """problem_id -> gold answer, over the whole dataset (graders look up any problem)."""
    cfg = dataclasses.replace(data_config(data), ids=None, limit=None, shard=None)
    return {p.problem_id: p.gold for p in load_problems(cfg)}


def build_messages(problem: Problem, prompt: PromptConfig | Mapping[str, Any]) -> list[dict[str, str]]:
    """One user turn (optionally after a system turn), from the templates in config."""
    cfg = prompt if isinstance(prompt, Mapping) else vars(prompt)
    messages = [{"role": "system", "content": cfg["system"]}] if cfg.get("system") else []
    # str.replace, not str.format: problems contain LaTeX braces.
    messages.append({"role": "user", "content": cfg["user"].replace("{problem}", problem.question)})
    return messages
