"""The slot engine against mamba-ssm's and transformers' own generation loops (random weights).

    python bench/engine.py [--models mamba llama]   # one H100, an estimated 4-5 minutes; JSON lines

Side by side in one process, prompt 256, 512 new tokens, temperature 0.8, top_p 0.95, batch 32 and 256:
- Mamba-2 1.3B (mamba-ssm's ``MambaLMHeadModel``, 48 layers, d_model 2048): the engine driving
  that very model (``MambaSSMModel`` below) vs its ``generate(cg=True)``. Without mamba-ssm the
  engine runs a pure Mamba-2 of Llama-3.2-1B's shape (this project's model) and the baseline is skipped.
- Llama-3.2-1B shape (transformers ``LlamaForCausalLM``): the engine (``harness.generation.engine.llama``)
  vs ``generate`` with a static cache (transformers compiles its forward then). The engine runs
  with each decode attention it has: Triton split-K (each slot reads its own length; on CUDA
  when Triton imports) and torch (the longest live slot's length, rounded to 256).
Lines: ``bandwidth`` (device copy, GB/s), ``decode`` (tokens/s, ms per step, % of the roofline
= weights + state read once per step at that bandwidth), ``step_parts`` (at the largest batch: ms
of the model's step alone and of the sampler alone, each replayed as its own graph on CUDA, so
the share of a step that top-p's sort over the vocabulary takes is visible), ``budget`` (samples/s under a 10 s
per-problem budget with EOS a random 1/256 of the vocabulary, so lengths are roughly geometric
with mean ~256, capped at 512; the baselines' loops wait for their longest sample, so theirs is
batch x whole batches that fit, from the fixed-length timing).

Without CUDA it prints one line and exits 1; ``--tiny --device cpu`` runs the same logic on tiny
models (tests). mamba-ssm wheels built without their CUDA extension import only with a stand-in
``selective_scan_cuda`` module: this script inserts one (Mamba-2 never calls it); the product never does.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.generation.engine import SamplingParams, SlotEngine
from harness.generation.engine.host import use_triton
from harness.generation.engine.llama import from_hf_llama
from harness.generation.engine.sampling import sample_in_graph
from harness.generation.kernels.decode_attention import attend_masked, attend_split_k
from harness.generation.kernels.top_p import nucleus_threshold
from harness.generation.models.checkpoint import random_init_
from harness.generation.models.mamba_config import HybridConfig
from harness.generation.models.mamba_in_llama import tiny_config
from harness.generation.models.mamba_model import DecodeState, MambaInLlamaForCausalLM, PromptState

SAMPLING = SamplingParams(temperature=0.8, top_p=0.95)
MakeEngine = Callable[..., SlotEngine]  # SlotEngine with some arguments bound (functools.partial)
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192}


def emit(**record: object) -> None:
    print(json.dumps(record), flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bandwidth_gbs(device: torch.device, nbytes: int) -> float:
    """Device memory bandwidth from a large copy (read + write)."""
    x = torch.empty(nbytes, dtype=torch.uint8, device=device)
    y = torch.empty_like(x)
    y.copy_(x)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(10):
        y.copy_(x)
    sync(device)
    return 2 * nbytes * 10 / (time.perf_counter() - t0) / 1e9


def param_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in {id(p): p for p in model.parameters()}.values())


class MambaSSMModel:
    """mamba-ssm's ``MambaLMHeadModel`` as an engine model: its own layers and kernels, our slots."""

    def __init__(self, model: torch.nn.Module) -> None:
        from mamba_ssm.utils.generation import InferenceParams

        self.m, self.params_cls = model, InferenceParams
        self.device = next(model.parameters()).device
        self.n_layer = len(model.backbone.layers)
        # Its head is padded past config.vocab_size; sampling spans the head's rows.
        self.vocab_size = model.lm_head.out_features
        self.has_attention = False

    def _params(self, states: dict, batch: int, max_len: int, offset: int):
        params = self.params_cls(max_seqlen=max_len, max_batch_size=batch)
        params.key_value_memory_dict, params.seqlen_offset = states, offset
        return params

    def allocate(self, batch: int, max_len: int) -> DecodeState:
        cache = self.m.allocate_inference_cache(batch, max_len)
        return DecodeState([cache[i] for i in range(self.n_layer)], [False] * self.n_layer,
                           torch.zeros(batch, dtype=torch.long, device=self.device), max_len)

    def prefill(self, ids: Tensor) -> PromptState:
        cache = self.m.allocate_inference_cache(1, ids.shape[1])
        hidden = self.m.backbone(ids, inference_params=self._params(cache, 1, ids.shape[1], 0))
        return PromptState(ids.shape[1], self.m.lm_head(hidden[:, -1]).float(), [cache[i] for i in range(self.n_layer)])

    def step(self, tokens: Tensor, state: DecodeState, attend) -> Tensor:
        params = self._params(dict(enumerate(state.layers)), tokens.shape[0], state.max_len, 1)
        hidden = self.m.backbone(tokens[:, None], inference_params=params)
        state.lengths.add_(1)
        return self.m.lm_head(hidden[:, -1]).float()


