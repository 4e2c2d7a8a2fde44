"""The budget protocol: per problem, keep as many samples in flight as fit until the deadline.

Model load, sizing and warm-up happen before the first clock starts and are recorded in run.json:
the run's concurrency is chosen once (a resume keeps it), and warm-up runs a synthetic prompt as
long as the run's longest at that concurrency, so allocation and graph capture are done for every
problem. Each problem then gets its own clock: its prompt is submitted as many times as fit,
every finished slot is refilled while time remains, every finished sample is recorded with its
finish time, and samples still in flight at the deadline are aborted and only counted. Engine
work that still lands on a clock (allocation, graph capture, preemption) is counted per problem.
Only the model works on the clock: grading waits until the last problem is done.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from harness.analysis.methods import reward_methods
from harness.analysis.summary import summarize_run
from harness.budget import parse_budget
from harness.config import HarnessConfig, PromptConfig, as_dict, current_backend
from harness.data import Problem, build_messages, load_problems
from harness.generation.backends import Backend
from harness.generation.backends.auto import BackendChoice, make_backend
from harness.generation.session import Finished
from harness.grading.run import grade_store
from harness.measure.environment import describe_environment
from harness.reward import check_reward_model, load_reward_model, reward_identity, score_records
from harness.store import ProblemRecord, RunStore, StoreError, TrajectoryRecord, read_run_json

log = logging.getLogger(__name__)


@dataclass
class ProblemResult:
    n_samples: int
    n_aborted: int
    gen_tokens: int
    wall_s: float
    on_clock: dict[str, int]  # engine events (Backend.events) that happened on the problem's clock


def _since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {kind: count - before.get(kind, 0) for kind, count in after.items()}


def run_problem(backend: Backend, prompt_ids: list[int], concurrency: int, budget_s: float,
                emit: Callable[[Finished, float], None], clock: Callable[[], float] = time.perf_counter) -> ProblemResult:
    """Sample one prompt until ``budget_s`` runs out; ``emit(sample, t_end_s)`` per finished sample.

    A sample counts only if the step that finished it ended by the deadline: one that ends in
    the step straddling the deadline did not finish within the budget, so it is aborted.
    """
    before = backend.events()
    start = clock()
    deadline = start + budget_s
    session = backend.session(prompt_ids, concurrency)  # prefill is on the clock
    try:
        session.add(concurrency)
        n_samples = late = 0
        while True:
            finished = session.step()
            now = clock()
            if now > deadline:
                late = len(finished)
                break
            for sample in finished:
                emit(sample, now - start)
            n_samples += len(finished)
            session.add(len(finished))
        n_aborted = session.abort() + late
        wall_s = clock() - start
        return ProblemResult(n_samples, n_aborted, session.tokens_generated, wall_s, _since(before, backend.events()))
    finally:
        session.close()


def problem_seed(seed: int, problem_id: str) -> int:
    # Stable across processes (unlike hash()), so shards and resumes reuse each problem's stream.
    return (seed * 1_000_003 + zlib.crc32(problem_id.encode())) % 2**63


def warmup_prompt(backend: Backend, prompt: PromptConfig, length: int) -> list[int]:
    """A chat prompt of exactly ``length`` tokens that is no problem's own (so no problem finds
    its prompt in a prefix cache): the prompt template around filler text, cut to length."""
    words = length
    while True:
        ids = backend.render_prompt(build_messages(Problem("warm-up", " ".join(["warm up"] * words), ""), prompt))
        if len(ids) >= length:
            return ids[:length]
        words *= 2


def _halve_on_oom(err: Exception, concurrency: int, where: str) -> int:
    """The smaller concurrency to retry with after running out of memory; re-raises anything else."""
    if "out of memory" not in str(err).lower() or concurrency == 1:
        raise err
    log.warning("out of memory %s at concurrency %d: going on with %d", where, concurrency, concurrency // 2)
    return concurrency // 2


def _model_shape(model_cfg) -> dict[str, Any] | None:
    """The sizes the report's analytic cost axes need (harness.analysis.cost); None, with a warning, when unknown."""
    from harness.analysis.cost import read_model_shape
    from harness.generation.models import resolve

    try:
        return read_model_shape(resolve(model_cfg.path), model_cfg.revision)
    except (OSError, ValueError, KeyError) as err:  # files not local, or an architecture without formulas
        log.warning("no model_shape in run.json (the report's flops/bytes axes leave this run out): %s", err)
        return None


