"""Noise must not yield answers: random tokens of the tiny models' tokenizer, read as solutions.

A tiny random model (model=tiny_llama) samples close to uniformly from a vocabulary trained on
math prompts ("Therefore, the final answer is: $\\boxed{42}$", "#### 18"), so its output is
these tokens in random order; tests/test_e2e.py checks a real run of it the same way.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from harness.generation.models.tiny import make_tokenizer
from harness.grading import extract_answer

SAMPLES = 1000


@pytest.fixture(scope="module")
def noise(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    tokenizer = make_tokenizer(Path(tmp_path_factory.mktemp("tokenizer")))
    ids = [i for i in range(len(tokenizer)) if i not in set(tokenizer.all_special_ids)]
    rng = random.Random(0)
    return [tokenizer.decode([rng.choice(ids) for _ in range(rng.randint(1, 300))]) for _ in range(SAMPLES)]


@pytest.mark.parametrize("dataset", ["gsm8k", "math"])
def test_noise_states_almost_no_answers(noise: list[str], dataset: str) -> None:
    answers = [a for a in (extract_answer(text, dataset) for text in noise) if a is not None]
    assert len(answers) / SAMPLES <= 0.005, answers
    # What flexible extraction reads in the same noise: the reason it is not the default.
    flexible = sum(extract_answer(text, dataset, "flexible") is not None for text in noise)
    assert flexible / SAMPLES > 0.5
