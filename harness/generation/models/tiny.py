"""Tiny random models built locally for tests and CI: a few MB, no download, outputs are noise.

They share one small byte-level BPE tokenizer trained here on a fixed text, with Llama-3 style
special tokens and chat template, so prompts are rendered the way the real models render them.
"""

from __future__ import annotations

from pathlib import Path

import torch

# Llama-3's chat template, reduced to what a one- or two-turn prompt needs.
LLAMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
_CORPUS = [
    "Solve the following math problem efficiently and clearly. Think step by step before answering.",
    "Therefore, the final answer is: $\\boxed{42}$. I hope it is correct.",
    "Janet sells 16 - 3 - 4 = 9 duck eggs a day. She makes 9 * 2 = $18 every day.",
    "We have that r = \\sqrt{0^2 + 3^2} = 3, and \\frac{\\pi}{2} is the angle. #### 18",
    "0123456789 + - * / = ( ) [ ] { } ^ _ , . ; : ! ? $ % x y z n",
]
TINY_VOCAB = 384


def make_tokenizer(out_dir: Path):
    """Train and save the shared tiny tokenizer; returns the PreTrainedTokenizerFast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=TINY_VOCAB, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(_CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
        pad_token="<|end_of_text|>", chat_template=LLAMA3_CHAT_TEMPLATE,
    )
    tokenizer.save_pretrained(out_dir)
    return tokenizer


def _save(model, tokenizer, out_dir: Path) -> None:
    from transformers.utils import logging as hf_logging

    # End-of-turn and end-of-text both end a sample, as for Llama-3-Instruct.
    model.generation_config.eos_token_id = [tokenizer.convert_tokens_to_ids(t) for t in ("<|eot_id|>", "<|end_of_text|>")]
    # Built on first use, often on the way to a one-line error: no progress bar on stderr.
    hf_logging.disable_progress_bar()
    model.save_pretrained(out_dir)


def build_tiny_llama(out_dir: Path, seed: int = 0) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = make_tokenizer(out_dir)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        # head_dim 32: vLLM's CPU attention has no kernel below 32.
        num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    _save(LlamaForCausalLM(config), tokenizer, out_dir)


def build_tiny_prm(out_dir: Path) -> None:
    """A random tiny Llama read as a process reward model (P("+") after each step, harness/reward/models.py):
    its scores are noise, for tests and the CPU demo of reward-model selection."""
    build_tiny_llama(out_dir, seed=1)


def build_tiny_mamba(out_dir: Path) -> None:
    from transformers import Mamba2Config, Mamba2ForCausalLM

    tokenizer = make_tokenizer(out_dir)
    torch.manual_seed(0)
    config = Mamba2Config(
        vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, state_size=16, expand=2,
        head_dim=16, num_heads=8, n_groups=1, conv_kernel=4, chunk_size=32,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    _save(Mamba2ForCausalLM(config), tokenizer, out_dir)
