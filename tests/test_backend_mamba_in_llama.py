"""mamba_in_llama backend on tiny random MambaInLlama checkpoints (the pure-torch path on CPU; the kernel path
where CUDA is visible)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, assert_stop_string_cuts, drive, harness_cmd, naive_greedy

from harness.config import ModelConfig, RunnerConfig, SamplingConfig
from harness.errors import MissingPackage, UserError
from harness.generation.backends.mamba_in_llama import MambaInLlamaBackend
from harness.store import read_jsonl

MESSAGES = [{"role": "user", "content": "What is 12*3? Put the answer in \\boxed{}."}]


pytestmark = pytest.mark.usefixtures("one_thread")


def backend(name="tiny_hybrid", max_new_tokens=12, concurrency=4, options=None, device="auto",
            **sampling) -> MambaInLlamaBackend:
    b = MambaInLlamaBackend(ModelConfig(name=name, path=f"builtin:{name}", backend="mamba_in_llama", dtype="float32",
                                        device=device, options=options or {}),
                            SamplingConfig(**{"temperature": 0.0, **sampling}), RunnerConfig(concurrency=concurrency),
                            max_new_tokens, seed=0)
    b.load()
    return b


@pytest.mark.parametrize("name", ["tiny_hybrid", "tiny_pure_mamba"])
def test_greedy_slots_match_naive_full_forward_decoding(name):
    b = backend(name)
    prompt = b.render_prompt(MESSAGES)
    expected = naive_greedy(b, prompt)
    outputs = drive(b.session(prompt, 4), total=9, slots=4)
    assert [(o.text, o.n_tokens, o.finish_reason) for o in outputs] == [expected] * 9


def test_no_sample_lost_or_duplicated_when_many_finish_in_one_step():
    b = backend(max_new_tokens=4, concurrency=8, temperature=1.0)
    b.eos = set(range(0, len(b.tokenizer), 3))  # a third of the vocabulary ends a sample
    session = b.session(b.render_prompt(MESSAGES), 8)
    session.add(8)
    started, finished, most_at_once = 8, [], 0
    for _ in range(30):
        done = session.step()
        finished += done
        most_at_once = max(most_at_once, len(done))
        session.add(len(done))
        started += len(done)
        assert session.in_flight == 8
    in_flight_tokens = sum(len(s) for s in session.samples if s is not None)
    assert session.abort() + len(finished) == started
    assert most_at_once >= 4
    assert all(1 <= f.n_tokens <= 4 for f in finished) and {f.finish_reason for f in finished} == {"stop", "length"}
    assert session.tokens_generated == sum(f.n_tokens for f in finished) + in_flight_tokens
    assert session.in_flight == 0 and session.step() == []


def test_max_new_tokens_ends_with_length_and_stop_string_cuts():
    b = backend(max_new_tokens=5)
    b.eos = set()
    session = b.session(b.render_prompt(MESSAGES), 2)
    session.add(2)
    finished = [f for _ in range(5) for f in session.step()]
    assert [(f.n_tokens, f.finish_reason) for f in finished] == [(5, "length")] * 2
    assert session.in_flight == 0 and session.tokens_generated == 10

    b = backend(max_new_tokens=24)
    prompt = b.render_prompt(MESSAGES)
    assert_stop_string_cuts(b, prompt, naive_greedy(b, prompt)[0])


def test_slots_are_reused_across_problems_until_the_shape_changes():
    b = backend(options={"max_len_multiple": 32}, device="cpu")
    prompt = b.render_prompt(MESSAGES)
    first = b.session(prompt, 4).engine
    assert b.session(prompt + [5], 4).engine is first  # same slots, same (CUDA) graph
    assert b.session(prompt + [5] * 40, 4).engine is not first  # longer than the slots hold
    assert b.session(prompt, 2).engine.batch == 2
    assert b.max_concurrency(len(prompt)) == 4  # CPU: the configured concurrency
    info = b.describe()
    assert info["kernels"] == "torch reference" and info["mixer"] == "mamba1" and info["attn_layers"] == [1, 3]


def test_unknown_option_is_an_error():
    with pytest.raises(UserError, match="model.options gpu_mem unknown to backend=mamba_in_llama: valid keys are "
                                        ".*kernels, rope"):
        backend(options={"gpu_mem": 0.5})
    with pytest.raises(UserError, match="model.options.rope='llama3': use trained or plain"):
        backend(options={"rope": "llama3"})


@pytest.mark.skipif(importlib.util.find_spec("mamba_ssm") is not None, reason="mamba-ssm is installed")
def test_missing_mamba_ssm_is_a_one_line_install_hint():
    from harness.generation.models.mamba_kernels import load_kernels

    with pytest.raises(MissingPackage) as err:
        load_kernels()
    assert "pip install 'harness[mamba]'" in str(err.value) and "\n" not in str(err.value)


def test_bench_runs_its_logic_on_cpu_and_needs_cuda_by_default(capsys):
    spec = importlib.util.spec_from_file_location("mamba_models", ROOT / "bench" / "mamba_models.py")
    mamba_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mamba_models)
    assert mamba_models.main(["--tiny", "--device", "cpu", "--batches", "3", "--prompt", "6", "--new-tokens", "4"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    checks = [r for r in lines if r["bench"] == "check"]
    assert {r["model"] for r in checks} == {"hybrid-mamba1", "pure-mamba1", "hybrid-mamba2", "pure-mamba2", "llamba"}
    assert all(r["decode_vs_forward_max_abs"] < 1e-4 for r in checks)
    assert all(r["tokens_per_s"] > 0 for r in lines if r["bench"] == "decode")
    if not torch.cuda.is_available():
        proc = subprocess.run([sys.executable, "bench/mamba_models.py"], cwd=ROOT, capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 1 and len(proc.stdout.strip().splitlines()) == 1 and "CUDA" in proc.stdout


def test_rope_option_reaches_the_attention_layers():
    trained, plain = backend(), backend(options={"rope": "plain"})
    scaling = lambda b: [layer.self_attn.rope_scaling for layer in b.model.model.layers if layer.is_attention]
    assert all(s["rope_type"] == "llama3" for s in scaling(trained)) and scaling(plain) == [None, None]
    assert (trained.describe()["rope"], plain.describe()["rope"]) == ("trained", "plain")


def test_tiny_hybrid_end_to_end_and_a_run_recorded_with_the_old_backend_name_resumes(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    cmd = harness_cmd("debug=tiny", "model=tiny_hybrid", "budget=5s", "data.limit=2", f"hydra.run.dir={run_dir}")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180, env=os.environ.copy(),
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "done" and meta["backend"]["kernels"] == "torch reference"
    # read_jsonl, not splitlines(): sample texts may hold U+2028, which splitlines() splits on.
    problems = read_jsonl(run_dir / "problems.jsonl")
    assert len(problems) == 2 and all(p["gen_tokens"] > 0 for p in problems)
    trajectories = read_jsonl(run_dir / "trajectories.jsonl")
    assert all(t["t_end_s"] <= 5.0 and t["finish_reason"] in ("stop", "length") for t in trajectories)

    # The same run as recorded before ``mamba`` was renamed ``mamba_in_llama``, killed in its second problem.
    meta["config"]["model"]["backend"] = "mamba"
    meta.update(status="failed: interrupted", backend_choice={"backend": "mamba", "reason": "model.backend=mamba"})
    (run_dir / "run.json").write_text(json.dumps(meta))
    (run_dir / "problems.jsonl").write_text(json.dumps(problems[0]) + "\n")
    proc = subprocess.run([*cmd, f"run.resume={run_dir}"], cwd=ROOT, capture_output=True, text=True, timeout=180,
                          env=os.environ.copy(), check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "done" and meta["resumes"] == [{"done_before": 1}]
    assert meta["config"]["model"]["backend"] == meta["backend_choice"]["backend"] == "mamba_in_llama"
    assert [p["problem_id"] for p in read_jsonl(run_dir / "problems.jsonl")] == [p["problem_id"] for p in problems]
