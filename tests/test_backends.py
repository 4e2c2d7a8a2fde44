"""What every backend shares: the registry and how concurrency is chosen."""

import pytest

from harness.config import ModelConfig, RunnerConfig
from harness.errors import UserError
from harness.generation.backends import backend_class
from harness.generation.backends.base import Backend


class Sized(Backend):
    def load(self): ...
    def render_prompt(self, messages): ...
    def capacity(self, prompt_tokens): ...
    def session(self, prompt_ids, concurrency): ...
    def reseed(self, seed): ...


@pytest.mark.parametrize("runner, fits, expected", [
    ({}, None, 8),                                   # CPU: cpu_concurrency
    ({"cpu_concurrency": 32}, None, 32),
    ({"concurrency": 3}, None, 3),                   # CPU: an explicit number is used as is
    ({}, 300, 300),                                  # GPU: as many as fit...
    ({}, 5000, 1024),                                # ...at most max_concurrency
    ({"concurrency": 256}, 300, 256),                # an explicit number caps it
    ({"concurrency": 256}, 100, 100),                # but never above what fits
    ({}, 0, 1),
])
def test_concurrency_is_as_many_as_fit_within_config(runner, fits, expected):
    backend = Sized(ModelConfig(name="m", path="p"), None, RunnerConfig(**runner), max_new_tokens=8, seed=0)
    assert backend.choose_concurrency(fits) == expected


def test_unknown_backend_names_the_valid_ones():
    with pytest.raises(UserError, match=r"unknown backend 'tensorrt': choose one of engine, hf, llamba, "
                                         r"mamba_in_llama, vllm \(model.backend=<name>\)"):
        backend_class("tensorrt")
