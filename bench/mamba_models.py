"""GPU benchmark of the distilled students on mamba-ssm's kernels (random weights, no download).

    python bench/mamba_models.py [--models NAME ...]   # one H100: ~2.5 minutes; JSON lines on stdout

Builds Llama-3.2-1B-shaped models (16 layers, d_model 2048, 32/8 GQA heads, vocab 128256): a
MambaInLlama hybrid keeping attention in 4 of the 16 layers and a pure one, for both Mamba mixers
the loader reads (Mamba-1, the released MATH checkpoints' layers, and Mamba-2), and Llamba-1B's
shape (Discrete Mamba-2 in all 16 layers, 32 heads of 64, d_state 64). For each it checks in fp32
that decoding with the recurrent state (kernel path) matches a full forward, and how far the
kernel path is from the pure-torch reference; then it times the decode loop in bf16 (CUDA-graph
step + sampling, as the backend runs it) at batch 32 and 256, prompt 256, 512 new tokens.

Without CUDA it prints one line and exits 1 (``--tiny --device cpu`` runs the same logic on a tiny
model, for tests). mamba-ssm wheels built without their CUDA extension only import with a
stand-in ``selective_scan_cuda`` module: this script inserts one, the product never does.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.generation.engine import EngineHost, EngineOptions, SamplingParams
from harness.generation.kernels.decode_attention import attend_masked
from harness.generation.models import llamba
from harness.generation.models.checkpoint import random_init_
from harness.generation.models.llamba_config import LlambaConfig
from harness.generation.models.mamba_config import HybridConfig
from harness.generation.models.mamba_in_llama import tiny_config
from harness.generation.models.mamba_model import MambaInLlamaForCausalLM, SlotLM

LLAMA3_ROPE = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192}


def llama32_1b(mixer: str, attn_layers: tuple[int, ...]) -> HybridConfig:
    """Llama-3.2-1B's dimensions with its attention layers (but ``attn_layers``) made Mamba."""
    return HybridConfig(
        vocab_size=128256, d_model=2048, n_layer=16, intermediate_size=8192, n_heads=32, n_kv_heads=8, head_dim=64,
        rms_norm_eps=1e-5, rope_theta=500000.0, rope_scaling=LLAMA3_ROPE, tie_word_embeddings=True,
        attn_layers=attn_layers, mixer=mixer, d_inner=2048, d_xb=512, d_state=16 if mixer == "mamba1" else 64,
        d_conv=4, dt_rank=128, conv_bias=True, repeat_kv_before_conv=mixer == "mamba1")


def llamba_1b() -> LlambaConfig:
    """Llamba-1B's shape: Llama-3.2-1B's with every layer Discrete Mamba-2 (upstream's ssm_cfg defaults)."""
    return LlambaConfig(vocab_size=128256, d_model=2048, n_layer=16, intermediate_size=8192, norm_epsilon=1e-5,
                        tie_word_embeddings=True, d_state=64, n_v_heads=32, n_qk_heads=32)


def models(tiny: bool) -> dict[str, HybridConfig | LlambaConfig]:
    """Every benchmarked model's config, by name."""
    out: dict[str, HybridConfig | LlambaConfig] = {}
    for mixer in ("mamba1", "mamba2"):
        for kind, attn_layers in (("hybrid", (3, 7, 11, 15)), ("pure", ())):
            cfg = tiny_config(256, (1, 3) if attn_layers else (), mixer) if tiny else llama32_1b(mixer, attn_layers)
            out[f"{kind}-{mixer}"] = cfg
    out["llamba"] = llamba.tiny_config(256) if tiny else llamba_1b()
    return out


def build(cfg: HybridConfig | LlambaConfig, device: torch.device, seed: int = 0) -> SlotLM:
    with torch.device("meta"):
        model = llamba.LlambaForCausalLM(cfg) if isinstance(cfg, LlambaConfig) else MambaInLlamaForCausalLM(cfg)
    model = model.to_empty(device=device)
    if cfg.tie_word_embeddings:
        model.tie_weights()
    random_init_(model, seed)
    return model.eval().requires_grad_(False)


