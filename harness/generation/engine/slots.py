"""The slot engine: B decode slots of one prompt, stepped on the device with few host syncs.

Per problem the prompt is prefilled once (``PromptState``); a sample starts by copying that
state into a free slot (``refill``) and drawing its first token from the prompt's logits. One
device step feeds every slot's last token to the model, samples the next one (in-graph sampler)
and marks slots that hit EOS or ``max_new_tokens`` as done, all in fixed-shape tensor ops: on
CUDA it is one captured CUDA graph, replayed ``n`` times per ``advance`` with no host sync in
between. The host only looks at the slots between advances (``read``) to emit finished samples,
check stop strings and refill.

Attention layers keep a static per-slot K/V cache of ``max_len`` tokens. With the Triton split-K
kernel (``decode_attention``) each slot reads its own filled length and one graph serves every
step (``attn_bucket`` 0). With the torch kernel a step attends over a prefix of the cache: the
longest live slot's length rounded up to ``attn_bucket``, one graph per bucket length, chosen on
the host (it knows every slot's length without asking the device).
"""

from __future__ import annotations

import torch
from torch import Tensor

from harness.generation.engine.sampling import SamplingParams, Threshold, sample_in_graph
from harness.generation.engine.state import Attend, DecodeModel, DecodeState, PromptState


def bucket_lengths(max_len: int, bucket: int, has_attention: bool) -> list[int]:
    """Attention prefix lengths a step may read: multiples of ``bucket`` up to ``max_len``."""
    if not has_attention or bucket <= 0:
        return [max_len]
    return [*range(bucket, max_len, bucket), max_len]


