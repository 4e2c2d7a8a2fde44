"""The budget protocol, on a scripted backend and a fake clock (no model, no sleeping)."""

import math
import time

import pytest
import torch
from conftest import ROOT
from hydra import compose, initialize_config_dir

from harness.extensions import load_config, register_all
from harness.generation.backends import auto, backend_class
from harness.generation.backends.base import Backend
from harness.generation.engine.host import per_slot_bytes
from harness.generation.session import Finished, Session
from harness.measure.runner import Runner, problem_seed, run_problem
from harness.report import write_report
from harness.store import StoreError, read_run


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
    def capacity(self, prompt_tokens): return None
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
    def capacity(self, prompt_tokens): return None  # CPU: runner.cpu_concurrency (8)
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


def config(*overrides):
    register_all()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return load_config(compose("config", overrides=["budget=0.3s", "runner.grade=false",
                                                              "runner.progress=false", *overrides]))


def test_out_of_memory_halves_concurrency_and_redoes_the_problem(tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(auto, "backend_class", lambda name: OOMAboveTwo)
    Runner(config("model=tiny_llama", "data.limit=2"), tmp_path).run()
    meta, problems, trajectories = read_run(tmp_path)
    assert meta["status"] == "done" and meta["concurrency"] == 2
    assert list(problems.concurrency) == [2, 2] and (problems.n_samples > 0).all()
    for _, group in trajectories.groupby("problem_id"):  # the failed attempts' samples are gone
        assert sorted(group.sample_idx) == list(range(len(group)))
    assert len(trajectories) == problems.n_samples.sum()


# GSM8K problems 0-4: prompts of 357, 259, 321, 269 and 504 tokens. With 24 new tokens and slots
# rounded up to 256 tokens, problem 0 needs 512-token slots and problem 4 768-token ones.
SLOT_RUN = ["model.backend=slot", "data.limit=5", "sampling.max_new_tokens=24", "runner.threads=1"]


def slot_lengths(problems) -> list[int]:
    return [math.ceil((p + 24) / 256) * 256 for p in problems.prompt_tokens]


@pytest.mark.parametrize("model", ["tiny_hybrid", "tiny_llamba", "tiny_llama"])
def test_warm_up_at_the_longest_prompt_leaves_no_allocation_on_any_clock(tmp_path, data_dir, model):
    Runner(config(f"model={model}", *SLOT_RUN), tmp_path).run()
    meta, problems, _ = read_run(tmp_path)
    lengths = slot_lengths(problems)
    assert max(lengths[1:]) > lengths[0]  # a warm-up on problem 0's prompt would leave problem 4 to allocate
    assert list(problems.on_clock_events) == [{"allocations": 0, "graph_captures": 0}] * 5
    assert meta["warmup_events"] == {"allocations": 1, "graph_captures": 0}  # no CUDA here: no graphs
    assert meta["summary"]["on_clock_events"] == {"allocations": 0, "graph_captures": 0}


def test_allocation_on_a_clock_is_counted_and_shown(tmp_path, data_dir):
    # Without warm-up the first problem allocates its slots on its clock, and so does every
    # later problem whose prompt needs longer ones.
    Runner(config("model=tiny_hybrid", "runner.warmup=false", *SLOT_RUN), tmp_path).run()
    meta, problems, _ = read_run(tmp_path)
    lengths = slot_lengths(problems)
    grows = [int(n > max(lengths[:i], default=0)) for i, n in enumerate(lengths)]
    assert [e["allocations"] for e in problems.on_clock_events] == grows and sum(grows) == 2
    assert meta["summary"]["on_clock_events"] == {"allocations": 2, "graph_captures": 0}
    write_report([tmp_path], tmp_path / "report")
    assert "| allocations 2 (2 problems) |" in (tmp_path / "report" / "summary.md").read_text()


class FakeGPU:
    """A student's backend (mixed in below) on CPU, sized as on a GPU whose free memory holds
    ``room`` samples of the run's longest prompt (torch.cuda.mem_get_info is faked to say so)."""

    room = 0

    def load(self):
        super().load()
        self.device = torch.device("cuda")

    def capacity(self, prompt_tokens):
        self.longest = prompt_tokens
        return super().capacity(prompt_tokens)

    def free_bytes(self) -> int:
        host, n = self.host, self.longest
        return math.ceil((self.room * per_slot_bytes(host.model, host.max_len(n)) + host.model.prefill_bytes(n)) / 0.9)


@pytest.mark.parametrize("model, room_on_resume, expected", [
    ("tiny_hybrid", 20, 6), ("tiny_hybrid", 6, 6), ("tiny_hybrid", 3, "only 3 samples"),
    ("tiny_llamba", 20, 6), ("tiny_llamba", 3, "only 3 samples"),  # the pure student: same protocol
])
def test_a_resume_keeps_the_runs_concurrency_whatever_memory_is_free(tmp_path, data_dir, monkeypatch, model,
                                                                     room_on_resume, expected):
    calls = []
    monkeypatch.setattr(auto, "backend_class", lambda name: type("FakeGPU", (FakeGPU, backend_class(name)), {}))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("empty_cache"))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU")
    runner = None

    def mem_get_info(device=None):
        calls.append("mem_get_info")
        return runner.backend.free_bytes(), 80 * 2**30

    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    FakeGPU.room = 6
    runner = Runner(config(f"model={model}", "data.limit=1"), tmp_path)
    runner.run()
    assert read_run(tmp_path)[0]["concurrency"] == 6  # as many as fit
    assert calls[:2] == ["empty_cache", "mem_get_info"]  # PyTorch's cached memory counts as free

    FakeGPU.room = room_on_resume  # the resume (data.limit=2: one more problem) finds other free memory
    runner = Runner(config(f"model={model}", "data.limit=2"), tmp_path)
    if isinstance(expected, str):
        with pytest.raises(StoreError, match=f"cannot resume {tmp_path} at its concurrency 6: {expected} of its "
                                             r"longest prompt \(\d+ tokens\) fit"):
            runner.run()
        meta, problems, _ = read_run(tmp_path)
        assert meta["concurrency"] == 6 and list(problems.concurrency) == [6]
        return
    runner.run()
    meta, problems, _ = read_run(tmp_path)
    assert meta["status"] == "done" and meta["concurrency"] == expected and list(problems.concurrency) == [6, 6]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_a_gpu_graphs_are_captured_in_warm_up_never_on_a_clock(tmp_path, data_dir):
    Runner(config("model=tiny_hybrid", "+model.options.attention=torch", *SLOT_RUN), tmp_path).run()
    meta, problems, _ = read_run(tmp_path)
    assert meta["warmup_events"]["graph_captures"] > 0  # one graph per attention bucket of the longest slots
    assert all(e == {"allocations": 0, "graph_captures": 0} for e in problems.on_clock_events)


def test_no_grader_exists_until_every_problem_is_done(tmp_path, data_dir, monkeypatch):
    # Grading (and its process pool) never shares a problem's clock: the first Grader is made
    # once the last problem's line is written.
    from harness.grading import grader

    made_after = []
    init = grader.Grader.__init__

    def counting_init(self, *args, **kwargs):
        made_after.append(len(read_run(tmp_path)[1]))
        init(self, *args, **kwargs)

    monkeypatch.setattr(grader.Grader, "__init__", counting_init)
    Runner(config("model=tiny_llama", "data.limit=3", "sampling.max_new_tokens=24", "runner.threads=1",
                  "runner.grade=true"), tmp_path).run()
    meta, problems, trajectories = read_run(tmp_path)
    assert made_after == [3] and len(problems) == 3 and trajectories.correct.notna().all() and meta["grader"]
