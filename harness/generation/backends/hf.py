"""HF transformers backend (CPU and CUDA): Llama-family and transformers' Mamba/Mamba2 models.

All samples of a problem share its prompt, so the prompt is prefilled once per problem and its
cache (attention K/V prefix, or Mamba conv + SSM state) is copied into a slot whenever a sample
starts. Slots decode together in one batch; a finished slot is refilled at once, so the batch
never waits for its longest sample.
"""

from __future__ import annotations

import copy

import torch

from harness.generation.backends.torch_backend import TorchBackend, eos_ids
from harness.generation.engine.sampling import sample_tokens
from harness.generation.session import Finished, Session


class HFBackend(TorchBackend):
    def _load_model(self) -> set[int]:
        self.model = self._load_causal_lm()
        return eos_ids(self.model.generation_config.eos_token_id, self.tokenizer)

    def capacity(self, prompt_tokens: int) -> int | None:
        if self.device.type != "cuda":
            return None
        # Measure one sample's cache at the longest length it can reach (KV grows with tokens,
        # Mamba state does not), then fill 90% of free memory, leaving room for logits.
        with torch.no_grad():
            short = _cache_bytes(self._prefill([0] * 8)[0])
            long_ = _cache_bytes(self._prefill([0] * 16)[0])
        per_token = (long_ - short) / 8
        # Slots keep up to ~2x their live length before compaction (see HFSession._compact).
        per_sample = short + per_token * 2 * (prompt_tokens + self.max_new_tokens)
        per_sample += 4 * self.model.config.vocab_size * 4  # fp32 logits and sampling buffers
        torch.cuda.empty_cache()  # memory PyTorch caches but no tensor holds is free for the slots
        free, _ = torch.cuda.mem_get_info(self.device)
        return int(0.9 * free // per_sample)

    def _prefill(self, prompt_ids: list[int]):
        out = self.model(input_ids=torch.tensor([prompt_ids], device=self.device), use_cache=True)
        return out.cache, out.logits[:, -1].float()

    def session(self, prompt_ids: list[int], concurrency: int) -> Session:
        return HFSession(self, prompt_ids, concurrency)


def _cache_bytes(cache) -> int:
    total = 0
    for layer in cache.layers:
        for name in ("keys", "values"):
            t = getattr(layer, name, None)
            total += t.numel() * t.element_size() if isinstance(t, torch.Tensor) else 0
        for states in (getattr(layer, "conv_states", {}), getattr(layer, "recurrent_states", {})):
            total += sum(t.numel() * t.element_size() for t in states.values() if t is not None)
    return total


def _repeat_rows(cache, n: int) -> None:
    """Turn a batch-1 cache into n copies (transformers' own repeat skips Mamba layers)."""
    for layer in cache.layers:
        for name in ("keys", "values"):
            t = getattr(layer, name, None)
            if isinstance(t, torch.Tensor):
                setattr(layer, name, t.repeat_interleave(n, dim=0))
        for states in (getattr(layer, "conv_states", {}), getattr(layer, "recurrent_states", {})):
            for k, t in states.items():
                if t is not None:
                    states[k] = t.repeat_interleave(n, dim=0)


class HFSession(Session):
    def __init__(self, backend: HFBackend, prompt_ids: list[int], slots: int) -> None:
        self.b = backend
        self.slots = slots
        self.prompt_len = len(prompt_ids)
        with torch.no_grad():
            self.prompt_cache, self.prompt_logits = backend._prefill(prompt_ids)
        self.cache = copy.deepcopy(self.prompt_cache)
        _repeat_rows(self.cache, slots)
        self.has_kv = any(isinstance(getattr(layer, "keys", None), torch.Tensor) for layer in self.cache.layers)
        device = backend.device
        self.valid = torch.ones(slots, self.prompt_len, dtype=torch.long, device=device)
        self.position = torch.full((slots,), self.prompt_len, dtype=torch.long, device=device)
        self.logits = self.prompt_logits.expand(slots, -1).clone()
        self.active = [False] * slots
        self.tokens: list[list[int]] = [[] for _ in range(slots)]
        self._generated = 0

    @property
    def in_flight(self) -> int:
        return sum(self.active)

    @property
    def tokens_generated(self) -> int:
        return self._generated

    def add(self, n: int) -> None:
        free = [i for i, on in enumerate(self.active) if not on]
        if n > len(free):
            raise ValueError(f"add({n}) but only {len(free)} free slots")
        for i in free[:n]:
            self._load_prompt_state(i)

    def _load_prompt_state(self, i: int) -> None:
        p = self.prompt_len
        for layer, prompt in zip(self.cache.layers, self.prompt_cache.layers):
            if self.has_kv and isinstance(getattr(layer, "keys", None), torch.Tensor):
                layer.keys[i, :, :p] = prompt.keys[0]
                layer.values[i, :, :p] = prompt.values[0]
            for name in ("conv_states", "recurrent_states"):
                states, saved = getattr(layer, name, {}), getattr(prompt, name, {})
                for k, t in states.items():
                    if t is not None:
                        t[i] = saved[k][0]
        self.valid[i, :p] = 1
        self.valid[i, p:] = 0
        self.position[i] = p
        self.logits[i] = self.prompt_logits[0]
        self.tokens[i] = []
        self.active[i] = True

    @torch.no_grad()
    def step(self) -> list[Finished]:
        b = self.b
        sampled = sample_tokens(self.logits, b.sampling_params, b.generator).tolist()
        finished = []
        for i in (i for i, on in enumerate(self.active) if on):
            tokens = self.tokens[i]
            tokens.append(sampled[i])
            self._generated += 1
            reason = None
            if sampled[i] in b.eos or b.stop.hit(tokens):
                reason = "stop"
            elif len(tokens) >= b.max_new_tokens:
                reason = "length"
            if reason:
                self.active[i] = False
                finished.append(Finished(b.stop.finalize(tokens), len(tokens), reason))
        if any(self.active):
            self._forward(torch.tensor(sampled, device=b.device))
        return finished

    def _forward(self, tokens: torch.Tensor) -> None:
        kwargs = {}
        if self.has_kv:
            self.valid = torch.cat([self.valid, self.valid.new_ones(self.slots, 1)], dim=1)
            kwargs = {"attention_mask": self.valid, "position_ids": self.position[:, None]}
        out = self.b.model(input_ids=tokens[:, None], cache=self.cache, use_cache=True, **kwargs)
        self.cache = out.cache
        self.logits = out.logits[:, -1].float()
        self.position += 1
        if self.has_kv and self.valid.shape[1] > 2 * int(self.valid.sum(1).max()) + 64:
            self._compact()

    def _compact(self) -> None:
        """Drop cache columns no slot attends to (left by refilled slots), keeping order.

        RoPE is applied before keys are cached and positions are tracked per slot, so moving
        a key to another column does not change attention.
        """
        keep = int(self.valid.sum(1).max())
        # Stable sort puts each row's masked columns first, its live ones last, in order.
        columns = torch.argsort(self.valid, dim=1, stable=True)[:, -keep:]
        self.valid = self.valid.gather(1, columns)
        for layer in self.cache.layers:
            if isinstance(getattr(layer, "keys", None), torch.Tensor):
                index = columns[:, None, :, None].expand(-1, layer.keys.shape[1], -1, layer.keys.shape[3])
                layer.keys = layer.keys.gather(2, index)
                layer.values = layer.values.gather(2, index)

    def abort(self) -> int:
        dropped = self.in_flight
        self.active = [False] * self.slots
        return dropped

    def close(self) -> None:
        self.cache = self.prompt_cache = None
