"""The results store: ``results/<run>/{run.json, problems.jsonl, trajectories.jsonl}``.

Append-only JSONL flushed per sample, so a kill loses at most the line being written. A problem
counts as done only once its line in problems.jsonl is written, after all its samples; on resume
the trajectories of unfinished problems are dropped and those problems redone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

RUN_FILE, PROBLEMS_FILE, TRAJECTORIES_FILE = "run.json", "problems.jsonl", "trajectories.jsonl"
PROBLEM_FIELDS = ("problem_id", "budget_s", "n_samples", "n_aborted", "concurrency", "gen_tokens", "wall_s")
TRAJECTORY_FIELDS = ("problem_id", "sample_idx", "text", "n_tokens", "finish_reason", "t_end_s",
                     "pred", "correct", "reward", "reward_s")
# Config keys that may change between a run and its resume without changing what it measures.
RESUME_FREE_KEYS = {"run", "data.limit", "data.dir", "runner.threads", "runner.progress", "runner.grade",
                    "runner.grade_workers", "runner.grade_timeout_s", "runner.warmup"}


class StoreError(ValueError):
    pass


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file written by this store.

    An unterminated last line is what a kill mid-write leaves: it is ignored. Any other
    corrupt line is an error naming the file and line.
    """
    if not path.exists():
        return []
    records = []
    with path.open(encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as err:
            if lineno == len(lines):  # no newline after it: torn write
                break
            raise StoreError(f"{path}:{lineno}: corrupt JSON line ({err.msg}); delete that line to resume") from None
    return records


def write_jsonl_atomic(path: Path, records: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def config_mismatch(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Keys whose values differ in a way that would mix two different experiments."""
    a, b = _flatten(old), _flatten(new)
    free = tuple(RESUME_FREE_KEYS)
    return sorted(k for k in a.keys() | b.keys()
                  if a.get(k) != b.get(k) and not any(k == f or k.startswith(f + ".") for f in free))


class RunStore:
    def __init__(self, run_dir: Path, config: dict[str, Any]) -> None:
        """Open ``run_dir`` for writing, resuming it if it already holds a run."""
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.meta: dict[str, Any] = {}
        self.done: set[str] = set()
        self.resumed = (self.dir / RUN_FILE).exists()
        if self.resumed:
            self._prepare_resume(config)
        self.meta["config"] = config
        self._trajectories = (self.dir / TRAJECTORIES_FILE).open("a", encoding="utf-8")
        self._problems = (self.dir / PROBLEMS_FILE).open("a", encoding="utf-8")

    def _prepare_resume(self, config: dict[str, Any]) -> None:
        self.meta = json.loads((self.dir / RUN_FILE).read_text(encoding="utf-8"))
        diff = config_mismatch(self.meta.get("config", {}), config)
        if diff:
            raise StoreError(f"cannot resume {self.dir}: config differs in {', '.join(diff)}; "
                             "rerun with the original values or start a new run directory")
        problems = read_jsonl(self.dir / PROBLEMS_FILE)
        self.done = {p["problem_id"] for p in problems}
        trajectories = read_jsonl(self.dir / TRAJECTORIES_FILE)
        # Rewrite both files clean: no torn last line, no samples of unfinished problems.
        write_jsonl_atomic(self.dir / PROBLEMS_FILE, problems)
        write_jsonl_atomic(self.dir / TRAJECTORIES_FILE, (t for t in trajectories if t["problem_id"] in self.done))
        self.meta.setdefault("resumes", []).append({"done_before": len(self.done)})

    def update_meta(self, **fields: Any) -> None:
        self.meta.update(fields)
        write_json_atomic(self.dir / RUN_FILE, self.meta)

    def append_trajectory(self, record: dict[str, Any]) -> None:
        self._trajectories.write(json.dumps({k: record.get(k) for k in TRAJECTORY_FIELDS}, ensure_ascii=False) + "\n")
        self._trajectories.flush()

    def finish_problem(self, record: dict[str, Any]) -> None:
        """Mark a problem done; its samples are already flushed, so the line comes after them."""
        self._problems.write(json.dumps({k: record[k] for k in PROBLEM_FIELDS}) + "\n")
        self._problems.flush()
        os.fsync(self._problems.fileno())
        self.done.add(record["problem_id"])

    def discard_problem(self, problem_id: str) -> None:
        """Drop the samples of a problem being redone (e.g. after running out of GPU memory)."""
        self._rewrite_trajectories(lambda records: [t for t in records if t["problem_id"] != problem_id])

    def update_trajectories(self, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Rewrite trajectories.jsonl atomically with ``change`` applied to every record."""
        self._rewrite_trajectories(lambda records: [change(t) for t in records])

    def _rewrite_trajectories(self, transform: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
        self._trajectories.close()
        path = self.dir / TRAJECTORIES_FILE
        write_jsonl_atomic(path, transform(read_jsonl(path)))
        self._trajectories = path.open("a", encoding="utf-8")

    def close(self) -> None:
        self._trajectories.close()
        self._problems.close()


def read_run(run_dir: str | Path):
    """(run.json dict, problems DataFrame, trajectories DataFrame) of finished problems only."""
    import pandas as pd

    run_dir = Path(run_dir)
    meta_path = run_dir / RUN_FILE
    if not meta_path.exists():
        raise StoreError(f"{run_dir} is not a run directory (no {RUN_FILE})")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    problems = pd.DataFrame(read_jsonl(run_dir / PROBLEMS_FILE), columns=list(PROBLEM_FIELDS))
    done = set(problems["problem_id"])
    trajectories = pd.DataFrame([t for t in read_jsonl(run_dir / TRAJECTORIES_FILE) if t["problem_id"] in done],
                                columns=list(TRAJECTORY_FIELDS))
    return meta, problems, trajectories