def mamba_ssm_model(device: torch.device):
    """Mamba-2 1.3B (mamba-ssm's config), or None with the reason."""
    if importlib.util.find_spec("mamba_ssm") is None:
        return None, "mamba_ssm is not installed"
    if importlib.util.find_spec("selective_scan_cuda") is None:
        sys.modules["selective_scan_cuda"] = types.ModuleType("selective_scan_cuda")
    from mamba_ssm.models.config_mamba import MambaConfig
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel

    cfg = MambaConfig(d_model=2048, n_layer=48, vocab_size=50277, ssm_cfg={"layer": "Mamba2"}, rms_norm=True,
                      residual_in_fp32=True, fused_add_norm=True, pad_vocab_size_multiple=16)
    return MambaLMHeadModel(cfg, device=device, dtype=torch.bfloat16).eval(), None


def own_mamba2(tiny: bool, device: torch.device) -> MambaInLlamaForCausalLM:
    """This project's pure Mamba-2 (tiny, or Llama-3.2-1B-shaped) for when mamba-ssm is absent."""
    cfg = tiny_config(256, (), "mamba2") if tiny else HybridConfig(
        vocab_size=128256, d_model=2048, n_layer=16, intermediate_size=8192, n_heads=32, n_kv_heads=8, head_dim=64,
        rms_norm_eps=1e-5, rope_theta=500000.0, rope_scaling=LLAMA3_ROPE, tie_word_embeddings=True, attn_layers=(),
        mixer="mamba2", d_inner=2048, d_xb=512, d_state=64, d_conv=4, dt_rank=128, conv_bias=True,
        repeat_kv_before_conv=False)
    model = MambaInLlamaForCausalLM(cfg)
    random_init_(model, seed=0)
    return model.to(device=device, dtype=torch.bfloat16 if device.type == "cuda" else torch.float32).eval()


def hf_llama(tiny: bool, device: torch.device):
    from transformers import LlamaConfig, LlamaForCausalLM

    shape = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2) if tiny else dict(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
        num_key_value_heads=8, head_dim=64, rope_theta=500000.0, rope_scaling=LLAMA3_ROPE)
    torch.manual_seed(0)
    config = LlamaConfig(**shape, tie_word_embeddings=True, max_position_embeddings=131072, pad_token_id=0)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    return LlamaForCausalLM(config).to(device=device, dtype=dtype).eval()


def step_traffic(state: DecodeState, batch: int, avg_len: float) -> float:
    """Bytes a step must move for the slots: Mamba state read + written, K/V read up to avg_len."""
    total = 0.0
    for (a, b), attention in zip(state.layers, state.attention):
        if attention:
            total += (a.element_size() * a[0, :, 0].numel() + b.element_size() * b[0, :, 0].numel()) * batch * avg_len
        else:
            total += 2 * sum(t.element_size() * t[0].numel() for t in (a, b)) * batch
    return total


@torch.inference_mode()
def engine_decode(model, vocab: int, batch: int, prompt_len: int, new: int, make: MakeEngine, weights: int,
                  bw: float) -> dict:
    device = model.device
    engine = make(model, batch, prompt_len + new, new, SAMPLING, torch.Generator(device).manual_seed(0))
    prompt = model.prefill(torch.randint(0, vocab, (1, prompt_len), device=device))
    engine.start(prompt, eos=set())
    sync(device)
    t0 = time.perf_counter()
    engine.refill(list(range(batch)))
    steps = 0
    while engine.started:
        engine.advance(4)
        steps += 4
        engine.release(list(engine.read(every_live=False)))
    sync(device)
    elapsed = time.perf_counter() - t0
    roofline_s = (weights + step_traffic(engine.state, batch, prompt_len + new / 2)) / (bw * 1e9)
    return {"tokens_per_s": round(batch * new / elapsed, 1), "step_ms": round(1000 * elapsed / steps, 3),
            "roofline_pct": round(100 * roofline_s / (elapsed / steps), 1)}


