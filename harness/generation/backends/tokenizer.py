"""Tokenizers and chat prompts, the same for every backend."""

from __future__ import annotations

from typing import Any

from harness.config import ModelConfig

# Llama-3.x templates stamp today's date into the system header unless given one: pin it (to the
# template's own default) so a prompt never depends on the day it runs.
CHAT_TEMPLATE_KWARGS = {"date_string": "26 Jul 2024"}


def load_tokenizer(path: str, model: ModelConfig, **kwargs: Any):
    """The model's transformers tokenizer, with ``model.chat_template`` in place of its own if set."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    if model.chat_template:
        tokenizer.chat_template = model.chat_template
    return tokenizer


def render_chat_prompt(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of the chat-formatted prompt, ending where the assistant starts."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, **CHAT_TEMPLATE_KWARGS)
    # The template already holds BOS; adding special tokens again would double it.
    return tokenizer(text, add_special_tokens=False)["input_ids"]
