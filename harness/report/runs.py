"""Runs as the reporter sees them: read from results/, shards merged, labelled for legends."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness import selection as sel
from harness.store import config_diff, flatten, read_run

DATASETS = {"gsm8k": "GSM8K", "math500": "MATH-500", "math": "MATH"}
# Keys that may differ between shards of one run: which shard, and how it was resumed.
SHARD_FREE_KEYS = ("data.shard", "run.resume")


class ReportError(Exception):
    """A one-line reason the report can't be made."""


@dataclass
class Run:
    dirs: list[Path]
    meta: dict[str, Any]
    problems: pd.DataFrame
    samples: pd.DataFrame
    label: str = ""
    _steps: dict[str, sel.Steps] = field(default_factory=dict, repr=False)

    @property
    def config(self) -> dict[str, Any]:
        return self.meta["config"]

    @property
    def dataset(self) -> str:
        return str(self.config["data"]["name"])

    @property
    def name(self) -> str:
        return self.dirs[0].name + (f" (+{len(self.dirs) - 1} shards)" if len(self.dirs) > 1 else "")

    @property
    def budget_s(self) -> float:
        if len(self.problems):
            return float(self.problems["budget_s"].max())
        from harness.budget import parse_budget

        return parse_budget(self.config["budget"])

    @property
    def reward_time(self) -> bool:
        return bool(((self.config.get("selection") or {}).get("reward") or {}).get("time_on_axis", True))

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(sel.METHODS) if sel.has_rewards(self.samples) else ("coverage", "majority")

    @property
    def device(self) -> str:
        hw = self.meta.get("hardware") or {}
        return str(hw.get("gpu") or "CPU")

    def steps(self, method: str, key: sel.KeyFn | None) -> sel.Steps:
        if method not in self._steps:  # built once, then read at any t or k
            self._steps[method] = sel.steps(self.samples, method, budget_s=self.budget_s, key=key,
                                            problem_ids=list(self.problems["problem_id"]), reward_time=self.reward_time)
        return self._steps[method]


def find_run_dirs(paths: Sequence[Path]) -> list[Path]:
    """Run directories given directly or found anywhere below the given folders."""
    found: list[Path] = []
    for p in paths:
        found += [p] if (p / "run.json").is_file() else sorted(q.parent for q in p.rglob("run.json"))
    return list(dict.fromkeys(found))


def read_runs(dirs: Sequence[Path]) -> list[Run]:

    runs = []
    for d in dirs:
        meta, problems, samples = read_run(d)
        runs.append(Run([d], meta, problems, samples))
    return runs


def _identity(run: Run) -> str:
    flat = flatten(run.config)
    return json.dumps({k: v for k, v in flat.items() if not k.startswith(SHARD_FREE_KEYS)}, sort_keys=True, default=str)


def _shard(run: Run) -> tuple[int, int] | None:
    from harness.data import parse_shard

    shard = run.config["data"].get("shard")
    return None if shard is None else parse_shard(shard)


def merge_shards(runs: list[Run], partial: bool = False) -> list[Run]:
    """One Run per experiment: shards with equal configs (but for SHARD_FREE_KEYS) concatenated.

    Refuses (ReportError) shards of one model and dataset whose configs differ, a missing or
    doubled shard, unless ``partial``: then each config group is plotted from what is there.
    """
    groups: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        groups[_identity(r) if _shard(r) else str(r.dirs[0])].append(r)
    merged = []
    for members in groups.values():
        shards = [_shard(r) for r in members]
        if shards[0] is None:
            merged += members
            continue
        names = ", ".join(str(r.dirs[0]) for r in members)
        counts = {n for _, n in shards}  # type: ignore[misc]
        have = [i for i, _ in shards]  # type: ignore[misc]
        if len(counts) > 1 or len(set(have)) < len(have):
            raise ReportError(f"shards {names} overlap (different shard counts or a shard twice); keep one of each")
        missing = sorted(set(range(counts.pop())) - set(have))
        if missing and not partial:
            me = members[0]
            kin = [r for r in runs if _shard(r) and r not in members and r.dataset == me.dataset
                   and r.config["model"]["name"] == me.config["model"]["name"]]
            if kin:
                diff = config_diff(me.config, kin[0].config, SHARD_FREE_KEYS)
                raise ReportError(f"shards with different configs: {me.dirs[0]} and {kin[0].dirs[0]} differ in "
                                  f"{', '.join(diff)}; rerun one, or --partial to plot them as separate runs")
            raise ReportError(f"missing shard(s) {', '.join(str(i) for i in missing)} of {names}; "
                              "run them, or --partial to plot what is there")
        members.sort(key=lambda r: _shard(r) or (0, 0))
        status = {r.meta.get("status", "?") for r in members}
        meta = dict(members[0].meta, status=status.pop() if len(status) == 1 else "mixed")
        merged.append(Run([r.dirs[0] for r in members], meta,
                          pd.concat([r.problems for r in members], ignore_index=True),
                          pd.concat([r.samples for r in members], ignore_index=True)))
    return merged


def label_runs(runs: list[Run]) -> None:
    """Legend labels: model (backend), made unique within a dataset by budget, then run name."""
    for r in runs:
        r.label = f"{r.config['model']['name']} ({r.config['model'].get('backend', '?')})"
    for extra in (lambda r: str(r.config.get("budget")), lambda r: r.name):
        seen: dict[tuple[str, str], int] = defaultdict(int)
        for r in runs:
            seen[(r.dataset, r.label)] += 1
        for r in runs:
            if seen[(r.dataset, r.label)] > 1:
                r.label += f", {extra(r)}"
