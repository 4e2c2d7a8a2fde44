"""The runner's grading: every sample is graded once generation is over, never while a problem's
clock runs. The grader's worker processes (sympy) would otherwise compete with decoding for the
CPU, and the faster model, finishing more samples, would pay more. This holds on a GPU machine
too: there the host drives the device and runs vLLM's front end, and a job's CPUs are few.

Grades and voting classes are written into trajectories.jsonl after the last problem, then the
Math-Verify audit (grader_audit.jsonl, run.json ``audit``); a run killed before that is
graded by its resume (which regrades the whole run, so every grade of a run comes from one
grader version) or by ``python -m harness.grading <run>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.grading.run import grade_records
from harness.store import RunStore

if TYPE_CHECKING:
    from harness.config import HarnessConfig


class BackgroundGrader:
    def __init__(self, store: RunStore, workers: int, timeout_s: float) -> None:
        self.store = store
        self.workers = workers
        self.timeout_s = timeout_s

    @classmethod
    def start(cls, cfg: HarnessConfig, store: RunStore) -> BackgroundGrader:
        return cls(store, cfg.runner.grade_workers, cfg.runner.grade_timeout_s)

    def finish(self) -> None:
        """Grade every sample not graded yet by the run's rules, form the voting classes and audit
        the grades; a resumed run is graded again whole, as its earlier samples may come from older
        rules."""
        summary = grade_records(self.store.dir, regrade=self.store.resumed, workers=self.workers,
                                timeout_s=self.timeout_s)
        # The store writes run.json from its own copy: give it what grading recorded.
        self.store.update_meta(grader=summary["grader"], audit=summary["audit"])
