"""llamba backend on the tiny random Llamba (the pure-torch path on CPU), on the slot engine as the
hybrids run; the released configs from the command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, drive, harness_cmd, naive_greedy

from harness.config import ModelConfig, RunnerConfig, SamplingConfig
from harness.errors import UserError
from harness.generation.backends.llamba import LlambaBackend
from harness.generation.models import resolve
from harness.store import read_jsonl

MESSAGES = [{"role": "user", "content": "What is 12*3? Put the answer in \\boxed{}."}]

pytestmark = pytest.mark.usefixtures("one_thread")


def backend(path="builtin:tiny_llamba", tokenizer="builtin:tiny_llama", max_new_tokens=12,
            concurrency=4) -> LlambaBackend:
    b = LlambaBackend(ModelConfig(name="tiny_llamba", path=path, tokenizer=tokenizer, backend="llamba",
                                  dtype="float32", device="cpu"),
                      SamplingConfig(temperature=0.0), RunnerConfig(concurrency=concurrency), max_new_tokens, seed=0)
    b.load()
    return b


def test_greedy_slots_match_naive_full_forward_decoding():
    b = backend()
    prompt = b.render_prompt(MESSAGES)
    expected = naive_greedy(b, prompt)
    outputs = drive(b.session(prompt, 4), total=9, slots=4)
    assert [(o.text, o.n_tokens, o.finish_reason) for o in outputs] == [expected] * 9
    info = b.describe()
    assert (info["kernels"], info["mixer"], info["attention"]) == ("torch reference", "discrete_mamba2", "none")


def test_the_tokenizer_and_end_of_sample_come_from_model_tokenizer(tmp_path):
    b = backend()
    teacher = Path(resolve("builtin:tiny_llama"))
    eos = json.loads((teacher / "generation_config.json").read_text())["eos_token_id"]
    assert b.eos == set(eos) and b.tokenizer_dir is not None and b.model.vocab_size == len(b.tokenizer)
    # A Llamba directory holding a tokenizer of its own serves without model.tokenizer.
    local = tmp_path / "llamba"
    shutil.copytree(resolve("builtin:tiny_llamba"), local)
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(teacher / name, local)
    assert backend(path=str(local), tokenizer=None).eos == set(eos)


def test_a_llamba_without_a_tokenizer_is_a_one_line_error_naming_the_fix():
    with pytest.raises(UserError, match="has no tokenizer .*: set model.tokenizer to its teacher's") as err:
        backend(tokenizer=None)
    assert "\n" not in str(err.value)


def test_tiny_llamba_end_to_end_on_auto(tmp_path, data_dir):
    """The issue's command, with the backend left to model.backend=auto."""
    run_dir = tmp_path / "run"
    proc = subprocess.run(harness_cmd("model=tiny_llamba", "budget=2s", "data.limit=2", "model.backend=auto",
                                      "runner.threads=1", "runner.progress=false", "run.report=false",
                                      f"hydra.run.dir={run_dir}"),
                          cwd=ROOT, capture_output=True, text=True, timeout=180, env=os.environ.copy(), check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "done" and meta["backend_choice"]["backend"] == "llamba"
    assert meta["backend"]["kernels"] == "torch reference" and meta["model_shape"]["arch"] == "llamba"
    problems = read_jsonl(run_dir / "problems.jsonl")
    assert len(problems) == 2 and sum(p["n_samples"] for p in problems) > 0
    trajectories = read_jsonl(run_dir / "trajectories.jsonl")
    assert all(t["t_end_s"] <= 2.0 and t["finish_reason"] in ("stop", "length") for t in trajectories)


@pytest.mark.parametrize("overrides, message", [
    (["model=llamba_1b"], "error: model.path=cartesia-ai/Llamba-1B: neither in the HF cache"),
    (["model=llamba_3b"], "error: model.path=cartesia-ai/Llamba-3B: neither in the HF cache"),
    (["model=llamba_8b"], "error: model.path=cartesia-ai/Llamba-8B: neither in the HF cache"),
    (["model=llama_8b"], "error: model.path=meta-llama/Llama-3.1-8B-Instruct: neither in the HF cache"),
    (["model=tiny_llamba", "model.backend=hf"],
     "error: model.backend=hf cannot run this model (llamba; Llamba checkpoints run on llamba only): "
     "use model.backend=llamba"),
])
def test_released_configs_compose_and_fail_at_start_in_one_line_without_the_hub(tmp_path, overrides, message):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}  # an empty HF cache
    # data=arith needs no file: the model's error shows where no benchmark data is installed too.
    proc = subprocess.run(harness_cmd(*overrides, "data=arith", f"hydra.run.dir={tmp_path / 'run'}"), cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith(message), proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "run" / "run.json").exists()
