"""Llamba checkpoints and model on CPU, through the pure-torch reference path (fp32): the released
config, the published weight layout, the Discrete Mamba-2 maths, decoding with state, the kernel
path's plumbing and the memory the slot engine sizes concurrency by."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from mamba_helpers import assert_kernel_path_matches_reference, restore, seeded, standins

from harness.analysis import cost
from harness.generation.engine import EngineHost, EngineOptions, SamplingParams, per_slot_bytes
from harness.generation.kernels.decode_attention import attend_masked
from harness.generation.models.checkpoint import random_init_
from harness.generation.models.llamba import (
    LlambaForCausalLM,
    build_tiny_llamba,
    load_model,
    read_checkpoint,
    tiny_config,
    to_checkpoint,
    write_checkpoint,
)
from harness.generation.models.llamba_config import LlambaConfig

ATOL = 1e-5  # decode with the recurrent state vs full forward, fp32 (logits are ~unit scale)
VOCAB = 101  # padded to 256 rows by tiny_config
# cartesia-ai/Llamba-3B's config.json on the hub (480 bytes), key for key.
LLAMBA_3B = {
    "model_type": "llamba", "vocab_size": 128256, "tie_embeddings": True, "pad_vocab_size_multiple": 8,
    "lm_head_bias": False, "d_model": 3072, "n_layer": 28, "resid_dropout": 0.0, "norm_epsilon": 1e-5,
    "mlp_cfg": {"intermediate_size": 8192, "bias": False, "act_fn": "silu"},
    "ssm_cfg": {"d_state": 64, "n_v_heads": 32, "n_qk_heads": 32, "expand": 1, "chunk_size": 128,
                "activation": "identity", "bias": False},
}

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_model(seed: int = 0, **changes) -> LlambaForCausalLM:
    model = LlambaForCausalLM(dataclasses.replace(tiny_config(VOCAB), **changes))
    random_init_(model, seed)
    return model.eval()


def test_released_3b_config_gives_its_parameter_count_without_allocating():
    cfg = LlambaConfig.from_dict(LLAMBA_3B)
    assert (cfg.d_inner, cfg.head_dim, cfg.d_state, cfg.n_v_heads // cfg.n_qk_heads, cfg.rows) == (3072, 96, 64, 1,
                                                                                                  128256)
    with torch.device("meta"):
        model = LlambaForCausalLM(cfg).to(torch.bfloat16)
    # The hub's fp32 model.safetensors is 14.6 GB: 3.657e9 x 4 bytes, the tied head stored once.
    assert sum(p.numel() for p in model.parameters()) == 3_656_994_688
    assert cost.counts(cost.model_shape(LLAMBA_3B)).step_params == 3_656_994_688  # every weight a step reads
    # Per sample, whatever its length: 28 x (conv 7168 x 4 in bf16 + fp32 SSM state 32 x 96 x 64).
    per_sample = 28 * (7168 * 4 * 2 + 32 * 96 * 64 * 4)
    assert model.state_bytes(1, 256) == model.state_bytes(1, 8192) == per_sample
    c = cost.counts(cost.model_shape(LLAMBA_3B))  # the cost model's state a sample reads and writes per token
    assert c.mamba_layers * (c.ssm_state * c.ssm_state_bytes + c.conv_state * 2) == per_sample
    # Upstream's blocks build their two norms with eps 1e-5; only the final norm reads norm_epsilon.
    tiny = tiny_model()
    assert {layer.input_layernorm.eps for layer in tiny.model.layers} == {1e-5} and tiny.model.norm.eps == 1e-6
    assert {n for n, _ in model.named_parameters() if n.startswith("model.layers.0.")} == {
        f"model.layers.0.{n}" for n in ("input_layernorm.weight", "post_attention_layernorm.weight",
                                        "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
                                        "mamba.in_proj.weight", "mamba.z_bias", "mamba.conv1d.weight",
                                        "mamba.conv1d.bias", "mamba.D", "mamba.out_proj.weight")}


@pytest.mark.parametrize("key, value, message", [
    ("lm_head_bias", True, "lm_head_bias=True is not supported"),
    ("ssm_cfg", {**LLAMBA_3B["ssm_cfg"], "activation": "silu"}, "ssm_cfg.activation='silu' is not supported"),
    ("ssm_cfg", {**LLAMBA_3B["ssm_cfg"], "bias": True}, "ssm_cfg.bias=True is not supported"),
    ("mlp_cfg", {**LLAMBA_3B["mlp_cfg"], "act_fn": "gelu"}, "mlp_cfg.act_fn='gelu' is not supported"),
    ("ssm_cfg", {**LLAMBA_3B["ssm_cfg"], "bogus": 1}, "key 'ssm_cfg.bogus' is not supported"),
    ("model_type", "llama", "model_type is 'llama', not 'llamba'"),
    ("ssm_cfg", {**LLAMBA_3B["ssm_cfg"], "n_qk_heads": 5}, "a multiple of n_qk_heads=5"),
])
def test_unsupported_config_settings_fail_at_load_naming_the_key(key, value, message):
    with pytest.raises(ValueError, match=message):
        LlambaConfig.from_dict({**LLAMBA_3B, key: value})


def test_config_round_trips_and_pads_the_vocabulary_as_upstream():
    cfg = LlambaConfig.from_dict(LLAMBA_3B)
    assert LlambaConfig.from_dict(cfg.to_dict()) == cfg and cfg.d_conv == 4 and cfg.conv_bias  # upstream defaults
    assert LlambaConfig.from_dict({**LLAMBA_3B, "vocab_size": 128257}).rows == 128264  # next multiple of 8


@torch.no_grad()
def test_mixer_is_its_materialized_transfer_matrix():
    """The mixer against Discrete Mamba-2's quadratic form (phi-mamba's ``materialize_mixer``):
    y_t = sum_{s<=t} (C_t.B_s) exp(-sum_{s<r<=t} softplus(dt_r)) x_s + D x_t, from in_proj split
    as xBC | z | dt and an identity-activation causal conv, gated by silu(z + z_bias)."""
    mixer = tiny_model().model.layers[0].mamba
    u = torch.randn(1, 12, 64, generator=seeded())
    xBC, z, dt = mixer.in_proj(u).split([64 + 2 * 4 * 16, 64, 8], dim=-1)
    xBC = F.conv1d(xBC.transpose(1, 2), mixer.conv1d.weight, mixer.conv1d.bias, padding=3, groups=xBC.shape[-1])
    x, B, C = xBC[..., :12].transpose(1, 2).split([64, 64, 64], dim=-1)
    x, B, C = x.unflatten(-1, (8, 8)), B.unflatten(-1, (4, 16)), C.unflatten(-1, (4, 16))
    B, C = B.repeat_interleave(2, dim=2), C.repeat_interleave(2, dim=2)  # head h reads group h // 2
    cum = F.softplus(dt[0]).cumsum(0)  # [L, H]
    decay = torch.exp(cum[None] - cum[:, None]).permute(2, 0, 1).tril()  # [H, t, s]: exp(-(cum_t - cum_s))
    mix = torch.einsum("thn,shn,hts->hts", C[0], B[0], decay)
    y = torch.einsum("hts,shp->thp", mix, x[0]) + mixer.D[:, None] * x[0]
    expected = mixer.out_proj(y.flatten(-2) * F.silu(z[0] + mixer.z_bias))
    torch.testing.assert_close(mixer(u, None)[0][0], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("prompt_len", [2, 9])  # shorter than the conv window, and longer
def test_decode_step_with_state_matches_full_forward(prompt_len):
    model = tiny_model()
    ids = torch.randint(0, VOCAB, (1, 24), generator=seeded())
    with torch.inference_mode():
        full = model(ids)[0]
        prompt = model.prefill(ids[:, :prompt_len])
        torch.testing.assert_close(prompt.logits[0], full[prompt_len - 1], atol=ATOL, rtol=0)
        state = model.allocate(3, 32)
        state.load(torch.tensor([2]), prompt)
        for t in range(prompt_len, 24):
            logits = model.step(torch.full((3,), int(ids[0, t])), state, attend_masked)
            torch.testing.assert_close(logits[2], full[t], atol=ATOL, rtol=0)
    assert int(state.lengths[2]) == 24


def test_refill_from_saved_prompt_state_matches_a_fresh_prefill():
    model = tiny_model()
    prompt_ids = torch.randint(0, VOCAB, (1, 9), generator=seeded())
    with torch.inference_mode():
        prompt = model.prefill(prompt_ids)
        state = model.allocate(2, 32)
        state.load(torch.tensor([0, 1]), prompt)
        for t in torch.randint(0, VOCAB, (12,), generator=seeded()).tolist():  # slot 1 runs a sample first
            model.step(torch.tensor([t, t]), state, attend_masked)
        state.load(torch.tensor([1]), prompt)  # a new sample in the used slot
        logits = model.step(torch.tensor([5, 7]), state, attend_masked)[1]
        fresh = model.prefill(torch.cat([prompt_ids, torch.tensor([[7]])], dim=1)).logits[0]
    torch.testing.assert_close(logits, fresh, atol=ATOL, rtol=0)


def test_padded_vocabulary_rows_are_never_scored():
    model = tiny_model()
    assert model.model.embed_tokens.weight.shape[0] == 256 and model.vocab_size == VOCAB
    ids = torch.randint(0, VOCAB, (1, 6), generator=seeded())
    with torch.no_grad():
        before = model(ids)
        model.lm_head.weight[VOCAB:] = 1e4  # padded rows that would win every argmax if scored
        after = model(ids)
    assert after.shape[-1] == VOCAB and torch.equal(before, after)


@pytest.mark.parametrize("conv", [True, False])  # causal-conv1d installed or not
def test_kernel_path_plumbing_matches_the_reference_path(conv):
    ids = torch.randint(0, VOCAB, (1, 20), generator=seeded())
    assert_kernel_path_matches_reference(tiny_model(), standins(conv=conv), ids, 8, ATOL)


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("storage", ["single", "sharded", "bin"])  # the hub's, sharded, upstream's save_pretrained
def test_loader_round_trips_every_tensor_of_the_published_layout(tmp_path, tied, storage):
    write_checkpoint(tiny_model(tie_word_embeddings=tied), tmp_path)
    restore(tmp_path, storage)
    cfg, on_disk = read_checkpoint(tmp_path)
    layer = {f"backbone.layers.1.{n}" for n in (
        "mixer.in_proj.weight", "mixer.z_bias", "mixer.conv1d.weight", "mixer.conv1d.bias", "mixer.D",
        "mixer.out_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight", "mlp.gate_proj.weight",
        "mlp.up_proj.weight", "mlp.down_proj.weight")}
    assert {k for k in on_disk if k.startswith("backbone.layers.1.")} == layer
    rest = {"backbone.embedding.weight", "backbone.final_layernorm.weight"} | (set() if tied else {"lm_head.weight"})
    assert {k for k in on_disk if not k.startswith("backbone.layers.")} == rest
    model = load_model(tmp_path, torch.float32, torch.device("cpu"))
    back = to_checkpoint(model.state_dict(), model.cfg)
    assert sorted(back) == sorted(on_disk) and cfg == model.cfg
    for key, tensor in on_disk.items():
        assert torch.equal(back[key], tensor), key
    assert (model.lm_head.weight is model.model.embed_tokens.weight) == tied


def test_tiny_llamba_builtin_is_the_hub_layout(tmp_path):
    build_tiny_llamba(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]  # no tokenizer
    cfg, tensors = read_checkpoint(tmp_path)
    assert cfg.rows > cfg.vocab_size and tensors["backbone.embedding.weight"].shape[0] == cfg.rows


def test_concurrency_is_sized_by_the_state_which_does_not_grow_with_length(monkeypatch):
    """On a GPU the host fits as many slots as free memory holds: Llamba-3B's slot is its fixed
    recurrent state (no K/V cache) plus step temporaries and the sampler's rows."""
    with torch.device("meta"):
        model = LlambaForCausalLM(LlambaConfig.from_dict(LLAMBA_3B)).to(torch.bfloat16)
    host = EngineHost(model, SamplingParams(), None, max_new_tokens=1024, options=EngineOptions())
    free = 80 * 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, 2 * free))
    per_slot = per_slot_bytes(model, host.max_len(300))
    assert per_slot == per_slot_bytes(model, host.max_len(30000))  # length-free
    assert model.state_bytes(1, 0) > per_slot / 3  # the state is what a slot mostly holds
    assert host.fits(300) == int((0.9 * free - model.prefill_bytes(300)) // per_slot) > 1024  # runner caps it


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_kernel_path_on_cuda_matches_the_reference_and_decodes_in_a_cuda_graph():
    """mamba-ssm's chunked scan and state update (causal-conv1d's conv step where installed) against
    the torch reference in fp32; then the slot engine's captured step == its eager step, greedily."""
    from harness.generation.engine import SlotEngine
    from harness.generation.models.mamba_kernels import load_kernels

    kernels = load_kernels()  # no mamba-ssm on a GPU machine: this fails, loudly
    model = tiny_model().cuda()
    ids = torch.randint(0, VOCAB, (1, 40), generator=seeded()).cuda()
    # The chunked scan may compute its dot products in TF32: ~1e-3 relative, not fp32 round-off.
    assert_kernel_path_matches_reference(model, kernels, ids, 24, atol=5e-2)  # logits ~unit scale; a bug is O(1)
    with torch.inference_mode():
        prompt = model.prefill(ids[:, :24])
    greedy = [SlotEngine(model, 4, 64, 24, SamplingParams(temperature=0.0), None, cuda_graph=graph,
                         attend=attend_masked) for graph in (False, True)]
    for e in greedy:
        e.start(prompt, eos=set())
        e.refill([0, 1, 2, 3])
        e.advance(23)
    assert greedy[0].read(every_live=False) == greedy[1].read(every_live=False)