def load_kernels_for_bench():
    """mamba-ssm's kernels, importable even from a Triton-only wheel (stand-in extension module)."""
    if importlib.util.find_spec("selective_scan_cuda") is None:
        sys.modules["selective_scan_cuda"] = types.ModuleType("selective_scan_cuda")
    from harness.generation.models.mamba_kernels import load_kernels

    return load_kernels()


@torch.inference_mode()
def check(model: SlotLM, kernels, prompt_len: int, steps: int) -> dict:
    """Decode-with-state vs full forward on the kernel path, and kernel vs torch reference."""
    ids = torch.randint(0, model.cfg.vocab_size, (1, prompt_len + steps), device=model.device,
                        generator=torch.Generator(model.device).manual_seed(1))
    model.kernels = None
    reference = model(ids)[0]
    model.kernels = kernels
    full = model(ids)[0]
    prompt = model.prefill(ids[:, :prompt_len])
    state = model.allocate(1, prompt_len + steps)
    state.load(torch.tensor([0], device=model.device), prompt)
    steps_logits = [model.step(ids[:, t], state, attend_masked)[0] for t in range(prompt_len, ids.shape[1])]
    decoded = torch.stack([prompt.logits[0], *steps_logits])
    tail = full[prompt_len - 1:]
    return {"decode_vs_forward_max_abs": (decoded - tail).abs().max().item(),
            "kernel_vs_reference_max_abs": (full - reference).abs().max().item(),
            "argmax_agreement": (full.argmax(-1) == reference.argmax(-1)).float().mean().item(),
            "logits_max_abs": reference.abs().max().item()}


def throughput(model: SlotLM, batch: int, prompt_len: int, new_tokens: int) -> dict:
    """The backend's decode loop: the slot engine's graph step with in-graph sampling
    (temperature/top_p), a host sync every ``sync_every`` steps, no EOS (every sample runs to
    ``new_tokens``)."""
    cuda = model.device.type == "cuda"
    generator = torch.Generator(model.device).manual_seed(0)
    # The backend's host: its choice of decode attention, attention buckets, CUDA graphs, sync_every.
    host = EngineHost(model, SamplingParams(temperature=0.8, top_p=0.95), generator, new_tokens, EngineOptions())
    sync_every = host.sync_every
    t0 = time.perf_counter()
    engine = host.engine_for(batch, prompt_len)
    setup_s = time.perf_counter() - t0
    with torch.inference_mode():
        prompt = model.prefill(torch.randint(0, model.cfg.vocab_size, (1, prompt_len), device=model.device))
    engine.start(prompt, eos=set())
    engine.refill(list(range(batch)))  # draws every slot's first token
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for done in range(1, new_tokens, sync_every):
        engine.advance(min(sync_every, new_tokens - done))
        engine.read(every_live=False)  # the session's host sync
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t0
    return {"batch": batch, "tokens_per_s": round(batch * new_tokens / elapsed, 1),
            "step_ms": round(1000 * elapsed / new_tokens, 3), "setup_s": round(setup_s, 2),
            "state_gb": round(model.state_bytes(batch, prompt_len + new_tokens) / 1e9, 3), **host.describe()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny random models (CPU-sized), for tests")
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--prompt", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--models", nargs="+", choices=list(models(True)), default=list(models(True)))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench/mamba_models.py needs a CUDA GPU (none visible); `--tiny --device cpu` runs its logic on CPU")
        return 1
    kernels = load_kernels_for_bench() if device.type == "cuda" else None
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(json.dumps({"bench": "mamba_models", "device": gpu, "torch": torch.__version__,
                      "selective_scan_cuda": bool(kernels and kernels.selective_scan),
                      "causal_conv1d": bool(kernels and kernels.conv_update)}), flush=True)
    configs = models(args.tiny)
    for name in args.models:
        model = build(configs[name], device)
        result = check(model, kernels, prompt_len=64 if not args.tiny else 12, steps=16 if not args.tiny else 6)
        print(json.dumps({"bench": "check", "model": name, "dtype": "float32", **result}), flush=True)
        model = model.to(torch.bfloat16)
        model.kernels = kernels
        for batch in args.batches:
            result = throughput(model, batch, args.prompt, args.new_tokens)
            print(json.dumps({"bench": "decode", "model": name, "dtype": "bfloat16", "prompt": args.prompt,
                              "new_tokens": args.new_tokens, **result}), flush=True)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
