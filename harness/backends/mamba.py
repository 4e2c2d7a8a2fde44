"""mamba backend: the MambaInLlama students (hybrid and pure Mamba) on the slot engine.

Per problem the prompt is prefilled once; its state (conv + SSM state per Mamba layer, K/V
prefix per attention layer) and next-token logits are kept, and a sample starts by copying that
state into a free slot, so refilling a slot never prefills again. The slots, the in-graph
sampler and the CUDA-graph decode step are ``harness.engine``'s (shared with the hf backend's
engine path); this module loads the model and mamba-ssm's kernels.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from harness.backends.base import Backend, Session
from harness.backends.hf import pick_device, pick_dtype
from harness.engine import ENGINE_OPTIONS, EngineHost
from harness.models import resolve
from harness.models.mamba_in_llama import load_model, local_dir
from harness.sampling import StopChecker

# model.options this backend understands, with their defaults.
OPTIONS: dict[str, object] = {
    **ENGINE_OPTIONS,
    "kernels": True,  # mamba-ssm kernels on CUDA; False runs the torch reference there too
}


class MambaBackend(Backend):
    def load(self) -> None:
        from transformers import AutoTokenizer

        cfg = self.model_cfg
        unknown = set(cfg.options) - set(OPTIONS)
        if unknown:
            raise ValueError(f"unknown model.options {sorted(unknown)} for the mamba backend: use {sorted(OPTIONS)}")
        self.options = {**OPTIONS, **cfg.options}
        if self.runner_cfg.threads:
            torch.set_num_threads(self.runner_cfg.threads)
        self.device = pick_device(cfg.device)
        self.dtype = pick_dtype(cfg.dtype)
        directory = local_dir(resolve(cfg.path), cfg.revision)
        self.tokenizer = AutoTokenizer.from_pretrained(directory)
        if cfg.chat_template:
            self.tokenizer.chat_template = cfg.chat_template
        self.model, self.layout = load_model(directory, self.dtype, self.device)
        if self.device.type == "cuda" and self.options["kernels"]:
            from harness.models.mamba_kernels import load_kernels

            self.model.kernels = load_kernels()
        self.eos = _eos_ids(directory, self.tokenizer)
        self.stop = StopChecker(self.tokenizer, list(self.sampling.stop))
        self.generator = torch.Generator(self.device).manual_seed(self.seed)
        self.host = EngineHost(self.model, self.sampling, self.generator, self.max_new_tokens, self.options)

    def max_concurrency(self, prompt_tokens: int) -> int:
        if self.device.type != "cuda":
            return self.choose_concurrency(None)
        return self.choose_concurrency(self.host.fits(prompt_tokens))

    def session(self, prompt_ids: list[int], concurrency: int) -> Session:
        # eos and stop are read per session, so tests (and callers) may change them after load.
        return self.host.session(prompt_ids, concurrency, self.eos, self.stop)

    def describe(self) -> dict[str, object]:
        kernels = self.model.kernels
        if kernels is None:
            path = "torch reference"
        elif self.layout.mixer == "mamba1" and kernels.selective_scan is None:
            path = "mamba-ssm (Mamba-1 prompt scan in torch: no selective_scan_cuda)"
        else:
            path = "mamba-ssm"
        info: dict[str, object] = {
            "device": str(self.device), "dtype": str(self.dtype).removeprefix("torch."),
            "threads": torch.get_num_threads(), "mixer": self.layout.mixer,
            "attn_layers": list(self.model.cfg.attn_layers), "kernels": path,
            **self.host.describe(),
        }
        if self.device.type == "cuda":
            info["gpu"] = torch.cuda.get_device_name(self.device)
        return info


def _eos_ids(directory: Path, tokenizer) -> set[int]:
    """End-of-sample tokens: generation_config.json's (Llama-3: end-of-text, eom, eot) and the tokenizer's."""
    ids: set[int] = set()
    gen = directory / "generation_config.json"
    if gen.exists():
        eos = json.loads(gen.read_text()).get("eos_token_id")
        ids.update(eos if isinstance(eos, list) else [] if eos is None else [eos])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids
