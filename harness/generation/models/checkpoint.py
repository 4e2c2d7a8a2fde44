"""Checkpoint files the students' loaders share (MambaInLlama, Llamba): a hub id made a local
directory, weights read from single or sharded safetensors or ``pytorch_model*.bin``, written
back as one ``model.safetensors``, and deterministic random weights for the tiny builtins."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import torch
from torch import Tensor, nn

from harness.errors import UserError

WEIGHTS = ("*.safetensors", "*.bin")
CONFIGS = ("*.json", "tokenizer*", "*.jinja")


def local_dir(path: str, revision: str | None = None, patterns: tuple[str, ...] = WEIGHTS + CONFIGS) -> Path:
    """A local directory holding ``path``'s files matching ``patterns``; a hub id is downloaded
    (product path only, never in tests)."""
    if Path(path).is_dir():
        return Path(path)
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", path):
        raise UserError(f"model.path {path!r} is neither a local directory nor a hub id")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(path, revision=revision, allow_patterns=list(patterns)))


def weight_files(directory: Path) -> list[Path]:
    """Safetensors (sharded or not) or, as some repos ship, pytorch_model*.bin."""
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (directory / index).exists():
            shards = json.loads((directory / index).read_text())["weight_map"].values()
            return [directory / f for f in sorted(set(shards))]
    files = sorted(directory.glob("*.safetensors")) or sorted(directory.glob("pytorch_model*.bin"))
    if not files:
        raise UserError(f"no *.safetensors or pytorch_model.bin weights in {directory}")
    return files


def read_tensors(directory: Path) -> dict[str, Tensor]:
    """Every tensor of a checkpoint directory, on CPU, as stored."""
    from safetensors.torch import load_file

    tensors: dict[str, Tensor] = {}
    for file in weight_files(directory):
        tensors.update(load_file(file) if file.suffix == ".safetensors"
                       else torch.load(file, map_location="cpu", weights_only=True, mmap=True))
    return tensors


def write_tensors(tensors: dict[str, Tensor], out_dir: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, out_dir / "model.safetensors")


def write_generation_config(tokenizer, out_dir: Path) -> dict[str, object]:
    """generation_config.json as Llama-3-Instruct's: end-of-turn and end-of-text both end a sample."""
    eos = [tokenizer.convert_tokens_to_ids(t) for t in ("<|eot_id|>", "<|end_of_text|>")]
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": eos}
    (out_dir / "generation_config.json").write_text(json.dumps(ids, indent=2))
    return ids


@torch.no_grad()
def random_init_(model: nn.Module, seed: int = 0) -> None:
    """Deterministic random weights with a trained model's ranges: unit-scale activations,
    decays and step sizes that make the state matter over a few tokens."""
    device = next(model.parameters()).device
    gen = torch.Generator(device).manual_seed(seed)
    rand = lambda t: torch.rand(t.shape, generator=gen, device=t.device, dtype=torch.float32)
    randn = lambda t: torch.randn(t.shape, generator=gen, device=t.device, dtype=torch.float32)
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if name.endswith("norm.weight"):
            value = 1 + 0.1 * randn(p)
        elif leaf == "A_log":
            value = torch.log(1 + 15 * rand(p))
        elif leaf == "D":
            value = 1 + 0.1 * randn(p)
        elif name.endswith("dt_proj.bias") or leaf == "dt_bias":
            value = -1.5 * rand(p)  # softplus of it (twice it, for Mamba-1) well inside (0, 1)
        elif name.endswith("conv1d.bias") or leaf == "z_bias":
            value = 0.1 * randn(p)
        else:  # projections, conv kernels, embeddings (logits ~ unit scale through the tied head)
            value = randn(p) / math.sqrt(p[0].numel())
        p.copy_(value)
