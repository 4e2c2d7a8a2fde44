"""How much the hybrids' two RoPE choices change the logits (docs/mamba.md, "RoPE: trained or plain").

    python bench/rope.py        # CPU, about a minute on 2 cores; JSON lines on stdout

The MambaInLlama checkpoints were distilled with transformers' Llama attention, which applies
Llama-3's ``rope_scaling``; the authors' inference code rotates with ``rope_theta`` alone
(``model.options.rope=plain``). This builds a small random hybrid with Llama-3.2's RoPE (theta
500000, head_dim 64, llama3 scaling: factor 32, original length 8192, low/high frequency factors
1/4), attention in 2 of its 4 layers (Mamba-1 in the others), runs one random sequence through it
under each choice and prints, at each position asked, how far the plain-RoPE logits are from the
trained ones: the largest and mean absolute difference (and the mean over the 64 positions up to
it), the KL divergence of the next-token distributions, and whether the top token agrees.
Random weights: it sizes the effect; the real checkpoints' numbers need them (and a GPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.generation.models.checkpoint import random_init_
from harness.generation.models.mamba_config import HybridConfig
from harness.generation.models.mamba_model import MambaInLlamaForCausalLM

LLAMA32_ROPE = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192}


def small_hybrid(rope_scaling: dict | None) -> HybridConfig:
    return HybridConfig(
        vocab_size=512, d_model=256, n_layer=4, intermediate_size=512, n_heads=4, n_kv_heads=2, head_dim=64,
        rms_norm_eps=1e-5, rope_theta=500000.0, rope_scaling=rope_scaling, tie_word_embeddings=True,
        attn_layers=(1, 3), mixer="mamba1", d_inner=256, d_xb=128, d_state=16, d_conv=4, dt_rank=16, conv_bias=True,
        repeat_kv_before_conv=True)


@torch.inference_mode()
def gaps(positions: list[int], seed: int = 0) -> list[dict]:
    trained = MambaInLlamaForCausalLM(small_hybrid(LLAMA32_ROPE))
    random_init_(trained, seed)
    plain = MambaInLlamaForCausalLM(dataclasses.replace(trained.cfg, rope_scaling=None))
    plain.load_state_dict(trained.state_dict())
    ids = torch.randint(0, trained.cfg.vocab_size, (1, max(positions) + 1), generator=torch.Generator().manual_seed(1))
    a, b = trained.eval()(ids)[0], plain.eval()(ids)[0]
    rows = []
    for p in positions:
        diff = (a[p] - b[p]).abs()
        log_a, log_b = a[p].log_softmax(-1), b[p].log_softmax(-1)
        kl = float((log_a.exp() * (log_a - log_b)).sum())
        window = (a[max(0, p - 63): p + 1] - b[max(0, p - 63): p + 1]).abs().mean()  # single positions are noisy
        rows.append({"bench": "rope", "position": p, "max_abs": round(float(diff.max()), 6),
                     "mean_abs": round(float(diff.mean()), 6), "mean_abs_last_64": round(float(window), 6),
                     "logit_std": round(float(a[p].std()), 4),
                     "kl_trained_plain": round(kl, 8), "top1_same": bool(a[p].argmax() == b[p].argmax())})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--positions", type=int, nargs="+", default=[0, 256, 1024, 4096])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for row in gaps(args.positions, args.seed):
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
