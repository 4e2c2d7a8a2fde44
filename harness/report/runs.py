"""Runs as the reporter sees them: read from results/, shards merged, labelled for legends."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness import plugins
from harness.analysis import cost
from harness.analysis import selection as sel
from harness.config import current_backend, is_measured, under, unmeasured_keys
from harness.errors import UserError
from harness.generation.backends import BACKENDS
from harness.store import config_diff, current_names, flatten, read_run

# What the shards of one run differ in. Every measured key (harness.config.is_measured), the
# concurrency they ran at, data.limit and data.ids (shards partition the problems these pick) must agree.
SHARD_KEY, PICK_KEYS = "data.shard", ("data.limit", "data.ids")
COST_AXES = ("tokens", "flops", "bytes")  # x axes besides time: per-sample costs (harness.analysis.cost)
UNKNOWN_GRADER = "version unknown (graded before versions were recorded)"


class ReportError(UserError):
    """A one-line reason the report can't be made."""


@dataclass
class Run:
    dirs: list[Path]
    meta: dict[str, Any]
    problems: pd.DataFrame
    samples: pd.DataFrame
    label: str = ""
    _steps: dict[tuple[str, str], sel.Steps] = field(default_factory=dict, repr=False)
    _arrivals: dict[str, sel.Arrivals] = field(default_factory=dict, repr=False)

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
        """The registered methods this run can show: those that need rewards only where it has them."""
        rewarded = sel.has_rewards(self.samples)
        return tuple(m for m in sel.METHODS if rewarded or not sel.METHODS.get(m).needs_rewards)

    @property
    def device(self) -> str:
        hw = self.meta.get("hardware") or {}
        return str(hw.get("gpu") or "CPU")

    @property
    def model(self) -> str:
        return str(self.config["model"]["name"])

    @property
    def engine(self) -> str:
        """The backend the run used: the resolved choice of ``model.backend=auto`` when recorded."""
        choice = self.meta.get("backend_choice") or {}
        return current_backend(str(choice.get("backend") or self.config["model"].get("backend") or "?"))

    @property
    def speed_class(self) -> str:
        """The engine's declared speed class (harness.generation.backends): the slot engine and vLLM
        are "optimized", plain transformers (hf: dynamic cache, no graphs) "plain"."""
        return BACKENDS.get(self.engine).speed_class if self.engine in BACKENDS else "unknown"

    @property
    def grader(self) -> str:
        g = self.meta.get("grader")
        return f"v{g.get('version')} {g.get('extraction', '?')}" if g else UNKNOWN_GRADER

    @property
    def shape(self) -> dict[str, Any] | None:
        return self.meta.get("model_shape")

    @property
    def dtype(self) -> str:
        """Weights' dtype as the backend resolved it (run.json ``backend``), else as configured."""
        return str((self.meta.get("backend") or {}).get("dtype") or self.config["model"].get("dtype"))

    @property
    def is_transformer(self) -> bool:
        """Attention in every layer (a teacher): from model_shape, else by engine and model name."""
        if self.shape:
            return self.shape["arch"] == "llama"
        students = self.engine in BACKENDS and BACKENDS.get(self.engine).exclusive  # a student's own format
        return not students and "mamba" not in self.model

    def missing_cost(self, x: str) -> str | None:
        """Why the run can't be drawn against ``x`` (None: it can)."""
        if x not in ("flops", "bytes"):  # time, tokens and samples are recorded by every run
            return None
        if not self.shape:
            return "run.json has no model_shape (run made before it was recorded, or an architecture without formulas)"
        if self.problems["prompt_tokens"].isna().any():
            return "problems.jsonl has no prompt_tokens (run made before they were recorded)"
        if x == "bytes" and self.dtype not in cost.DTYPE_BYTES:
            return f"weights' dtype {self.dtype!r} is not resolved in run.json"
        return None

    def _costed(self, x: str) -> pd.DataFrame:
        """The samples with a column ``x``: each sample's own cost (docs/metrics.md, "Cost axes")."""
        s, p = self.samples, self.problems.set_index("problem_id")
        n = s["n_tokens"].to_numpy(dtype=float)
        if x == "tokens":
            return s.assign(tokens=n)
        prompt = s["problem_id"].map(p["prompt_tokens"]).to_numpy(dtype=float)
        if x == "flops":
            return s.assign(flops=cost.sample_flops(self.shape, prompt, n))
        batch = s["problem_id"].map(p["concurrency"]).to_numpy(dtype=float)
        return s.assign(bytes=cost.sample_bytes(self.shape, self.dtype, prompt, n, batch))

    def cost_of_samples(self, x: str) -> float:
        """The total cost ``x`` (a COST_AXES name) of the run's finished samples."""
        return float(self._costed(x)[x].sum())

    def steps(self, method: str, key: sel.KeyFn | None, x: str = "time") -> sel.Steps:
        """``method``'s step function against ``x``: time, or a cost in COST_AXES (cumulative per problem)."""
        if (method, x) not in self._steps:  # built once, then read at any x or k
            samples = self.samples if x == "time" else self._costed(x)
            self._steps[(method, x)] = sel.steps(samples, method, budget_s=self.budget_s, key=key,
                                                 problem_ids=list(self.problems["problem_id"]),
                                                 reward_time=self.reward_time, cost=None if x == "time" else x)
        return self._steps[(method, x)]

    def arrivals(self, method: str, key: sel.KeyFn | None) -> sel.Arrivals:
        """The samples ``method`` reads within the budget, in order of arrival (for the k axis)."""
        if method not in self._arrivals:
            self._arrivals[method] = sel.arrivals(self.samples, method, budget_s=self.budget_s, key=key,
                                                  problem_ids=list(self.problems["problem_id"]),
                                                  reward_time=self.reward_time)
        return self._arrivals[method]


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
        plugins.load_for(meta.get("config") or {})  # a plugin's dataset or method, named in the run's config
        runs.append(Run([d], meta, problems, samples))
    return runs