def _check_resumed_backend(run_dir: Path, choice: BackendChoice) -> None:
    """A run continues on the backend it started on: one run's samples never mix engines."""
    if not (run_dir / "run.json").exists():
        return
    meta = read_run_json(run_dir)
    before = (meta.get("backend_choice") or {}).get("backend")
    if before is not None and current_backend(before) != choice.backend and meta.get("status") != "done":
        raise StoreError(f"cannot resume {run_dir}: it ran on backend {before}, but here it would run on "
                         f"{choice.backend} ({choice.reason}); resume it where it ran, or start a new run directory")


class Runner:
    def __init__(self, cfg: HarnessConfig, run_dir: Path) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.budget_s = parse_budget(cfg.budget)
        self.problems = load_problems(cfg.data)
        self.max_new_tokens = cfg.sampling.max_new_tokens or cfg.data.max_new_tokens
        # A selection that needs a reward model scores in this job, after generation: a reward
        # model that cannot be had fails now, before anything is generated.
        rewarded = reward_methods(cfg.selection.methods)
        self.reward = cfg.selection.reward if rewarded else None
        if self.reward is not None:
            check_reward_model(self.reward, rewarded)
        # Chosen (the model found, model.options checked) before the run directory exists; loaded in run().
        self.backend, self.backend_choice = make_backend(cfg, self.max_new_tokens)
        _check_resumed_backend(run_dir, self.backend_choice)

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        # The run's one writer: grading and reward scoring write through it too, so its run.json is the file's.
        self.store = store = RunStore(self.run_dir, as_dict(cfg))
        try:
            summary = self._run(store)
        except BaseException as err:
            reason = "interrupted" if isinstance(err, KeyboardInterrupt) else f"{type(err).__name__}: {err}"
            store.update_meta(status=f"failed: {reason}")
            raise
        finally:
            store.close()
        return summary

    def _run(self, store: RunStore) -> dict[str, Any]:
        cfg = self.cfg
        pending = [p for p in self.problems if p.problem_id not in store.done]
        if store.resumed:
            log.info("resuming %s: %d of %d problems done", store.dir, len(store.done), len(self.problems))
        if not pending and store.meta.get("status") == "done":
            log.info("%s is complete: nothing to do", store.dir)
            if "summary" not in store.meta:  # regraded or rescored since (harness.store drops it)
                store.update_meta(summary=summarize_run(store.dir))
            return store.meta["summary"]
        choice = self.backend_choice
        log.info("backend %s: %s", choice.backend, choice.reason)
        store.update_meta(status="running", budget_s=self.budget_s, n_problems=len(self.problems),
                          backend_choice={"backend": choice.backend, "reason": choice.reason}, **describe_environment())
        backend = self.backend
        t0 = time.perf_counter()
        backend.load()
        prompts = {p.problem_id: backend.render_prompt(build_messages(p, cfg.prompt)) for p in pending}
        longest = max((len(ids) for ids in prompts.values()), default=1)
        concurrency = self._concurrency(store, longest)
        load_s = time.perf_counter() - t0
        store.update_meta(model_shape=_model_shape(cfg.model))
        self.warm_prompt = warmup_prompt(backend, cfg.prompt, longest)
        t0 = time.perf_counter()
        before = backend.events()
        if pending:
            concurrency = self._warm_up(concurrency)
        store.update_meta(timings={"load_s": round(load_s, 3), "warmup_s": round(time.perf_counter() - t0, 3)},
                          warmup_events=_since(before, backend.events()), concurrency=concurrency,
                          backend=backend.describe(), max_new_tokens=self.max_new_tokens)
        bar = tqdm(total=len(self.problems), initial=len(store.done), unit="problem", dynamic_ncols=True,
                   disable=not cfg.runner.progress, desc=f"{cfg.model.name} {cfg.data.name} {cfg.budget}")
        totals = {"samples": 0, "seconds": 0.0}
        try:
            for problem in pending:
                concurrency = self._solve(store, problem, prompts[problem.problem_id], concurrency, bar, totals)
        finally:
            bar.close()
            backend.close()
        if cfg.runner.grade:  # after the last problem: grading never shares a problem's clock
            # A resumed run is graded again whole: its earlier samples may come from older rules.
            grade_store(store, regrade=store.resumed, workers=cfg.runner.grade_workers,
                        timeout_s=cfg.runner.grade_timeout_s)
        if self.reward is not None:
            self._score(store)
        summary = summarize_run(store.dir)
        store.update_meta(status="done", summary=summary)
        return summary

    def _concurrency(self, store: RunStore, longest: int) -> int:
        """The run's one concurrency: chosen by the first process (capacity within config), kept
        by every resume, which stops in one line where it no longer fits."""
        kept = store.meta.get("concurrency") if store.resumed else None
        if kept is None:
            return self.backend.max_concurrency(longest)
        fits = self.backend.capacity(longest)
        if fits is not None and fits < kept:
            raise StoreError(f"cannot resume {store.dir} at its concurrency {kept}: only {fits} samples of its longest "
                             f"prompt ({longest} tokens) fit in this device's free memory now; free it, resume where it "
                             "ran, or start a new run directory")
        return kept

    def _warm_up(self, concurrency: int) -> int:
        """Warm up at ``concurrency`` (halved on running out of memory); returns the concurrency that fit."""
        while self.cfg.runner.warmup:
            try:
                self.backend.warmup(self.warm_prompt, concurrency)
                break
            except Exception as err:  # torch.cuda.OutOfMemoryError and backends' own OOM errors
                concurrency = _halve_on_oom(err, concurrency, "in warm-up")
        return concurrency

    def _score(self, store: RunStore) -> None:
        """Reward every sample, after generation (the generator's memory is free again); each
        sample's scoring seconds are recorded, and the plots put them on the time axis."""
        t0 = time.perf_counter()
        rm = load_reward_model(self.reward)
        load_s = time.perf_counter() - t0
        store.update_meta(reward=reward_identity(self.reward))
        questions = {p.problem_id: p.question for p in self.problems}

        def score(records: list[TrajectoryRecord]) -> list[TrajectoryRecord]:
            for _ in score_records(records, store.done, rm, questions):
                pass
            return records

        t0 = time.perf_counter()
        store.update_trajectories(score)
        store.update_meta(timings={**store.meta.get("timings", {}), "reward_load_s": round(load_s, 3),
                                   "reward_scoring_s": round(time.perf_counter() - t0, 3)})

    def _solve(self, store: RunStore, problem: Problem, prompt_ids: list[int], concurrency: int, bar: tqdm,
               totals: dict[str, float]) -> int:
        """Run one problem to its line in problems.jsonl; returns the concurrency for the next."""
        while True:
            index = 0

            def emit(sample: Finished, t_end_s: float) -> None:
                nonlocal index
                store.append_trajectory(TrajectoryRecord(problem.problem_id, index, sample.text, sample.n_tokens,
                                                         sample.finish_reason, round(t_end_s, 4)))
                index += 1
                totals["samples"] += 1
                bar.set_postfix(samples=int(totals["samples"]),
                                per_s=f"{totals['samples'] / max(totals['seconds'] + t_end_s, 1e-9):.1f}", refresh=False)

            self.backend.reseed(problem_seed(self.cfg.seed, problem.problem_id))
            try:
                result = run_problem(self.backend, prompt_ids, concurrency, self.budget_s, emit)
                break
            except Exception as err:  # torch.cuda.OutOfMemoryError and backends' own OOM errors
                concurrency = _halve_on_oom(err, concurrency, f"on {problem.problem_id} (redoing it)")
                store.discard_problem(problem.problem_id)
                # Off the clock again: the redo must not pay for the smaller slots' allocation.
                concurrency = self._warm_up(concurrency)
                store.update_meta(concurrency=concurrency)
        store.finish_problem(ProblemRecord(problem.problem_id, self.budget_s, result.n_samples, result.n_aborted,
                                           concurrency, result.gen_tokens, round(result.wall_s, 4), len(prompt_ids),
                                           result.on_clock))
        totals["seconds"] += result.wall_s
        bar.update(1)
        return concurrency
