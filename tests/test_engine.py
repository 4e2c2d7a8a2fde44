"""The slot engine on tiny random models (CPU): sampler, refills, finishes, deadline, hf path."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from harness.config import ModelConfig, RunnerConfig, SamplingConfig
from harness.errors import MissingPackage, UserError
from harness.generation.backends.engine import EngineBackend
from harness.generation.backends.hf import HFBackend
from harness.generation.backends.mamba_in_llama import MambaInLlamaBackend
from harness.generation.engine import SlotEngine
from harness.generation.engine.host import EngineOptions, use_triton
from harness.generation.engine.sampling import SamplingParams, sample_in_graph, sample_tokens
from harness.generation.kernels import decode_attention
from harness.generation.kernels.decode_attention import attend_masked
from harness.generation.kernels.top_p import nucleus_threshold_sorted
from harness.generation.models.checkpoint import random_init_
from harness.generation.models.mamba_in_llama import tiny_config
from harness.generation.models.mamba_model import MambaInLlamaForCausalLM
from harness.measure.runner import run_problem

MESSAGES = [{"role": "user", "content": "What is 12*3? Put the answer in \\boxed{}."}]
GREEDY = SamplingParams(temperature=0.0, top_p=1.0, top_k=0)


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(attn_layers=(1, 3), mixer="mamba1", vocab=64) -> MambaInLlamaForCausalLM:
    model = MambaInLlamaForCausalLM(tiny_config(vocab, attn_layers, mixer))
    random_init_(model, seed=0)
    return model.eval().requires_grad_(False)


def engine(model, batch=4, max_len=64, max_new=8, sampling=GREEDY, bucket=16, seed=0, attend=attend_masked):
    return SlotEngine(model, batch, max_len, max_new, sampling, torch.Generator().manual_seed(seed), cuda_graph=False,
                      attend=attend, attn_bucket=bucket)


@pytest.mark.parametrize("cfg", [SamplingParams(0.7, top_p=0.8, top_k=0), SamplingParams(1.3, top_p=1.0, top_k=3),
                                 SamplingParams(1.0, top_p=0.9, top_k=4)])
# The top-p threshold path (``nucleus``) with the sort's threshold standing in for the Triton search
# (same kept set: tests/test_top_p.py); 20,000 rows are too many for Triton's interpreter.
@pytest.mark.parametrize("nucleus", [None, nucleus_threshold_sorted], ids=["sort", "threshold"])
def test_in_graph_sampler_draws_sample_tokens_distribution(cfg, nucleus):
    logits = torch.tensor([[2.0, 1.5, 1.0, 0.5, 0.0, -1.0, -3.0]]).expand(20000, -1)
    ours = sample_in_graph(logits, cfg, torch.Generator().manual_seed(0), nucleus)
    theirs = sample_tokens(logits, cfg, torch.Generator().manual_seed(1))
    p, q = (torch.bincount(t, minlength=7).float() / len(t) for t in (ours, theirs))
    assert set(ours.unique().tolist()) == set(theirs.unique().tolist())  # same support after top-k/top-p
    assert (p - q).abs().max() < 0.02  # binomial sd <= 0.0035 per frequency, two draws
    assert torch.equal(sample_in_graph(logits[:3], GREEDY, None), logits[:3].argmax(-1))


@pytest.mark.parametrize("attn_layers", [(1, 3), ()])
def test_refill_reproduces_a_fresh_prefills_next_token_logits(attn_layers):
    model = tiny_model(attn_layers)
    prompt_ids = list(range(5, 25))
    prompt = model.prefill(torch.tensor([prompt_ids]))
    with torch.inference_mode():
        e = engine(model, batch=3)
        e.start(prompt, eos=set())
        e.refill([0, 1, 2])
        e.advance(5)  # slot 1 now holds a 6-token sample's state...
        e.release([1])
        e.refill([1])  # ...replaced by the prompt's, with its first token drawn
        logits = model.step(e.tokens, e.state, attend_masked)
    first = int(e.tokens[1])
    fresh = model(torch.tensor([prompt_ids + [first]]))[0, -1]
    assert first == int(prompt.logits.argmax())
    torch.testing.assert_close(logits[1], fresh, atol=1e-4, rtol=1e-4)


@torch.inference_mode()
def naive_greedy(model, prompt_ids, max_new, eos):
    ids, out = list(prompt_ids), []
    while len(out) < max_new:
        out.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
        ids.append(out[-1])
        if out[-1] in eos:
            break
    return out


def staggered_greedy_rows(e: SlotEngine, prompt_ids: list[int]) -> dict[int, list[int]]:
    """Two samples of one prompt, slot 1 started 7 steps after slot 0, stepped 3 at a time."""
    e.start(e.model.prefill(torch.tensor([prompt_ids], device=e.model.device)), eos=set())
    e.refill([0])
    e.advance(7)
    e.refill([1])
    rows = {}
    while e.started:
        e.advance(3)
        for slot, (tokens, done) in e.read(every_live=False).items():
            rows[slot] = tokens
            e.release([slot])
    return rows


def test_attention_buckets_change_mid_sample_without_changing_tokens():
    model = tiny_model()
    prompt_ids = list(range(3, 17))  # 14 tokens; samples cross the 16, 24 and 32 buckets
    expected = naive_greedy(model, prompt_ids, 20, eos=set())
    e = engine(model, batch=2, max_len=40, max_new=20, bucket=8)
    assert list(e.views) == [8, 16, 24, 32, 40]
    assert staggered_greedy_rows(e, prompt_ids) == {0: expected, 1: expected}


def test_split_k_attention_reads_each_slots_length_in_one_view(split_k, monkeypatch):
    monkeypatch.setattr(decode_attention, "SPLIT", 16)  # samples cross two split edges
    monkeypatch.setattr(decode_attention, "BLOCK_T", 16)
    model = tiny_model()
    prompt_ids = list(range(3, 17))
    expected = naive_greedy(model, prompt_ids, 20, eos=set())
    e = engine(model, batch=2, max_len=40, max_new=20, bucket=0, attend=split_k)
    assert list(e.views) == [40]
    assert staggered_greedy_rows(e, prompt_ids) == {0: expected, 1: expected}


AUTO_TRITON = torch.cuda.is_available()  # "auto" picks the Triton kernels on CUDA only


@pytest.mark.parametrize("options, attention, top_p, views", [
    ({}, "triton split-K" if AUTO_TRITON else "torch, bucketed",
     "triton threshold search" if AUTO_TRITON else "torch sort", [128] if AUTO_TRITON else [64, 128]),
    ({"attention": "triton", "top_p": "torch"}, "triton split-K", "torch sort", [128]),
    ({"attention": "torch", "top_p": "triton"}, "torch, bucketed", "triton threshold search", [64, 128]),
])
def test_engine_host_picks_its_kernels(options, attention, top_p, views):
    if options:
        pytest.importorskip("triton")
    b = mamba_backend(max_new_tokens=70, options=options)
    b.session(b.render_prompt(MESSAGES), 2)
    described = b.describe()
    assert (described["attention"], described["top_p"], list(b.host.engine.views)) == (attention, top_p, views)


def test_engine_samples_alike_with_the_top_p_search_and_the_sort(nucleus):
    model = tiny_model()
    prompt = model.prefill(torch.tensor([[1, 2, 3, 4]]))
    sampling = SamplingParams(temperature=1.0, top_p=0.7, top_k=0)
    runs = []
    for threshold in (None, nucleus):
        e = SlotEngine(model, 4, 32, 20, sampling, torch.Generator().manual_seed(0), cuda_graph=False,
                       attend=attend_masked, attn_bucket=8, nucleus=threshold)
        e.start(prompt, eos=set())
        e.refill([0, 1, 2, 3])  # the first token is sampled here, from the prompt's logits
        e.advance(19)
        runs.append(e.read(every_live=False))
    assert runs[0] == runs[1] and sorted(runs[0]) == [0, 1, 2, 3]
    assert len({tuple(tokens) for tokens, _ in runs[0].values()}) > 1  # sampled, not greedy


def test_kernel_options_reject_unknown_names_and_explain_a_missing_triton(monkeypatch):
    with pytest.raises(UserError, match="model.options.top_p='flash': use auto, triton or torch"):
        EngineOptions(top_p="flash")
    monkeypatch.setitem(sys.modules, "triton", None)
    assert not use_triton("auto", torch.device("cuda"), "attention")
    with pytest.raises(MissingPackage, match="pip install triton"):
        use_triton("triton", torch.device("cpu"), "attention")


def test_no_sample_lost_or_duplicated_when_all_finish_in_one_step():
    model = tiny_model()
    e = engine(model, batch=8, max_new=3)
    e.start(model.prefill(torch.tensor([[1, 2, 3]])), eos=set())
    e.refill(list(range(8)))
    e.advance(1)
    assert e.read(every_live=False) == {}  # 2 tokens each, none done yet
    e.advance(1)
    rows = e.read(every_live=False)
    assert sorted(rows) == list(range(8)) and all(done and len(t) == 3 for t, done in rows.values())
    e.release(list(rows))
    assert e.free_slots() == list(range(8)) and e.read(every_live=True) == {}


def mamba_backend(max_new_tokens=6, concurrency=6, options=None, **sampling) -> MambaInLlamaBackend:
    b = MambaInLlamaBackend(ModelConfig(name="tiny_hybrid", path="builtin:tiny_hybrid", backend="mamba_in_llama",
                                        dtype="float32",
                                        options={"attn_bucket": 64, "max_len_multiple": 64, **(options or {})}),
                            SamplingConfig(**{"temperature": 1.0, **sampling}), RunnerConfig(concurrency=concurrency),
                            max_new_tokens, seed=0)
    b.load()
    return b


@pytest.mark.parametrize("sync_every", [1, 3])
def test_many_finishing_with_eos_and_stop_strings_lose_nothing(sync_every):
    b = mamba_backend(options={"sync_every": sync_every})
    b.eos = set(range(0, len(b.tokenizer), 4))
    b.stop = type(b.stop)(b.tokenizer, ["e"])  # a common letter: many samples end on it mid-chunk
    session = b.session(b.render_prompt(MESSAGES), 6)
    session.add(6)
    started, finished = 6, []
    for _ in range(12):
        done = session.step()
        finished += done
        session.add(len(done))
        started += len(done)
        assert session.in_flight == 6
    assert session.abort() + len(finished) == started
    assert {f.finish_reason for f in finished} == {"stop", "length"}
    assert all("e" not in f.text and 1 <= f.n_tokens <= 6 for f in finished)
    assert session.tokens_generated >= sum(f.n_tokens for f in finished)


def test_deadline_aborts_what_is_in_flight_and_emits_only_samples_within_budget(monkeypatch):
    b = mamba_backend(max_new_tokens=5, concurrency=4)
    started = []
    open_session = b.session

    def counting_session(prompt_ids, concurrency):
        session = open_session(prompt_ids, concurrency)
        add = session.add
        monkeypatch.setattr(session, "add", lambda n: (started.append(n), add(n))[1])
        return session

    monkeypatch.setattr(b, "session", counting_session)
    ticks = iter(range(1000))
    emitted = []
    result = run_problem(b, b.render_prompt(MESSAGES), 4, budget_s=6.5, emit=lambda s, t: emitted.append(t),
                         clock=lambda: float(next(ticks)))
    assert result.n_samples == len(emitted) > 0 and result.n_aborted > 0
    assert all(t <= 6.5 for t in emitted)
    # Every sample started was either recorded or aborted, and the slots stayed full to the end.
    assert result.n_samples + result.n_aborted == sum(started) and started[0] == 4
    assert result.n_aborted >= 4


def transformers_backend(cls, name="tiny_llama", options=None, max_new_tokens=16):
    b = cls(ModelConfig(name=name, path=f"builtin:{name}", backend=cls.__module__.rsplit(".", 1)[-1], dtype="float32",
                        options=options or {}), SamplingConfig(temperature=0.0), RunnerConfig(concurrency=3),
            max_new_tokens, seed=0)
    b.load()
    return b


def test_engine_backend_decodes_like_the_hf_backend():
    outputs = []
    for b in (transformers_backend(HFBackend),
              transformers_backend(EngineBackend, options={"attn_bucket": 32, "max_len_multiple": 32})):
        session = b.session(b.render_prompt(MESSAGES), 3)
        session.add(3)
        done = []
        while session.in_flight:
            done += session.step()
        outputs.append([(f.text, f.n_tokens, f.finish_reason) for f in done])
    assert outputs[0] == outputs[1] and len(outputs[0]) == 3


def test_engine_backend_needs_a_llama_and_known_options():
    with pytest.raises(UserError, match="Llama-family"):
        transformers_backend(EngineBackend, name="tiny_mamba")
    with pytest.raises(UserError, match="model.options sync unknown to backend=engine: valid keys are gpu_memory"):
        transformers_backend(EngineBackend, options={"sync": 2})


def test_bench_runs_its_logic_on_cpu_and_needs_cuda_by_default(capsys):
    spec = importlib.util.spec_from_file_location("bench_engine", ROOT / "bench" / "engine.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--tiny", "--device", "cpu"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = {(r["bench"], r.get("system")) for r in lines}
    assert {("decode", "engine"), ("decode", "hf_generate_static"), ("budget", "engine"),
            ("bandwidth", None), ("step_parts", None)} <= kinds
    assert all(r["tokens_per_s"] > 0 for r in lines if r["bench"] == "decode" and "skipped" not in r)
    if not torch.cuda.is_available():
        proc = subprocess.run([sys.executable, "bench/engine.py"], cwd=ROOT, capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 1 and len(proc.stdout.strip().splitlines()) == 1 and "CUDA" in proc.stdout


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_engine_matches_eager_and_reseeds():
    model = tiny_model().cuda()
    prompt = model.prefill(torch.tensor([[1, 2, 3, 4]], device="cuda"))
    sampling = SamplingParams(temperature=1.0, top_p=0.9, top_k=0)
    results = []
    generator = torch.Generator("cuda")
    e = SlotEngine(model, 4, 32, 12, sampling, generator, cuda_graph=True, attend=attend_masked, attn_bucket=8)
    for seed in (0, 0, 1):
        generator.manual_seed(seed)  # as Backend.reseed does between problems, after capture
        e.start(prompt, eos=set())
        e.refill([0, 1, 2, 3])
        e.advance(11)
        results.append({s: t for s, (t, _) in e.read(every_live=False).items()})
    assert results[0] == results[1] != results[2]  # the graph follows the generator's seed
    greedy = [SlotEngine(model, 4, 32, 12, GREEDY, None, cuda_graph=g, attend=attend_masked, attn_bucket=8)
              for g in (False, True)]
    for e in greedy:
        e.start(prompt, eos=set())
        e.refill([0, 1, 2, 3])
        e.advance(11)
    assert greedy[0].read(every_live=False) == greedy[1].read(every_live=False)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_split_k_engine_decodes_greedily(split_k):
    model = tiny_model().cuda()
    prompt_ids = list(range(1, 41))
    # 40 + 280 tokens: samples cross the kernel's 256-position split edge; one graph, no buckets.
    e = SlotEngine(model, 2, 320, 280, GREEDY, None, cuda_graph=True, attend=split_k, attn_bucket=0)
    rows = staggered_greedy_rows(e, prompt_ids)
    assert sorted(rows) == [0, 1] and all(len(tokens) == 280 for tokens in rows.values())
    # Each token is the full forward's argmax at its position, up to near-ties (fp32 sums in
    # another order than the cache-free attention's).
    for tokens in rows.values():
        ids = torch.tensor([prompt_ids + tokens], device="cuda")
        with torch.inference_mode():
            logits = model(ids)[0, len(prompt_ids) - 1:-1]
        chosen = logits.gather(-1, ids[0, len(prompt_ids):, None])[:, 0]
        assert (logits.max(-1).values - chosen).max() < 1e-4


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_top_p_search_samples_like_the_sort(nucleus):
    model = tiny_model().cuda()
    prompt = model.prefill(torch.tensor([[1, 2, 3, 4]], device="cuda"))
    sampling = SamplingParams(temperature=1.0, top_p=0.9, top_k=0)
    runs = []
    for threshold in (None, nucleus):
        e = SlotEngine(model, 4, 32, 12, sampling, torch.Generator("cuda").manual_seed(0), cuda_graph=True,
                       attend=attend_masked, attn_bucket=8, nucleus=threshold)
        e.start(prompt, eos=set())
        e.refill([0, 1, 2, 3])
        e.advance(11)
        runs.append(e.read(every_live=False))
    assert runs[0] == runs[1] and sorted(runs[0]) == [0, 1, 2, 3]