def _shard_free_keys() -> list[str]:
    return [SHARD_KEY, *(k for k in unmeasured_keys() if k not in PICK_KEYS)]


def _concurrency(run: Run) -> list[int]:
    """The concurrencies the run's problems ran at (run.json's before any problem finished)."""
    if len(run.problems):
        return sorted({int(c) for c in run.problems["concurrency"]})
    return [run.meta["concurrency"]] if run.meta.get("concurrency") else []


def _identity(run: Run) -> str:
    free = _shard_free_keys()
    kept = {k: v for k, v in flatten(current_names(run.config)).items() if not under(k, free)}
    return json.dumps({**kept, "concurrency": _concurrency(run)}, sort_keys=True, default=str)


def _shard(run: Run) -> tuple[int, int] | None:
    from harness.data import parse_shard

    shard = run.config["data"].get("shard")
    return None if shard is None else parse_shard(shard)


def merge_shards(runs: list[Run], partial: bool = False) -> list[Run]:
    """One Run per experiment: shards equal in every measured key and in concurrency, concatenated.

    Refuses (ReportError) shards of one model and dataset whose configs or concurrencies differ,
    a missing or doubled shard, unless ``partial``: then each group is plotted from what is there.
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
                diff = config_diff(me.config, kin[0].config, _shard_free_keys())
                if not diff:
                    raise ReportError(f"shards measured at different concurrencies: {me.dirs[0]} ({_concurrency(me)}) "
                                      f"and {kin[0].dirs[0]} ({_concurrency(kin[0])}); rerun them with one "
                                      "runner.concurrency, or --partial to plot them as separate runs")
                raise ReportError(f"shards with different configs: {me.dirs[0]} and {kin[0].dirs[0]} differ in "
                                  f"{', '.join(diff)}; rerun one, or --partial to plot them as separate runs")
            raise ReportError(f"missing shard(s) {', '.join(str(i) for i in missing)} of {names}; "
                              "run them, or --partial to plot what is there")
        members.sort(key=lambda r: _shard(r) or (0, 0))
        status = {r.meta.get("status", "?") for r in members}
        meta = dict(members[0].meta, status=status.pop() if len(status) == 1 else "mixed")
        if all("audit" in r.meta for r in members):
            meta["audit"] = merge_audits([r.meta["audit"] for r in members])
        merged.append(Run([r.dirs[0] for r in members], meta,
                          pd.concat([r.problems for r in members], ignore_index=True),
                          pd.concat([r.samples for r in members], ignore_index=True)))
    return merged


def merge_audits(audits: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The grader audit of shards taken together (None unless every shard was audited)."""
    if not audits or any(not a for a in audits):
        return None
    total = {k: sum(a[k] for a in audits) for k in ("samples", "disagreements", "only_ours_correct",
                                                   "only_math_verify_correct")}
    agreement = round(1 - total["disagreements"] / total["samples"], 4) if total["samples"] else None
    return {"by": audits[0]["by"], **total, "agreement": agreement}


