"""harness.analysis.cost: shapes read from the tiny models' files, and the formulas against a hand count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.analysis import cost
from harness.generation.models import resolve

PROMPT, TOKENS, BATCH = np.array([10]), np.array([3]), np.array([8])  # one sample: 3 tokens after 10
CONTEXT = 10 + 11 + 12  # the contexts L_t = P + t - 1 its 3 tokens are produced from


def params(model: torch.nn.Module) -> tuple[int, int]:
    """(weights of every nn.Linear, every parameter) of an instantiated model; a tied head counts once."""
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    return linear, sum(p.numel() for p in model.parameters())


def test_tiny_llama_flops_and_bytes_match_a_hand_count() -> None:
    from transformers import AutoModelForCausalLM

    path = resolve("builtin:tiny_llama")
    shape = cost.read_model_shape(path)
    assert shape == {"arch": "llama", "vocab_size": 384, "d_model": 64, "n_layer": 2, "tie_word_embeddings": True,
                     "intermediate_size": 128, "n_heads": 4, "n_kv_heads": 2, "head_dim": 32, "attn_layers": [0, 1]}
    # Hand count. Per layer: q 64x128 = 8192, k 64x64 = 4096, v 4096, o 128x64 = 8192; MLP gate, up,
    # down 3 x 64x128 = 24576; so 49152 a layer, 98304 for two, + lm_head 64x384 = 24576 (tied).
    matmul = 2 * (8192 + 4096 + 4096 + 8192 + 24576) + 24576
    assert matmul == 122880
    step = matmul + 2 * 2 * 64 + 64  # + two RMSNorms a layer and the final one
    c = cost.counts(shape)
    assert (c.matmul_params, c.step_params) == (matmul, step) == params(AutoModelForCausalLM.from_pretrained(path))
    # FLOPs per token: 2 per weight, + q.k and p.v over L positions: 2 layers x 4 heads x 32 x 4 = 1024 L.
    assert cost.sample_flops(shape, PROMPT, TOKENS)[0] == 3 * 2 * 122880 + 1024 * CONTEXT == 771072
    # Bytes, float32, 8 samples a step: weights 123200 x 4 / 8 = 61600 a token; K and V of one position in
    # both layers 2 x 2 x 2 heads x 32 x 4 = 1024, written once and read at each of the L positions.
    assert cost.sample_bytes(shape, "float32", PROMPT, TOKENS, BATCH)[0] == 3 * (61600 + 1024) + 1024 * CONTEXT \
        == 221664


def test_tiny_hybrid_flops_and_bytes_match_a_hand_count() -> None:
    from harness.generation.models.mamba_in_llama import read_checkpoint
    from harness.generation.models.mamba_model import MambaInLlamaForCausalLM

    path = resolve("builtin:tiny_hybrid")
    shape = cost.read_model_shape(path)
    assert shape["arch"] == "mamba_in_llama" and shape["mixer"] == "mamba1" and shape["attn_layers"] == [1, 3]
    # Hand count, 4 layers, attention in 1 and 3. Attention: qkv 64 x (4+2+2)x16 = 8192, o 64x64 = 4096.
    # Mamba-1 (d_inner 64, d_xb 32, d_state 16, dt_rank 4): in_proj 64 x (2x64 + 2x32 + 4) = 12544,
    # dt_proj 4x64 = 256, out_proj 64x64 = 4096. MLP in every layer 3 x 64x128 = 24576; lm_head 64x384.
    matmul = 2 * (8192 + 4096) + 2 * (12544 + 256 + 4096) + 4 * 24576 + 64 * 384
    assert matmul == 181248
    # Other parameters of a Mamba layer: dt bias 64, A_log 64x16, D 64, conv 64 channels x 4 + bias 64.
    step = matmul + 2 * (64 + 1024 + 64 + 256 + 64) + 4 * 2 * 64 + 64
    cfg, _, _ = read_checkpoint(Path(path))
    c = cost.counts(shape)
    assert (c.matmul_params, c.step_params) == (matmul, step) == params(MambaInLlamaForCausalLM(cfg))
    # SSM state a Mamba layer: 4 heads x 16 x 16 = 1024 elements (5 FLOPs each); conv state 64 x 4 = 256
    # (2 each). Attention: 2 layers x 4 heads x 16 x 4 = 512 L.
    per_token = 2 * matmul + 2 * (5 * 1024 + 2 * 256)
    assert cost.sample_flops(shape, PROMPT, TOKENS)[0] == 3 * per_token + 512 * CONTEXT == 1138176
    # Bytes, bfloat16 weights and K/V, float32 SSM state, 8 samples a step: weights 184768 x 2 / 8 = 46192;
    # K/V of a position 2 x 2 layers x 2 heads x 16 x 2 = 256; each Mamba layer reads and writes its SSM
    # state (2 x 1024 x 4) and conv state (2 x 256 x 2).
    assert step * 2 / 8 == 46192
    per_token = 46192 + 256 + 2 * (2 * 1024 * 4 + 2 * 256 * 2)
    assert cost.sample_bytes(shape, "bfloat16", PROMPT, TOKENS, BATCH)[0] == 3 * per_token + 256 * CONTEXT == 203088


def test_transformers_mamba2_counts_every_parameter() -> None:
    from transformers import AutoModelForCausalLM

    path = resolve("builtin:tiny_mamba")
    shape = cost.read_model_shape(path)
    c = cost.counts(shape)
    assert (c.attn_layers, c.mamba_layers, c.ssm_state) == (0, 2, 8 * 16 * 16)  # heads x head_dim x d_state
    assert (c.matmul_params, c.step_params) == params(AutoModelForCausalLM.from_pretrained(path))
    # No attention: the cost of a token does not grow with its context.
    assert cost.sample_flops(shape, [10, 1000], [3, 3])[0] == cost.sample_flops(shape, [10, 1000], [3, 3])[1]


def test_tiny_llamba_counts_every_parameter_a_step_reads() -> None:
    from harness.generation.models.llamba import LlambaForCausalLM, read_checkpoint

    path = resolve("builtin:tiny_llamba")
    shape = cost.read_model_shape(path)
    c = cost.counts(shape)
    # 2 layers, d_model 64, d_inner 64, 8 value heads of 8, 4 B/C groups of d_state 16: SSM state
    # 8 x 8 x 16 = 1024 = d_inner x d_state; conv over x, B, C: (64 + 2 x 4 x 16) x 4 = 768.
    assert (shape["arch"], c.attn_layers, c.mamba_layers, c.ssm_state, c.conv_state) == ("llamba", 0, 2, 1024, 768)
    cfg, _ = read_checkpoint(Path(path))
    # A step reads every weight but the (tied) embedding's padded rows: never scored, never looked up.
    padded = (cfg.rows - cfg.vocab_size) * cfg.d_model
    linear, every = params(LlambaForCausalLM(cfg))
    assert padded > 0 and (c.matmul_params, c.step_params) == (linear - padded, every - padded)
    assert cost.sample_flops(shape, [10, 1000], [3, 3])[0] == cost.sample_flops(shape, [10, 1000], [3, 3])[1]


def test_shapes_without_formulas_or_files_are_refused() -> None:
    with pytest.raises(ValueError, match="no cost formulas for model_type 'gpt2'"):
        cost.model_shape({"model_type": "gpt2", "vocab_size": 1, "hidden_size": 1, "num_hidden_layers": 1})
    with pytest.raises(OSError):  # a hub id that is not in the local cache: never downloaded
        cost.read_model_shape("nobody/not-a-cached-model")
