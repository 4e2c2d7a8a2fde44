"""Shared fixtures: data from $HARNESS_DATA_DIR (CI: ../shared/data), tiny models built locally."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
_shared = ROOT.parent / "shared" / "data"
if "HARNESS_DATA_DIR" not in os.environ and _shared.is_dir():
    os.environ["HARNESS_DATA_DIR"] = str(_shared)
# Our Triton kernels run on CPU in Triton's interpreter; it must be chosen before triton is imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


def module_name(path: Path) -> str:
    """The dotted name a project file imports as (a package by its ``__init__.py``)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = os.environ.get("HARNESS_DATA_DIR")
    if not path or not (Path(path) / "gsm8k" / "test.jsonl").exists():
        pytest.skip("benchmark data not found: set HARNESS_DATA_DIR (CI uses ../shared/data)")
    return Path(path)


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """Tiny models are built once per test session into a private cache, never downloaded."""
    cache = tmp_path_factory.mktemp("model-cache")
    os.environ["HARNESS_CACHE_DIR"] = str(cache)
    return cache


@pytest.fixture(autouse=True)
def registries_as_found():
    """A test that imports a plugin (tests/my_plugin.py, through a run's config) leaves the
    registries as it found them: its entries go, and the module, so the next test imports it again."""
    from harness.analysis.methods import METHODS
    from harness.data import DATASETS
    from harness.generation.backends import BACKENDS

    registries = [(registry, set(registry)) for registry in (DATASETS, METHODS, BACKENDS)]
    modules = set(sys.modules)
    yield
    for registry, names in registries:
        for name in set(registry) - names:
            registry.unregister(name)
    for name in set(sys.modules) - modules:
        if name.endswith("_plugin"):
            del sys.modules[name]


def harness_cmd(*overrides: str) -> list[str]:
    return [sys.executable, "-m", "harness", *overrides]


@pytest.fixture
def one_thread():
    """Tiny models are all per-op overhead; a second thread only adds contention on shared CPUs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def drive(session, total: int, slots: int, stagger_at: int = 3) -> list:
    """Start two samples, two more at step ``stagger_at``, refill every finished slot until
    ``total`` samples have started; return every finished one."""
    outputs, steps, started = [], 0, 2
    session.add(2)
    while session.in_flight:
        finished = session.step()
        steps += 1
        outputs += finished
        if steps == stagger_at:
            session.add(2)
            started += 2
        refill = min(len(finished), total - started, slots - session.in_flight)
        if refill > 0:
            session.add(refill)
            started += refill
    return outputs


@torch.inference_mode()
def naive_greedy(backend, prompt: list[int]) -> tuple[str, int, str]:
    """Greedy decoding of a slot-engine backend's model by recomputing the full forward for every
    token: no state, no slots."""
    ids, out = list(prompt), []
    while len(out) < backend.max_new_tokens:
        token = int(backend.model(torch.tensor([ids], device=backend.device))[0, -1].argmax())
        ids.append(token)
        out.append(token)
        if token in backend.eos:
            return backend.stop.finalize(out), len(out), "stop"
    return backend.stop.finalize(out), len(out), "length"


def assert_stop_string_cuts(backend, prompt: list[int], text: str) -> None:
    """With a stop string from the middle of ``text`` (the sample's greedy text), one sample ends
    on it with finish reason "stop" and is cut just before it."""
    stop = text[len(text) // 2: len(text) // 2 + 2]
    backend.stop = type(backend.stop)(backend.tokenizer, [stop])
    session = backend.session(prompt, 1)
    session.add(1)
    finished = []
    while session.in_flight:
        finished += session.step()
    assert finished[0].finish_reason == "stop" and finished[0].text == text[: text.find(stop)]


@pytest.fixture
def split_k():
    """The Triton split-K decode attention (without CUDA, run by Triton's interpreter)."""
    pytest.importorskip("triton", reason="needs Triton (pip install triton)")
    from harness.generation.kernels.decode_attention import attend_split_k

    return attend_split_k


@pytest.fixture
def nucleus():
    """The Triton top-p threshold search (without CUDA, run by Triton's interpreter)."""
    pytest.importorskip("triton", reason="needs Triton (pip install triton)")
    from harness.generation.kernels.top_p import nucleus_threshold

    return nucleus_threshold