def _settings(alike: list[Run]) -> list[str]:
    """Per run, the short measured settings (``model.dtype=bfloat16``) in which ``alike`` differ."""
    configs = [flatten(current_names(r.config)) for r in alike]
    keys = sorted({k for c in configs for k in c if is_measured(k)})
    differ = [k for k in keys if len({str(c.get(k)) for c in configs}) > 1]
    return [", ".join(f"{k}={c.get(k)}" for k in differ if len(str(c.get(k))) <= 24) for c in configs]


def label_runs(runs: list[Run]) -> None:
    """Legend labels: model (engine), made unique within a dataset by budget, then by the short
    settings the runs differ in (e.g. model.dtype), then by run name; each only where it tells
    the runs that share a label apart."""
    for r in runs:
        r.label = f"{r.model} ({r.engine})"
    for extras_of in (lambda alike: [str(r.config.get("budget")) for r in alike], _settings,
                      lambda alike: [r.name for r in alike]):
        groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
        for r in runs:
            groups[(r.dataset, r.label)].append(r)
        for alike in groups.values():
            extras = extras_of(alike)
            if len(set(extras)) > 1:
                for r, more in zip(alike, extras):
                    r.label += f", {more}" if more else ""


def by_dataset(runs: list[Run]) -> dict[str, list[Run]]:
    """The runs of each dataset (one figure each), in order."""
    groups: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        groups[r.dataset].append(r)
    return groups


def check_graders(runs: list[Run], where: str) -> None:
    """Refuse (ReportError, one line) to put runs graded by different grader versions in one figure.

    Runs without run.json ``grader`` count as one "unknown" version, different from every recorded one.
    """
    if len({r.grader for r in runs}) < 2:
        return
    newest = max((r.meta["grader"].get("version", 0) for r in runs if r.meta.get("grader")), default=0)
    stale = [r for r in runs if not r.meta.get("grader") or r.meta["grader"].get("version", 0) < newest] or runs
    graded = ", ".join(f"{d} ({r.grader})" for r in runs for d in r.dirs)
    regrade = ", ".join(str(d) for r in stale for d in r.dirs)
    raise ReportError(f"{where}: runs graded by different grader versions can't share a figure: {graded}; "
                      f"regrade with today's rules: python -m harness.grading RUN --regrade, for RUN = {regrade}")


def engine_warning(runs: list[Run], where: str) -> str | None:
    """One line when the runs of a figure ran on engines of different speed classes (``Run.speed_class``)."""
    if len({r.speed_class for r in runs}) < 2:
        return None
    classes: dict[str, list[str]] = defaultdict(list)
    for r in runs:
        classes[r.speed_class].append(r.label)
    engines = "; ".join(f"{c}: {', '.join(dict.fromkeys(labels))}" for c, labels in sorted(classes.items()))
    return (f"{where}: models ran on engines of different speed classes ({engines}); wall-clock gaps then "
            "reflect the engine too: rerun them all on one engine (model.backend=...) for a like-for-like check")
