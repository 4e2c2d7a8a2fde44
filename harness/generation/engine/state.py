"""What the slot engine needs from a model: the protocols a decode model implements.

The engine imports no model. A model (``harness.generation.models.mamba_model.SlotLM``: the MambaInLlama
students, through them any transformers Llama, and the Llamba students) satisfies these
structurally: it prefills a prompt into a ``PromptState``, allocates ``DecodeState`` slots, and
advances every slot by one token with ``step``, given the decode-attention kernel to use
(``harness.generation.kernels.decode_attention``).
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from harness.generation.kernels.decode_attention import Attend


class PromptState(Protocol):
    """A prefilled prompt: what a sample needs to continue from it."""

    length: int
    logits: Tensor  # [1, V] fp32, the next-token distribution after the prompt


class DecodeState(Protocol):
    """Per-slot decode state, fixed shapes (so a step can be a CUDA graph)."""

    lengths: Tensor  # [B] tokens each slot holds
    max_len: int  # tokens a slot can hold (prompt included)

    def load(self, slots: Tensor, prompt: PromptState) -> None:
        """Start samples in ``slots`` from the prompt's state (no prefill)."""

    def cut(self, length: int) -> DecodeState:
        """The same state with attention caches cut to ``length`` positions (views)."""


class DecodeModel(Protocol):
    @property
    def device(self) -> torch.device: ...

    @property
    def vocab_size(self) -> int: ...

    @property
    def has_attention(self) -> bool: ...

    def prefill(self, input_ids: Tensor) -> PromptState: ...

    def allocate(self, batch: int, max_len: int) -> DecodeState: ...

    def step(self, tokens: Tensor, state: DecodeState, attend: Attend) -> Tensor:
        """Feed one token per slot (tokens [B]); next-token logits [B, V] (fp32)."""

    def state_bytes(self, batch: int, max_len: int) -> int: ...

    def slot_bytes(self, max_len: int) -> int:
        """One slot's state plus its share of a step's activations."""

    def prefill_bytes(self, prompt_tokens: int) -> int:
        """Activations of prefilling a prompt beside the slots."""