@torch.inference_mode()
def engine_budget(model, vocab: int, batch: int, prompt_len: int, new: int, make: MakeEngine,
                  budget_s: float) -> dict:
    device = model.device
    engine = make(model, batch, prompt_len + new, new, SAMPLING, torch.Generator(device).manual_seed(0))
    eos = set(torch.randperm(vocab, generator=torch.Generator().manual_seed(0))[: max(1, vocab // 256)].tolist())
    engine.start(model.prefill(torch.randint(0, vocab, (1, prompt_len), device=device)), eos)
    sync(device)
    t0 = time.perf_counter()
    engine.refill(list(range(batch)))
    lengths: list[int] = []
    while True:
        engine.advance(4)
        rows = engine.read(every_live=False)
        if time.perf_counter() - t0 > budget_s:
            break
        lengths += [len(tokens) for tokens, _ in rows.values()]
        engine.release(list(rows))
        if rows:
            engine.refill(list(rows))
    return {"samples": len(lengths), "samples_per_s": round(len(lengths) / budget_s, 2),
            "mean_len": round(sum(lengths) / max(1, len(lengths)), 1)}


def replay_ms(fn, device: torch.device, generator: torch.Generator, reps: int = 20) -> float:
    """ms per call of ``fn``: a captured CUDA graph replayed on CUDA, eager calls elsewhere."""
    fn()
    if device.type == "cuda":
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(generator)
        with torch.cuda.graph(graph):
            fn()
        fn = graph.replay
    return 1000 * timed(lambda: [fn() for _ in range(reps)], device) / reps


@torch.inference_mode()
def step_parts(model, vocab: int, batch: int, prompt_len: int, new: int, make: MakeEngine) -> dict:
    """The model's step and the sampler (top-p by sort and by threshold search) timed apart, slots
    midway through their samples."""
    device, generator = model.device, torch.Generator(model.device).manual_seed(0)
    engine = make(model, batch, prompt_len + new, new, SAMPLING, generator, cuda_graph=False)
    engine.start(model.prefill(torch.randint(0, vocab, (1, prompt_len), device=device)), eos=set())
    engine.refill(list(range(batch)))
    engine.state.lengths.fill_(prompt_len + new // 2)
    # Each timed step adds a token: the view must hold them all (warm-up, capture, 20 replays).
    reach = min(prompt_len + new // 2 + 32, prompt_len + new)
    view = next(view for length, view in engine.views.items() if length >= reach)
    logits = model.step(engine.tokens, view, engine.attend)
    sampler_ms = lambda nucleus: round(
        replay_ms(lambda: sample_in_graph(logits, SAMPLING, generator, nucleus), device, generator), 3)
    parts = {"model_ms": round(replay_ms(lambda: model.step(engine.tokens, view, engine.attend), device, generator), 3),
             "sampler_sort_ms": sampler_ms(None)}
    if engine.nucleus is not None:
        parts["sampler_threshold_ms"] = sampler_ms(engine.nucleus)
    return parts


def timed(fn, device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def baseline_record(system: str, model: str, batch: int, new: int, elapsed: float, budget_s: float) -> None:
    emit(bench="decode", system=system, model=model, batch=batch, tokens_per_s=round(batch * new / elapsed, 1),
         step_ms=round(1000 * elapsed / new, 3))
    emit(bench="budget", system=system, model=model, batch=batch, budget_s=budget_s,
         samples_per_s=round(batch * int(budget_s // elapsed) / budget_s, 2), estimated="whole batches per budget")


class Run(NamedTuple):
    """What every measurement of one invocation shares."""

    device: torch.device
    tiny: bool
    batches: list[int]
    prompt_len: int
    new: int
    budget_s: float
    bw: float  # measured copy bandwidth, GB/s
    make: MakeEngine  # SlotEngine with the host's choices for this device
    top_p: str

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


def bench_mamba(run: Run) -> None:
    """Mamba-2: the engine vs mamba-ssm's generate(cg=True), on mamba-ssm's own model."""
    device, prompt_len, new = run.device, run.prompt_len, run.new
    ssm, why = (None, "tiny mode") if run.tiny else mamba_ssm_model(device)
    if ssm is None:
        emit(bench="decode", system="mamba_ssm_generate_cg", skipped=why)
        model, name, vocab = own_mamba2(run.tiny, device), "mamba2-in-llama-1b", 256 if run.tiny else 128256
        weights = param_bytes(model)
    else:
        model = MambaSSMModel(ssm)
        name, vocab, weights = "mamba2-1.3b", model.vocab_size, param_bytes(ssm)
    for batch in run.batches:
        if ssm is not None:
            ids = torch.randint(0, vocab, (batch, prompt_len), device=device)
            baseline = functools.partial(ssm.generate, ids, max_length=prompt_len + new, cg=True, top_k=0,
                                         top_p=0.95, temperature=0.8)
            baseline()  # captures its graphs
            baseline_record("mamba_ssm_generate_cg", name, batch, new, timed(baseline, device), run.budget_s)
        emit(bench="decode", system="engine", model=name, top_p=run.top_p, batch=batch,
             **engine_decode(model, vocab, batch, prompt_len, new, run.make, weights, run.bw))
        emit(bench="budget", system="engine", model=name, top_p=run.top_p, batch=batch, budget_s=run.budget_s,
             **engine_budget(model, vocab, batch, prompt_len, new, run.make, run.budget_s))
    emit(bench="step_parts", model=name, batch=run.batches[-1],
         **step_parts(model, vocab, run.batches[-1], prompt_len, new, run.make))


def bench_llama(run: Run) -> None:
    """Llama-3.2-1B shape: the engine (each decode attention) vs HF generate with a static cache."""
    device, prompt_len, new = run.device, run.prompt_len, run.new
    llama = hf_llama(run.tiny, device)
    vocab, weights = llama.config.vocab_size, param_bytes(llama)
    engine_model = from_hf_llama(llama)
    # The host's attention first (it also runs the budget), then the torch one to compare.
    attentions = [("torch, bucketed", run.make)]
    if use_triton("auto", device, "attention"):
        attentions.insert(0, ("triton split-K", functools.partial(run.make, attend=attend_split_k, attn_bucket=0)))
    for batch in run.batches:
        ids = torch.randint(1, vocab, (batch, prompt_len), device=device)
        baseline = lambda: llama.generate(ids, do_sample=True, temperature=0.8, top_p=0.95, max_new_tokens=new,
                                          min_new_tokens=new, cache_implementation="static",
                                          disable_compile=not run.cuda, pad_token_id=0)
        baseline()  # compiles
        baseline_record("hf_generate_static", "llama-3.2-1b", batch, new, timed(baseline, device), run.budget_s)
        for label, make in attentions:
            emit(bench="decode", system="engine", model="llama-3.2-1b", attention=label, top_p=run.top_p, batch=batch,
                 **engine_decode(engine_model, vocab, batch, prompt_len, new, make, weights, run.bw))
        label, make = attentions[0]
        emit(bench="budget", system="engine", model="llama-3.2-1b", attention=label, top_p=run.top_p, batch=batch,
             budget_s=run.budget_s, **engine_budget(engine_model, vocab, batch, prompt_len, new, make, run.budget_s))
    emit(bench="step_parts", model="llama-3.2-1b", attention=label, batch=run.batches[-1],
         **step_parts(engine_model, vocab, run.batches[-1], prompt_len, new, make))


@torch.inference_mode()
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny random models (CPU-sized), for tests")
    parser.add_argument("--models", nargs="+", choices=["mamba", "llama"], default=["mamba", "llama"],
                        help="which comparisons to run (default: both)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench/engine.py needs a CUDA GPU (none visible); `--tiny --device cpu` runs its logic on CPU")
        return 1
    cuda = device.type == "cuda"
    emit(bench="engine", device=torch.cuda.get_device_name(device) if cuda else "cpu", torch=torch.__version__)
    bw = bandwidth_gbs(device, 1 << (20 if args.tiny else 30))
    emit(bench="bandwidth", gb_per_s=round(bw, 1))
    # What the engine's host picks on this device ("auto"): Triton top-p and attention on CUDA.
    nucleus = nucleus_threshold if use_triton("auto", device, "top_p") else None
    make = functools.partial(SlotEngine, cuda_graph=cuda, attend=attend_masked, attn_bucket=8 if args.tiny else 256,
                             nucleus=nucleus)
    shape = ([3], 8, 6, 0.5) if args.tiny else ([32, 256], 256, 512, 10.0)
    run = Run(device, args.tiny, *shape, bw, make, "torch sort" if nucleus is None else "triton threshold search")
    if "mamba" in args.models:
        bench_mamba(run)
    if "llama" in args.models:
        bench_llama(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
