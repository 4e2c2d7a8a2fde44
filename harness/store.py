"""The results store: ``results/<run>/{run.json, problems.jsonl, trajectories.jsonl, grader_audit.jsonl}``.

The only writer of a run's files: a ``RunStore`` writes them, the runner's while it runs, and
the one grading or reward scoring opens on a finished run (``RunStore(run_dir)``), so its copy
of run.json is the file's. Anyone may read them (``read_*``). Records are typed
(``TrajectoryRecord``, ``ProblemRecord``); on disk they are one JSON object per line.
Trajectories are appended and flushed per sample, so a kill loses at most the line being
written. A problem counts as done only once its line in problems.jsonl is written, after all
its samples are synced to disk (one fsync per problem, so a node crash cannot leave a done
problem with samples missing); on resume the trajectories of unfinished problems are dropped and
those problems redone.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from harness.config import RENAMED_BACKENDS, RETIRED_KEYS, current_backend, under, unmeasured_keys
from harness.errors import UserError
from harness.jsonl import read_jsonl as read_rows
from harness.jsonl import write_jsonl_atomic

RUN_FILE, PROBLEMS_FILE, TRAJECTORIES_FILE = "run.json", "problems.jsonl", "trajectories.jsonl"
AUDIT_FILE = "grader_audit.jsonl"  # the grader audit's disagreements (harness.grading.audit)


class StoreError(UserError):
    pass


@dataclass
class TrajectoryRecord:
    """One finished sample (a line of trajectories.jsonl)."""

    problem_id: str
    sample_idx: int
    text: str
    n_tokens: int
    finish_reason: Literal["stop", "length"]
    t_end_s: float  # seconds since the problem's clock started
    pred: str | None = None  # extracted answer; None until graded, or when the sample states none
    correct: bool | None = None  # None until graded
    reward: float | None = None
    reward_s: float | None = None  # seconds the reward model spent on this sample
    # Voting class among its problem's samples (ids from 0 in order of first finish), written by
    # grading: samples vote together exactly when the grader calls their answers equal. None: no answer.
    answer_class: int | None = None


@dataclass
class ProblemRecord:
    """One finished problem (a line of problems.jsonl), written after all its samples."""

    problem_id: str
    budget_s: float
    n_samples: int
    n_aborted: int  # samples still in flight at the deadline: counted, never graded
    concurrency: int
    gen_tokens: int  # every token decoded for the problem, aborted samples' included
    wall_s: float
    prompt_tokens: int | None = None  # the rendered prompt's length; None in runs made before it was recorded
    # Engine work on this problem's clock, by kind (allocations, graph_captures, preemptions: what
    # the backend counts; {} where it counts none); none in a normal run. None: runs made before.
    on_clock_events: dict[str, int] | None = None


TRAJECTORY_FIELDS = tuple(f.name for f in dataclasses.fields(TrajectoryRecord))
PROBLEM_FIELDS = tuple(f.name for f in dataclasses.fields(ProblemRecord))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a results file; a torn last line (a kill mid-write) is ignored."""
    return read_rows(path, "delete that line to resume")


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _records(cls: type, rows: list[dict[str, Any]], path: Path) -> list[Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    try:
        return [cls(**{k: v for k, v in row.items() if k in names}) for row in rows]
    except TypeError as err:
        raise StoreError(f"{path}: a line lacks a field of {cls.__name__} ({err}); is this a run directory?") from None


def read_trajectories(run_dir: str | Path) -> list[TrajectoryRecord]:
    path = Path(run_dir) / TRAJECTORIES_FILE
    return _records(TrajectoryRecord, read_jsonl(path), path)


def read_problems(run_dir: str | Path) -> list[ProblemRecord]:
    path = Path(run_dir) / PROBLEMS_FILE
    return _records(ProblemRecord, read_jsonl(path), path)


def read_run_json(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise StoreError(f"{run_dir} is not a run directory (no {RUN_FILE})")
    return json.loads(path.read_text(encoding="utf-8"))


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys: {"a": {"b": 1}} -> {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def config_diff(a: dict[str, Any], b: dict[str, Any], free: Iterable[str] = ()) -> list[str]:
    """Dotted keys whose values differ between two configs, except those at or under ``free``."""
    fa, fb = flatten(a), flatten(b)
    free = tuple(free)
    return sorted(k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k) and not under(k, free))


def measured_diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Keys that change what is measured (``harness.config.is_measured``) and differ between two
    configs, each read with today's names (``current_names``)."""
    return config_diff(current_names(a), current_names(b), unmeasured_keys())


def current_names(config: dict[str, Any]) -> dict[str, Any]:
    """A recorded config read as today's: renamed values (``model.backend=mamba``, today
    ``mamba_in_llama``) renamed, retired keys (``RETIRED_KEYS``) dropped, so a run made before a
    rename or a retirement resumes."""
    model = config.get("model") or {}
    if model.get("backend") in RENAMED_BACKENDS:
        config = {**config, "model": {**model, "backend": current_backend(model["backend"])}}
    retired = {key.split(".", 1)[1] for key in RETIRED_KEYS}
    if retired & set(config.get("data") or {}):
        config = {**config, "data": {k: v for k, v in config["data"].items() if k not in retired}}
    return config


class RunStore:
    def __init__(self, run_dir: str | Path, config: dict[str, Any] | None = None) -> None:
        """Open ``run_dir`` for writing: with ``config``, a run to make, or to resume where it holds
        one (refused where a measured key differs); without, the run it holds, for rewriting its
        grades and rewards (StoreError where it holds none)."""
        self.dir = Path(run_dir)
        self.meta: dict[str, Any] = {}
        self.done: set[str] = set()
        self.resumed = (self.dir / RUN_FILE).exists()
        self._trajectories: TextIO | None = None
        self._problems: TextIO | None = None
        if config is None:
            self.meta = read_run_json(self.dir)
            self.done = {p.problem_id for p in read_problems(self.dir)}
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.resumed:
            self._prepare_resume(config)
        self.meta["config"] = config
        self._trajectories = (self.dir / TRAJECTORIES_FILE).open("a", encoding="utf-8")
        self._problems = (self.dir / PROBLEMS_FILE).open("a", encoding="utf-8")

    def _prepare_resume(self, config: dict[str, Any]) -> None:
        self.meta = read_run_json(self.dir)
        diff = measured_diff(self.meta.get("config", {}), config)
        if diff:
            raise StoreError(f"cannot resume {self.dir}: config differs in {', '.join(diff)}; "
                             "rerun with the original values or start a new run directory")
        problems = read_problems(self.dir)
        self.done = {p.problem_id for p in problems}
        # Rewrite both files clean: no torn last line, no samples of unfinished problems.
        write_jsonl_atomic(self.dir / PROBLEMS_FILE, map(dataclasses.asdict, problems))
        self.update_trajectories(lambda records: [t for t in records if t.problem_id in self.done])
        self.meta.setdefault("resumes", []).append({"done_before": len(self.done)})

    def update_meta(self, **fields: Any) -> None:
        """Set top-level fields of run.json (atomically)."""
        self.meta.update(fields)
        _write_json_atomic(self.dir / RUN_FILE, self.meta)

    def trajectories(self) -> list[TrajectoryRecord]:
        """The samples on disk (a torn last line dropped)."""
        return read_trajectories(self.dir)

    def append_trajectory(self, record: TrajectoryRecord) -> None:
        if self._trajectories is None:  # after a rewrite, or in a store opened for rewriting
            self._trajectories = (self.dir / TRAJECTORIES_FILE).open("a", encoding="utf-8")
        self._trajectories.write(json.dumps(dataclasses.asdict(record), ensure_ascii=False) + "\n")
        self._trajectories.flush()

    def finish_problem(self, record: ProblemRecord) -> None:
        """Mark a problem done: its samples are synced to disk first (once per problem), so after a
        crash a problem with a line in problems.jsonl has every one of its samples."""
        if self._trajectories is not None:  # append_trajectory flushed them: the kernel has them
            os.fsync(self._trajectories.fileno())
        if self._problems is None:
            self._problems = (self.dir / PROBLEMS_FILE).open("a", encoding="utf-8")
        self._problems.write(json.dumps(dataclasses.asdict(record)) + "\n")
        self._problems.flush()
        os.fsync(self._problems.fileno())
        self.done.add(record.problem_id)

    def discard_problem(self, problem_id: str) -> None:
        """Drop the samples of a problem being redone (e.g. after running out of GPU memory)."""
        self.update_trajectories(lambda records: [t for t in records if t.problem_id != problem_id])

    def update_trajectories(self, change: Callable[[list[TrajectoryRecord]], list[TrajectoryRecord]]) -> None:
        """Rewrite trajectories.jsonl atomically as ``change`` of its records."""
        self.replace_trajectories(change(self.trajectories()))

    def replace_trajectories(self, records: Iterable[TrajectoryRecord]) -> None:
        """Replace trajectories.jsonl by ``records``, atomically. run.json's ``summary`` goes with
        the samples it summarised, until it is computed again (harness.analysis.summary)."""
        if self._trajectories is not None:
            self._trajectories.close()
            self._trajectories = None  # reopened by the next append
        write_jsonl_atomic(self.dir / TRAJECTORIES_FILE, map(dataclasses.asdict, records))
        self._forget_summary()

    def write_grader_audit(self, rows: Iterable[dict[str, Any]] | None) -> None:
        """Replace grader_audit.jsonl by ``rows`` (the audit's disagreements), atomically; None removes
        it (an audit turned off leaves no list of a former grading's disagreements)."""
        path = self.dir / AUDIT_FILE
        if rows is None:
            path.unlink(missing_ok=True)
        else:
            write_jsonl_atomic(path, rows)
        self._forget_summary()

    def _forget_summary(self) -> None:
        if "summary" in self.meta:
            del self.meta["summary"]
            _write_json_atomic(self.dir / RUN_FILE, self.meta)

    def close(self) -> None:
        for handle in (self._trajectories, self._problems):
            if handle is not None:
                handle.close()
        self._trajectories = self._problems = None


def read_run(run_dir: str | Path):
    """(run.json dict, problems DataFrame, trajectories DataFrame) of finished problems only."""
    import pandas as pd

    meta = read_run_json(run_dir)
    problems = pd.DataFrame(read_jsonl(Path(run_dir) / PROBLEMS_FILE), columns=list(PROBLEM_FIELDS))
    done = set(problems["problem_id"])
    trajectories = pd.DataFrame([t for t in read_jsonl(Path(run_dir) / TRAJECTORIES_FILE) if t["problem_id"] in done],
                                columns=list(TRAJECTORY_FIELDS))
    return meta, problems, trajectories
