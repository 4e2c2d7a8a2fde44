"""Scoring a run's samples with a reward model: a chunk at a time, so an interruption keeps work."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from harness import plugins
from harness.errors import UserError

if TYPE_CHECKING:
    from harness.reward.models import RewardModel
    from harness.store import RunStore, TrajectoryRecord

_CHUNK = 256  # samples per score() call, so progress shows and an interruption keeps work


def run_questions(config: Mapping[str, Any], data_dir: str | None) -> dict[str, str]:
    """problem_id -> question, over the whole dataset a run's config names."""
    from harness.data import load_problems

    plugins.load_for(config)  # a plugin's dataset, named in the run's config
    data = dict(config["data"], ids=None, limit=None, shard=None)
    if data_dir:
        data["dir"] = data_dir
    return {p.problem_id: p.question for p in load_problems(data)}


def score_records(records: list[TrajectoryRecord], finished: set[str], rm: RewardModel,
                  questions: Mapping[str, str], rescore: bool = False) -> Iterator[int]:
    """Fill ``reward``/``reward_s`` of the finished problems' samples in place, a chunk at a time;
    yields how many are scored so far (a caller keeps them when interrupted).

    Only null rewards are scored unless ``rescore``, so a rerun after an interruption resumes.
    """
    todo = [r for r in records if r.problem_id in finished and (rescore or r.reward is None)]
    missing = {r.problem_id for r in todo} - set(questions)
    if missing:
        raise UserError(f"{len(missing)} problems of the run are not in the data file, e.g. {sorted(missing)[0]!r}; "
                        "point --data-dir at the data the run read")
    for r in todo if rescore else ():  # old scores go first: an interrupted rescore never mixes models
        r.reward = r.reward_s = None
    for c in range(0, len(todo), _CHUNK):
        chunk = todo[c : c + _CHUNK]
        scores = rm.score([r.text for r in chunk], [questions[r.problem_id] for r in chunk])
        for r, (reward, seconds) in zip(chunk, scores):
            r.reward, r.reward_s = reward, seconds
        print(f"scored {c + len(chunk)}/{len(todo)} samples", file=sys.stderr)
        yield c + len(chunk)


def score_run(store: RunStore, rm: RewardModel, questions: Mapping[str, str], rescore: bool = False) -> int:
    """Score the samples of the run ``store`` writes (``score_records``), written through it; returns
    how many were scored."""
    records = store.trajectories()  # drops a torn last line, as resuming the run would
    done = 0
    try:
        for done in score_records(records, store.done, rm, questions, rescore):
            pass
    finally:
        if done or rescore:  # keep what was scored even when interrupted
            store.replace_trajectories(records)
    return done
