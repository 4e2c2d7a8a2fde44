"""mamba backend: the MambaInLlama students (hybrid and pure Mamba) on B decode slots.

Per problem the prompt is prefilled once; its state (conv + SSM state per Mamba layer, K/V
prefix per attention layer) and next-token logits are kept. A sample starts by copying that
state into a free slot and sampling its first token from the saved logits, so refilling a slot
never prefills again. Every ``step`` samples one token for each live slot and then (lazily, at
the next ``step``/``add``) advances all slots by one token in a single batched call, which on
CUDA is a captured CUDA graph over mamba-ssm's kernels; elsewhere it is the pure-torch path.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from harness.backends.base import Backend, Finished, Session
from harness.backends.hf import pick_device, pick_dtype
from harness.models import resolve
from harness.models.mamba_in_llama import load_model, local_dir
from harness.models.mamba_model import DecodeState, MambaInLlamaForCausalLM, PromptState
from harness.sampling import StopChecker, sample_tokens

# model.options this backend understands, with their defaults.
OPTIONS: dict[str, object] = {
    "gpu_memory_utilization": 0.9,  # share of free GPU memory the decode slots may fill
    "cuda_graph": True,  # capture the decode step as a CUDA graph (CUDA only)
    "kernels": True,  # mamba-ssm kernels on CUDA; False runs the torch reference there too
    "max_len_multiple": 256,  # slot length is rounded up to this, so most problems reuse one graph
}


class _Engine:
    """The decode slots and, on CUDA, the captured step; reused while the shape fits."""

    def __init__(self, model: MambaInLlamaForCausalLM, batch: int, max_len: int, cuda_graph: bool) -> None:
        self.model = model
        self.state: DecodeState = model.allocate(batch, max_len)
        self.tokens = torch.zeros(batch, dtype=torch.long, device=model.device)
        self.logits: Tensor | None = None
        self.graph = self._capture() if cuda_graph else None

    @property
    def batch(self) -> int:
        return self.tokens.shape[0]

    def _capture(self) -> torch.cuda.CUDAGraph:
        # Warm up on a side stream first (Triton compiles, cuBLAS picks kernels); slots hold
        # nothing yet, so stepping them is harmless.
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self.model.step(self.tokens, self.state)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.logits = self.model.step(self.tokens, self.state)
        return graph

    def run(self) -> None:
        """Feed ``tokens`` to every slot; next-token logits land in ``logits``."""
        if self.graph is not None:
            self.graph.replay()
        else:
            self.logits = self.model.step(self.tokens, self.state)


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
        self._engine: _Engine | None = None

    def _max_len(self, prompt_tokens: int) -> int:
        multiple = int(self.options["max_len_multiple"])
        return -(-(prompt_tokens + self.max_new_tokens) // multiple) * multiple

    def _per_sample_bytes(self, max_len: int) -> int:
        """A slot's state plus an estimate of its share of the step's and the sampler's buffers."""
        c = self.model.cfg
        logits = 64 * c.vocab_size  # fp32 logits, gathered rows, and sort/softmax/cumsum in sampling
        activations = 4 * (4 * c.d_inner + 3 * c.intermediate_size + 8 * c.d_model)
        attention = 16 * c.n_heads * max_len if c.attn_layers else 0  # fp32 scores and softmax
        ssm_temp = 3 * 4 * c.d_inner * c.d_state  # torch path's per-layer exp(dt*A) and products
        return self.model.state_bytes(1, max_len) + logits + activations + attention + ssm_temp

    def max_concurrency(self, prompt_tokens: int) -> int:
        if self.device.type != "cuda":
            return self.choose_concurrency(None)
        max_len = self._max_len(prompt_tokens)
        held = self.model.state_bytes(self._engine.batch, self._engine.state.max_len) if self._engine else 0
        free, _ = torch.cuda.mem_get_info(self.device)
        # The prompt's prefill runs beside the slots: keep room for its activations.
        prefill = 16 * prompt_tokens * (4 * self.model.cfg.d_inner + 3 * self.model.cfg.intermediate_size)
        usable = float(self.options["gpu_memory_utilization"]) * (free + held) - prefill
        return self.choose_concurrency(int(usable // self._per_sample_bytes(max_len)))

    def _engine_for(self, batch: int, prompt_tokens: int) -> _Engine:
        need = prompt_tokens + self.max_new_tokens
        engine = self._engine
        if engine is None or engine.batch != batch or engine.state.max_len < need:
            self._engine = engine = None  # free the old slots before allocating new ones
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            cuda_graph = self.device.type == "cuda" and bool(self.options["cuda_graph"])
            engine = self._engine = _Engine(self.model, batch, self._max_len(prompt_tokens), cuda_graph)
        return engine

    @torch.inference_mode()
    def session(self, prompt_ids: list[int], concurrency: int) -> Session:
        engine = self._engine_for(concurrency, len(prompt_ids))
        prompt = self.model.prefill(torch.tensor([prompt_ids], device=self.device))
        return MambaSession(self, engine, prompt)

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
            "cuda_graph": self.device.type == "cuda" and bool(self.options["cuda_graph"]),
        }
        if self.device.type == "cuda":
            info["gpu"] = torch.cuda.get_device_name(self.device)
        return info

    def close(self) -> None:
        self._engine = None
        del self.model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


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


class MambaSession(Session):
    def __init__(self, backend: MambaBackend, engine: _Engine, prompt: PromptState) -> None:
        self.b, self.engine, self.prompt = backend, engine, prompt
        # Per slot: the sample's tokens so far, or None for a free slot.
        self.samples: list[list[int] | None] = [None] * engine.batch
        self.fresh: set[int] = set()  # slots whose next token comes from the prompt's logits
        self.pending = False  # slots hold sampled tokens not yet fed to the model
        self._generated = 0

    @property
    def in_flight(self) -> int:
        return sum(s is not None for s in self.samples)

    @property
    def tokens_generated(self) -> int:
        return self._generated

    def _flush(self) -> None:
        if self.pending:
            self.engine.run()
            self.pending = False

    @torch.inference_mode()
    def add(self, n: int) -> None:
        free = [i for i, s in enumerate(self.samples) if s is None]
        if n > len(free):
            raise ValueError(f"add({n}) but only {len(free)} free slots")
        if n <= 0:
            return
        # Advance running slots first: the step would otherwise overwrite the fresh prompt state.
        self._flush()
        slots = free[:n]
        self.engine.state.load(torch.tensor(slots, device=self.b.device), self.prompt)
        for i in slots:
            self.samples[i] = []
        self.fresh.update(slots)

    @torch.inference_mode()
    def step(self) -> list[Finished]:
        self._flush()
        active = [i for i, s in enumerate(self.samples) if s is not None]
        if not active:
            return []
        b = self.b
        index = torch.tensor(active, device=b.device)
        if self.fresh.issuperset(active):
            logits = self.prompt.logits.expand(len(active), -1)
        else:
            logits = self.engine.logits.index_select(0, index)
            if self.fresh:
                fresh = torch.tensor([i in self.fresh for i in active], device=b.device)
                logits = torch.where(fresh[:, None], self.prompt.logits, logits)
        sampled = sample_tokens(logits, b.sampling, b.generator)
        self.engine.tokens.index_copy_(0, index, sampled)
        self.fresh.clear()
        finished = []
        for i, token in zip(active, sampled.tolist()):
            tokens = self.samples[i]
            tokens.append(token)
            self._generated += 1
            reason = None
            if token in b.eos or b.stop.hit(tokens):
                reason = "stop"
            elif len(tokens) >= b.max_new_tokens:
                reason = "length"
            if reason:
                self.samples[i] = None
                finished.append(Finished(b.stop.finalize(tokens), len(tokens), reason))
        self.pending = self.in_flight > 0
        return finished

    def abort(self) -> int:
        dropped = self.in_flight
        self.samples = [None] * len(self.samples)
        self.fresh.clear()
        self.pending = False
        return dropped

    def close(self) -> None:
        self.abort()
        # The backend keeps the slots for the next problem; the prompt state is this one's.
        self.prompt = self.engine = None
