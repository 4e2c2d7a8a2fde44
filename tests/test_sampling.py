import pytest
import torch

from harness.generation.engine.sampling import SamplingParams, sample_tokens

LOGITS = torch.log(torch.tensor([[0.6, 0.3, 0.1]]))


def draws(**cfg):
    generator = torch.Generator().manual_seed(0)
    return set(sample_tokens(LOGITS.repeat(2000, 1), SamplingParams(**cfg), generator).tolist())


@pytest.mark.parametrize("cfg, allowed", [
    ({"temperature": 0.0}, {0}),
    ({"temperature": 1.0, "top_p": 1.0}, {0, 1, 2}),
    ({"temperature": 1.0, "top_p": 0.5}, {0}),
    ({"temperature": 1.0, "top_p": 0.7}, {0, 1}),
    ({"temperature": 1.0, "top_p": 1.0, "top_k": 2}, {0, 1}),
    ({"temperature": 5.0, "top_p": 1.0, "top_k": 1}, {0}),
])
def test_support_of_the_sampling_distribution(cfg, allowed):
    assert draws(**cfg) == allowed


def test_temperature_flattens_the_distribution():
    generator = torch.Generator().manual_seed(0)
    hot = sample_tokens(LOGITS.repeat(4000, 1), SamplingParams(temperature=3.0, top_p=1.0), generator)
    assert 0.25 < (hot == 2).float().mean().item() < 0.35  # 0.1^(1/3) renormalised ≈ 0.29