class SlotEngine:
    """Decode slots, their sampling and finish state; reused across problems while the shape fits.

    Its buffers are made under inference mode (by sessions), so every method that writes them
    runs in inference mode too.
    """

    def __init__(self, model: DecodeModel, batch: int, max_len: int, max_new_tokens: int,
                 sampling: SamplingParams, generator: torch.Generator | None, cuda_graph: bool, attend: Attend,
                 attn_bucket: int = 256, nucleus: Threshold | None = None) -> None:
        self.model, self.max_new, self.sampling, self.generator = model, max_new_tokens, sampling, generator
        self.attend, self.nucleus = attend, nucleus
        device = model.device
        self.state = model.allocate(batch, max_len)
        self.tokens = torch.zeros(batch, dtype=torch.long, device=device)  # each slot's last token
        self.out = torch.zeros(batch, max_new_tokens, dtype=torch.long, device=device)  # samples' tokens
        self.n_gen = torch.zeros(batch, dtype=torch.long, device=device)
        self.live = torch.zeros(batch, dtype=torch.bool, device=device)  # sampling, not finished
        self.done = torch.zeros(batch, dtype=torch.bool, device=device)  # finished, not yet read
        self.eos = torch.zeros(model.vocab_size, dtype=torch.bool, device=device)
        self.rows = torch.arange(batch, device=device)
        self.prompt: PromptState | None = None
        # Host view: occupied slot -> host step count when it was refilled (gives its length).
        self.started: dict[int, int] = {}
        self.steps = 0
        self.views = {n: self.state.cut(n) for n in bucket_lengths(max_len, attn_bucket, model.has_attention)}
        self.graphs = self._capture_all() if cuda_graph else {}

    @property
    def batch(self) -> int:
        return self.tokens.shape[0]

    @property
    def max_len(self) -> int:
        return self.state.max_len

    def _record(self, token: Tensor, mask: Tensor) -> None:
        """Append ``token`` to the slots in ``mask``; mark those that end as done."""
        index = self.n_gen.clamp(max=self.max_new - 1)
        self.out[self.rows, index] = torch.where(mask, token, self.out[self.rows, index])
        self.n_gen.add_(mask)
        end = mask & (self.eos[token] | (self.n_gen >= self.max_new))
        self.done.logical_or_(end)
        self.live.logical_and_(~end)
        self.tokens.copy_(token)

    def _step(self, view: DecodeState) -> None:
        # Done and free slots step along (static shapes); their tokens are not recorded.
        logits = self.model.step(self.tokens, view, self.attend)
        self._record(sample_in_graph(logits, self.sampling, self.generator, self.nucleus), self.live)

    def _capture_all(self) -> dict[int, torch.cuda.CUDAGraph]:
        # Warm up on a side stream first (Triton compiles, cuBLAS picks kernels); no slot is
        # live, so stepping records nothing.
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for view in self.views.values():
                self._step(view)
        torch.cuda.current_stream().wait_stream(stream)
        # All outputs go to the engine's own buffers, so the graphs can share one memory pool.
        pool = torch.cuda.graph_pool_handle()
        graphs = {}
        for length, view in self.views.items():
            graph = torch.cuda.CUDAGraph()
            if self.generator is not None:
                graph.register_generator_state(self.generator)
            with torch.cuda.graph(graph, pool=pool):
                self._step(view)
            graphs[length] = graph
        return graphs

    @torch.inference_mode()
    def start(self, prompt: PromptState, eos: set[int]) -> None:
        """Serve a new prompt: every slot free, ``eos`` ends samples."""
        if prompt.length + self.max_new > self.max_len:
            raise ValueError(f"prompt of {prompt.length} + {self.max_new} new tokens exceeds the slots' {self.max_len}")
        self.prompt = prompt
        self.eos.zero_()
        self.eos[torch.tensor(sorted(eos), dtype=torch.long, device=self.eos.device)] = True
        self.abort()

    def free_slots(self) -> list[int]:
        return [i for i in range(self.batch) if i not in self.started]

    @torch.inference_mode()
    def refill(self, slots: list[int]) -> None:
        """Start samples in ``slots`` from the prompt state and draw their first tokens."""
        index = torch.tensor(slots, device=self.tokens.device)
        self.state.load(index, self.prompt)
        self.n_gen[index] = 0
        self.done[index] = False
        self.live[index] = True
        first = sample_in_graph(self.prompt.logits.expand(len(slots), -1), self.sampling, self.generator,
                                self.nucleus)
        token = self.tokens.index_copy(0, index, first)
        self._record(token, torch.zeros_like(self.live).index_fill_(0, index, True))
        self.started.update({i: self.steps for i in slots})

    @torch.inference_mode()
    def advance(self, n: int) -> None:
        """``n`` device steps, no host sync."""
        if not self.started:
            return
        longest = self.prompt.length + self.steps - min(self.started.values())
        length = next(length for length in self.views if length >= min(longest + n, self.max_len))
        for _ in range(n):
            if self.graphs:
                self.graphs[length].replay()
            else:
                self._step(self.views[length])
        self.steps += n

    def read(self, every_live: bool) -> dict[int, tuple[list[int], bool]]:
        """Occupied slots' tokens and whether the device ended them: the done ones, or all
        when ``every_live`` (the host checks stop strings on them). One or two host syncs."""
        done = set(self.done.nonzero().flatten().tolist())
        slots = sorted(self.started) if every_live else sorted(done)
        if not slots:
            return {}
        index = torch.tensor(slots, device=self.out.device)
        counts = self.n_gen[index].tolist()
        width = max(counts)
        rows = self.out[index, :width].tolist()
        return {s: (row[:n], s in done) for s, row, n in zip(slots, rows, counts)}

    @torch.inference_mode()
    def release(self, slots: list[int]) -> None:
        """Free finished slots (the host may end a live one, on a stop string)."""
        if slots:
            index = torch.tensor(slots, device=self.live.device)
            self.live[index] = False
            self.done[index] = False
            for i in slots:
                del self.started[i]

    def tokens_in_flight(self) -> int:
        """Tokens decoded by the samples still occupying slots (one host sync)."""
        if not self.started:
            return 0
        return int(self.n_gen[torch.tensor(sorted(self.started), device=self.n_gen.device)].sum())

    @torch.inference_mode()
    def abort(self) -> int:
        """Free every slot; return how many samples were occupying one."""
        dropped = len(self.started)
        self.started.clear()
        self.live.zero_()
        self.done.zero_()
        return dropped
