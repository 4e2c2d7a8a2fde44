"""Grade finished samples while generation goes on, in the grader's shared process pool.

Results are written into trajectories.jsonl when the run finishes; a run killed before that is
graded by its resume (which regrades the whole run, so every grade of a run comes from one
grader version) or by ``python -m harness.grading <run>``.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING

from harness.grading.grader import Grader
from harness.grading.run import grade_records
from harness.store import RunStore, TrajectoryRecord

if TYPE_CHECKING:
    from harness.config import HarnessConfig


class BackgroundGrader:
    def __init__(self, grader: Grader, store: RunStore, workers: int, timeout_s: float) -> None:
        self.grader = grader
        self.store = store
        self.workers = workers
        self.timeout_s = timeout_s
        self.pending: dict[tuple[str, int], Future] = {}

    @classmethod
    def start(cls, cfg: HarnessConfig, store: RunStore) -> BackgroundGrader:
        workers, timeout_s = cfg.runner.grade_workers, cfg.runner.grade_timeout_s
        grader = Grader(str(cfg.data.grader), timeout_s=timeout_s, workers=workers,
                        extraction=str(cfg.runner.extraction))
        return cls(grader, store, workers, timeout_s)

    def submit(self, record: TrajectoryRecord, gold: str) -> None:
        self.pending[(record.problem_id, record.sample_idx)] = self.grader.submit(record.text, gold)

    def discard(self, problem_id: str) -> None:
        for key in [k for k in self.pending if k[0] == problem_id]:
            self.pending.pop(key).cancel()

    def finish(self) -> None:
        """Write every grade into the records, then grade whatever an earlier, killed run left,
        form the voting classes and audit the grades (after generation: off every problem's clock).

        A resumed run is graded again whole: its earlier samples may come from older rules.
        """
        try:
            grades = {key: future.result() for key, future in self.pending.items()}

            def fill(records: list[TrajectoryRecord]) -> list[TrajectoryRecord]:
                for record in records:
                    grade = grades.get((record.problem_id, record.sample_idx))
                    if grade is not None and record.correct is None:
                        record.pred, record.correct = grade
                return records

            if not self.store.resumed:
                self.store.update_trajectories(fill)
            summary = grade_records(self.store.dir, regrade=self.store.resumed, workers=self.workers,
                                    timeout_s=self.timeout_s, grader=self.grader)
        finally:
            self.grader.close()
        # The store writes run.json from its own copy: give it what grading recorded.
        self.store.update_meta(grader=summary["grader"], audit=summary["audit"])
