"""HF backend: slots refilled from the saved prompt state decode exactly like fresh prompts."""

import pytest
import torch
from conftest import assert_stop_string_cuts, drive

from harness.config import ModelConfig, RunnerConfig, SamplingConfig
from harness.generation.backends.hf import HFBackend

MESSAGES = [{"role": "user", "content": "What is 12*3? Put the answer in \\boxed{}."}]


def backend(name, max_new_tokens=24, **sampling):
    b = HFBackend(ModelConfig(name=name, path=f"builtin:{name}", dtype="float32"),
                  SamplingConfig(**{"temperature": 0.0, **sampling}), RunnerConfig(concurrency=4), max_new_tokens, seed=0)
    b.load()
    return b


def reference(b, prompt_ids):
    out = b.model.generate(torch.tensor([prompt_ids], device=b.device), max_new_tokens=b.max_new_tokens, do_sample=False,
                           eos_token_id=sorted(b.eos), pad_token_id=b.tokenizer.pad_token_id)
    return b.tokenizer.decode(out[0, len(prompt_ids):], skip_special_tokens=True)


@pytest.mark.parametrize("name", ["tiny_llama", "tiny_mamba"])
def test_refilled_slots_match_a_fresh_greedy_decode(name):
    b = backend(name)
    prompt = b.render_prompt(MESSAGES)
    expected = reference(b, prompt)
    outputs = drive(b.session(prompt, 4), total=10, slots=4)
    assert len(outputs) == 10
    assert all(o.text == expected for o in outputs)


def test_cache_compaction_keeps_outputs_exact():
    # Short samples and many refills grow the cache with dead columns until it compacts.
    b = backend("tiny_llama", max_new_tokens=6)
    prompt = b.render_prompt(MESSAGES)
    expected = reference(b, prompt)
    session = b.session(prompt, 4)
    outputs = drive(session, total=200, slots=4)
    assert all(o.text == expected for o in outputs) and len(outputs) == 200
    assert session.valid.shape[1] < len(prompt) + 200  # it compacted


def test_max_new_tokens_ends_with_length():
    b = backend("tiny_llama", max_new_tokens=5)
    b.eos = set()
    session = b.session(b.render_prompt(MESSAGES), 2)
    session.add(2)
    finished = [f for _ in range(5) for f in session.step()]
    assert [(f.n_tokens, f.finish_reason) for f in finished] == [(5, "length")] * 2
    assert session.in_flight == 0 and session.tokens_generated == 10


def test_stop_string_ends_the_sample_and_is_cut():
    b = backend("tiny_llama", max_new_tokens=24)
    prompt = b.render_prompt(MESSAGES)
    assert_stop_string_cuts(b, prompt, reference(b, prompt))


def test_sampling_is_reproducible_per_seed():
    b = backend("tiny_llama", temperature=1.0, top_p=0.9)
    prompt = b.render_prompt(MESSAGES)

    def texts(seed):
        b.reseed(seed)
        session = b.session(prompt, 4)
        return [o.text for o in drive(session, total=6, slots=4)]

    assert texts(1) == texts(1)
    assert texts(1) != texts(2)


def test_abort_drops_everything_in_flight():
    b = backend("tiny_llama")
    session = b.session(b.render_prompt(MESSAGES), 4)
    session.add(3)
    session.step()
    assert session.abort() == 3 and session.in_flight == 0
