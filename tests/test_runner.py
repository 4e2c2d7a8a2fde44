"""The budget protocol, on a scripted backend and a fake clock (no model, no sleeping)."""

import time

import pytest
from conftest import ROOT

from harness.backends.base import Backend
from harness.runner import problem_seed, run_problem
from harness.session import Finished, Session


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class ScriptedSession(Session):
    """Sample k needs lengths[k] steps; each step costs step_s on the fake clock."""

    def __init__(self, clock, lengths, step_s, slots):
        self.clock, self.lengths, self.step_s, self.slots = clock, iter(lengths), step_s, slots
        self.live: list[list[int]] = []  # [steps left, tokens so far]
        self.generated = 0
        self.max_in_flight = 0

    def add(self, n):
        assert len(self.live) + n <= self.slots
        self.live += [[next(self.lengths), 0] for _ in range(n)]
        self.max_in_flight = max(self.max_in_flight, len(self.live))

    def step(self):
        self.clock.now += self.step_s
        done = []
        for sample in self.live:
            sample[0] -= 1
            sample[1] += 1
            self.generated += 1
        done = [Finished(f"t{s[1]}", s[1], "stop") for s in self.live if s[0] == 0]
        self.live = [s for s in self.live if s[0] > 0]
        return done

    @property
    def in_flight(self):
        return len(self.live)

    @property
    def tokens_generated(self):
        return self.generated

    def abort(self):
        n = len(self.live)
        self.live = []
        return n


class ScriptedBackend(Backend):
    def __init__(self, clock, lengths, step_s):
        self.clock, self.lengths, self.step_s = clock, lengths, step_s
        self.sessions = []

    def load(self): ...
    def render_prompt(self, messages): return [1, 2, 3]
    def max_concurrency(self, prompt_tokens): return 4
    def reseed(self, seed): ...

    def session(self, prompt_ids, concurrency):
        self.sessions.append(ScriptedSession(self.clock, self.lengths, self.step_s, concurrency))
        return self.sessions[-1]


def run(lengths, budget_s, step_s=0.1, concurrency=2):
    clock = FakeClock()
    backend = ScriptedBackend(clock, lengths, step_s)
    emitted = []
    result = run_problem(backend, [1], concurrency, budget_s, lambda s, t: emitted.append((s, t)), clock=clock)
    return result, emitted, backend.sessions[0]


def test_finished_slots_are_refilled_while_time_remains():
    # Two slots, every sample takes 3 steps of 0.1 s: a pair finishes every 0.3 s.
    result, emitted, session = run([3] * 100, budget_s=1.0)
    assert [round(t, 6) for _, t in emitted] == [0.3, 0.3, 0.6, 0.6, 0.9, 0.9]
    assert result.n_samples == 6 and session.max_in_flight == 2


def test_samples_finishing_after_the_deadline_are_aborted_not_recorded():
    # The step ending at 1.2 s finishes a pair, but after the 1.15 s deadline.
    result, emitted, _ = run([3] * 100, budget_s=1.15)
    assert all(t <= 1.15 for _, t in emitted)
    assert result.n_samples == 6 and result.n_aborted == 2


def test_in_flight_samples_at_the_deadline_are_counted_as_aborted():
    result, emitted, _ = run([2, 50, 50, 50, 50], budget_s=0.5, concurrency=2)
    assert [s.n_tokens for s, _ in emitted] == [2]
    assert result.n_aborted == 2  # the long first one and its refill
    # Six steps (the sixth crosses the deadline) with both slots busy throughout: every
    # decoded token counts, aborted samples' included.
    assert result.gen_tokens == 6 * 2


def test_a_budget_shorter_than_one_step_records_nothing():
    result, emitted, _ = run([1] * 10, budget_s=0.05)
    assert emitted == [] and result.n_samples == 0 and result.n_aborted == 2


def test_problem_seed_is_stable_and_distinct():
    # Golden values: a switch to hash() (salted per process) or another formula breaks resumes and
    # shards of runs already on disk, which must sample each problem from the same stream.
    assert problem_seed(0, "gsm8k/test/1") == 3985256395
    assert problem_seed(3, "math500/test/precalculus/807.json") == 3678271118
    assert len({problem_seed(s, f"p{i}") for s in range(3) for i in range(50)}) == 150


def test_wall_time_covers_the_whole_budget():
    result, _, _ = run([3] * 100, budget_s=1.0)
    assert result.wall_s == pytest.approx(1.1)  # the step that crossed the deadline included


class OOMAboveTwo(Backend):
    """Runs out of memory a few steps into a problem whenever more than two samples are in flight."""

    def load(self): ...
    def render_prompt(self, messages): return [1, 2, 3]
    def max_concurrency(self, prompt_tokens): return 8
    def reseed(self, seed): ...

    def session(self, prompt_ids, concurrency):
        clock = FakeClock()
        clock.now = 0.0
        session = ScriptedSession(clock, iter([2] * 10_000), 0.0, concurrency)
        step = session.step

        def slow_step():
            time.sleep(0.005)
            if concurrency > 2 and session.generated > 6:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return step()

        session.step = slow_step
        return session


def test_out_of_memory_halves_concurrency_and_redoes_the_problem(tmp_path, data_dir, monkeypatch):
    from hydra import compose, initialize_config_dir

    from harness import runner
    from harness.backends import auto
    from harness.config import register, to_harness_config
    from harness.store import read_run

    register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["model=tiny_llama", "data.limit=2", "budget=0.3s", "runner.grade=false",
                                           "runner.progress=false"])
    monkeypatch.setattr(auto, "backend_class", lambda name: OOMAboveTwo)
    runner.Runner(to_harness_config(cfg), tmp_path).run()
    meta, problems, trajectories = read_run(tmp_path)
    assert meta["status"] == "done" and meta["concurrency"] == 2
    assert list(problems.concurrency) == [2, 2] and (problems.n_samples > 0).all()
    for _, group in trajectories.groupby("problem_id"):  # the failed attempts' samples are gone
        assert sorted(group.sample_idx) == list(range(len(group)))
    assert len(trajectories) == problems.n_samples.sum()
