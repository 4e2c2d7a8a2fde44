"""Hand-made run directories for the reporter's tests: every field as the store writes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def sample(pid: str, t: float, correct: bool, pred: Any = ..., n_tokens: int = 10,
           finish: str = "stop") -> dict[str, Any]:
    """One trajectory row; ``pred`` (None: no answer) defaults to "right" / "wrong" by ``correct``."""
    return {"problem_id": pid, "t_end_s": t, "pred": ("right" if correct else "wrong") if pred is ... else pred,
            "correct": correct, "n_tokens": n_tokens, "finish_reason": finish}


def make_run(root: Path, name: str, model: str, backend: str, samples: list[dict[str, Any]], problems: list[str],
             budget_s: float = 10.0, dataset: str = "gsm8k", prompt_tokens: int | None = 50, concurrency: int = 4,
             **meta: Any) -> Path:
    """A finished run in ``root/name``; ``meta`` adds run.json fields (grader, backend_choice, model_shape...)."""
    d = root / name
    d.mkdir(parents=True)
    cfg = {"model": {"name": model, "backend": backend, "dtype": "bfloat16"}, "budget": f"{budget_s:g}s",
           "data": {"name": dataset, "shard": None},
           "selection": {"methods": ["coverage", "majority"], "reward": {"time_on_axis": True}}}
    (d / "run.json").write_text(json.dumps({"config": cfg, "status": "done", "hardware": {"cpu": "x"}, **meta}))
    rows = []
    for pid in problems:
        mine = [s for s in samples if s["problem_id"] == pid]
        row = {"problem_id": pid, "budget_s": budget_s, "n_samples": len(mine), "n_aborted": 1,
               "concurrency": concurrency, "gen_tokens": sum(s["n_tokens"] for s in mine) + 7, "wall_s": budget_s}
        rows.append(row if prompt_tokens is None else {**row, "prompt_tokens": prompt_tokens})
    (d / "problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    index = {pid: 0 for pid in problems}
    traj = []
    for s in samples:  # sample_idx counts per problem, as the runner writes it
        traj.append({"sample_idx": index.setdefault(s["problem_id"], 0), "text": "...", "reward": None,
                     "reward_s": None, **s})
        index[s["problem_id"]] += 1
    (d / "trajectories.jsonl").write_text("".join(json.dumps(t) + "\n" for t in traj))
    return d
