"""MambaInLlama checkpoints and model on CPU, through the pure-torch reference path (fp32)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil

import pytest
import torch
from conftest import ROOT
from mamba_helpers import assert_kernel_path_matches_reference, restore, seeded, standins

from harness.generation.kernels.decode_attention import attend_masked
from harness.generation.models.checkpoint import random_init_
from harness.generation.models.mamba_config import HybridConfig, Layout
from harness.generation.models.mamba_in_llama import (
    MATH_LAYOUT,
    build_tiny_hybrid,
    load_model,
    read_checkpoint,
    tiny_config,
    to_checkpoint,
    write_checkpoint,
)
from harness.generation.models.mamba_model import MambaInLlamaForCausalLM

ATOL = 1e-4  # decode with the recurrent state vs full forward, fp32 (logits are ~unit scale)
LAYOUTS = {
    "math": MATH_LAYOUT,  # Mamba-1, split projections, HF attention: the released MATH checkpoints
    "m1-fused-mha": Layout("mamba1", "fused", "mha"),
    "m2-hf": Layout("mamba2", "fused", "hf"),
}

# The released 3B hybrid's files as its training code writes them (MambaInLlama3B_Distill_MATH).
LLAMA_3B_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "hidden_size": 3072,
    "intermediate_size": 8192, "num_hidden_layers": 28, "num_attention_heads": 24, "num_key_value_heads": 8,
    "head_dim": 128, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": True, "vocab_size": 128256,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
}
MATH_3B_MAMBA = {"d_model": 3072, "ssm_cfg": {"expand": 1}, "rms_norm_eps": 1e-5, "vocab_size": None, "d_inner": None,
                 "d_xb": 1024, "intermediate_size": 8192, "hidden_act": "silu", "n_layer": 28,
                 "attn_layers": [3, 8, 13, 18, 23, 27]}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(layout: Layout, attn_layers=(1, 3), seed=0, **changes) -> MambaInLlamaForCausalLM:
    cfg = dataclasses.replace(tiny_config(101, attn_layers, layout.mixer, layout.attn), **changes)
    model = MambaInLlamaForCausalLM(cfg)
    random_init_(model, seed)
    return model.eval()


def test_released_3b_config_gives_the_released_parameter_count():
    cfg = HybridConfig.from_dicts(LLAMA_3B_CONFIG, MATH_3B_MAMBA, MATH_LAYOUT)
    assert (cfg.d_inner, cfg.d_xb, cfg.d_state, cfg.dt_rank) == (3072, 1024, 16, 192)
    assert cfg.n_layer - len(cfg.attn_layers) == 22 and cfg.rope_scaling["rope_type"] == "llama3"
    with torch.device("meta"):
        model = MambaInLlamaForCausalLM(cfg).to(torch.bfloat16)
    # 6.90 GB of bf16 in the hub's two shards: the Mamba-1 layout's count, tied head stored once.
    assert sum(p.numel() for p in model.parameters()) == 3_447_874_560
    # Per sample: 22 x (conv 3072x4 bf16 + fp32 state 3072x16) + 6 x K,V at 1536 tokens (8 heads x 128 bf16).
    assert model.state_bytes(1, 1536) == 22 * (3072 * 4 * 2 + 3072 * 16 * 4) + 6 * 2 * 8 * 1536 * 128 * 2


def test_mamba2_config_and_unsupported_settings():
    mamba2 = {**MATH_3B_MAMBA, "d_inner": 3072, "ssm_cfg": {"expand": 1, "ngroups": 24, "d_state": 128}}
    cfg = HybridConfig.from_dicts(LLAMA_3B_CONFIG, mamba2, Layout("mamba2", "fused", "hf"))
    assert (cfg.d_state, cfg.d_inner // cfg.d_state, cfg.d_xb // cfg.d_state) == (128, 24, 8)
    mha = HybridConfig.from_dicts(LLAMA_3B_CONFIG, MATH_3B_MAMBA, Layout("mamba1", "fused", "mha"))
    assert mha.rope_scaling is None  # mamba-ssm's MHA trained with plain RoPE
    with pytest.raises(ValueError, match="ssm_cfg key 'bogus'"):
        HybridConfig.from_dicts(LLAMA_3B_CONFIG, {**MATH_3B_MAMBA, "ssm_cfg": {"bogus": 1}}, MATH_LAYOUT)
    with pytest.raises(ValueError, match="D_has_hdim"):
        HybridConfig.from_dicts(LLAMA_3B_CONFIG, {**MATH_3B_MAMBA, "ssm_cfg": {"D_has_hdim": True}}, MATH_LAYOUT)
    with pytest.raises(ValueError, match="yarn"):
        HybridConfig.from_dicts({**LLAMA_3B_CONFIG, "rope_scaling": {"rope_type": "yarn", "factor": 4.0}},
                                MATH_3B_MAMBA, MATH_LAYOUT)


def test_layout_is_read_from_weight_names():
    math = ["model.layers.0.mamba.in_proj_x.weight", "model.layers.3.self_attn.q_proj.weight"]
    assert Layout.detect(math) == MATH_LAYOUT
    assert Layout.detect(["model.layers.0.mamba.in_proj.weight", "model.layers.0.mamba.dt_bias",
                          "model.layers.1.mha.in_proj.weight"]) == Layout("mamba2", "fused", "mha")


@pytest.mark.parametrize("name, tied, storage", [("math", True, "sharded"), ("m1-fused-mha", False, "bin"),
                                                 ("m2-hf", True, "single")])
def test_loader_round_trips_every_tensor(tmp_path, name, tied, storage):
    layout = LAYOUTS[name]
    write_checkpoint(tiny_model(layout, tie_word_embeddings=tied), layout, tmp_path)
    restore(tmp_path, storage)
    _, read_layout, on_disk = read_checkpoint(tmp_path)
    assert read_layout == layout and ("lm_head.weight" in on_disk) == (not tied)
    model, _ = load_model(tmp_path, torch.float32, torch.device("cpu"))
    back = to_checkpoint(model.state_dict(), model.cfg, layout)
    assert sorted(back) == sorted(on_disk)
    for key, tensor in on_disk.items():
        assert torch.equal(back[key], tensor), key
    assert (model.lm_head.weight is model.model.embed_tokens.weight) == tied


def test_tiny_hybrid_builtin_is_the_released_layout(tmp_path):
    build_tiny_hybrid(tmp_path)
    cfg, layout, tensors = read_checkpoint(tmp_path)
    assert layout == MATH_LAYOUT and cfg.attn_layers == (1, 3)
    assert "model.layers.0.mamba.in_proj_x.weight" in tensors and "model.layers.1.self_attn.q_proj.weight" in tensors
    assert {"tokenizer.json", "generation_config.json"} <= {p.name for p in tmp_path.iterdir()}


def test_all_attention_model_is_transformers_llama(tmp_path):
    """Attention, RoPE with llama3 scaling, MLP, norms and tied head against transformers itself."""
    from transformers import LlamaForCausalLM

    model = tiny_model(MATH_LAYOUT, attn_layers=(0, 1, 2, 3), seed=1)
    write_checkpoint(model, MATH_LAYOUT, tmp_path)  # all layers attention: a plain Llama checkpoint
    llama = LlamaForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    ids = torch.randint(0, 101, (2, 80), generator=seeded())  # past original_max_position_embeddings=64
    with torch.no_grad():
        torch.testing.assert_close(model(ids), llama(ids).logits, atol=1e-5, rtol=0)


def test_rope_plain_is_rope_theta_alone_as_the_authors_inference_applies_it(tmp_path):
    """rope=plain == transformers' Llama without rope_scaling (mamba-ssm's MHA with rotary_emb_base
    only); rope=trained (the default) keeps llama3 scaling; the two part once positions are apart."""
    from transformers import LlamaForCausalLM

    trained_dir, plain_dir = tmp_path / "trained", tmp_path / "plain"
    write_checkpoint(tiny_model(MATH_LAYOUT, attn_layers=(0, 1, 2, 3), seed=1), MATH_LAYOUT, trained_dir)
    plain_dir.mkdir()
    config = json.loads((trained_dir / "config.json").read_text())
    (plain_dir / "config.json").write_text(json.dumps({**config, "rope_scaling": None}))
    shutil.copy(trained_dir / "model.safetensors", plain_dir)
    cpu = torch.device("cpu")
    trained, plain = (load_model(trained_dir, torch.float32, cpu, rope=rope)[0] for rope in ("trained", "plain"))
    llama = LlamaForCausalLM.from_pretrained(plain_dir, dtype=torch.float32).eval()
    ids = torch.randint(0, 101, (1, 80), generator=seeded())
    with torch.no_grad():
        torch.testing.assert_close(plain(ids), llama(ids).logits, atol=1e-5, rtol=0)
        gap = (plain(ids) - trained(ids))[0].abs().amax(-1)
    assert gap[0] < 1e-5 and gap[64:].min() > 1e-3  # one token: no relative position to rotate
    with pytest.raises(ValueError, match="rope='llama3': use one of trained, plain"):
        load_model(trained_dir, torch.float32, cpu, rope="llama3")


def test_rope_bench_measures_the_gap_from_zero_at_the_first_token():
    spec = importlib.util.spec_from_file_location("rope_bench", ROOT / "bench" / "rope.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    first, later = bench.gaps([0, 48])
    assert first["max_abs"] == 0 and first["kl_trained_plain"] == 0 and first["top1_same"]
    assert later["max_abs"] > 1e-3 and later["kl_trained_plain"] > 0


@pytest.mark.parametrize("name, attn_layers", [("math", (1, 3)), ("m1-fused-mha", (2,)), ("m2-hf", (1, 3)),
                                               ("math", ()), ("m2-hf", ())])
def test_decode_step_with_state_matches_full_forward(name, attn_layers):
    model = tiny_model(LAYOUTS[name], attn_layers)
    ids = torch.randint(0, 101, (1, 24), generator=seeded())
    with torch.inference_mode():
        full = model(ids)[0]
        prompt = model.prefill(ids[:, :10])
        torch.testing.assert_close(prompt.logits[0], full[9], atol=ATOL, rtol=0)
        state = model.allocate(3, 32)
        state.load(torch.tensor([2]), prompt)
        for t in range(10, 24):
            logits = model.step(torch.full((3,), int(ids[0, t])), state, attend_masked)
            torch.testing.assert_close(logits[2], full[t], atol=ATOL, rtol=0)
    assert int(state.lengths[2]) == 24


@pytest.mark.parametrize("name", ["math", "m2-hf"])
def test_refill_from_saved_prompt_state_matches_a_fresh_prefill(name):
    model = tiny_model(LAYOUTS[name])
    prompt_ids = torch.randint(0, 101, (1, 9), generator=seeded())
    with torch.inference_mode():
        prompt = model.prefill(prompt_ids)
        state = model.allocate(2, 32)
        state.load(torch.tensor([0, 1]), prompt)
        # Slot 1 runs a sample, leaving state behind.
        for t in torch.randint(0, 101, (12,), generator=seeded()).tolist():
            model.step(torch.tensor([t, t]), state, attend_masked)
        state.load(torch.tensor([1]), prompt)  # a new sample in the used slot
        logits = model.step(torch.tensor([5, 7]), state, attend_masked)[1]
        fresh = model.prefill(torch.cat([prompt_ids, torch.tensor([[7]])], dim=1)).logits[0]
    torch.testing.assert_close(logits, fresh, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name, selective_scan", [("math", True), ("math", False), ("m1-fused-mha", True),
                                                  ("m2-hf", False)])
def test_kernel_path_plumbing_matches_the_reference_path(name, selective_scan):
    kernels = standins(selective_scan, conv=selective_scan)  # causal-conv1d's conv step, or the torch one
    ids = torch.randint(0, 101, (1, 20), generator=seeded())
    assert_kernel_path_matches_reference(tiny_model(LAYOUTS[name], attn_layers=(1,)), kernels, ids, 8, ATOL)
