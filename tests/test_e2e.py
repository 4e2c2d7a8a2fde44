"""`python -m harness` end to end on tiny local models: records, deadline, kill and resume."""

import importlib.util
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, harness_cmd

from harness.generation.devices import choose_dtype, cpu_flags
from harness.store import read_jsonl, read_run


# conf/debug/tiny.yaml: one thread, short samples, no progress bar (each test sets model and budget).
QUIET = ["debug=tiny"]


def run_harness(*overrides, timeout=180):
    return subprocess.run(harness_cmd(*overrides, *QUIET), cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=os.environ.copy())


@pytest.mark.parametrize("model", ["tiny_llama", "tiny_mamba"])
def test_tiny_run_writes_graded_records_within_the_budget(model, tmp_path, data_dir):
    run_dir = tmp_path / "run"
    proc = run_harness(f"model={model}", "budget=5s", "data=gsm8k", "data.limit=3", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta, problems, trajectories = read_run(run_dir)
    assert meta["status"] == "done" and meta["timings"]["load_s"] > 0 and meta["concurrency"] == 8
    assert list(problems.problem_id) == ["gsm8k/test/0", "gsm8k/test/1", "gsm8k/test/2"]
    assert (trajectories.t_end_s <= 5.0).all()
    counts = trajectories.groupby("problem_id").size().reindex(problems.problem_id, fill_value=0)
    assert list(problems.n_samples) == list(counts) and counts.sum() > 0
    for _, group in trajectories.groupby("problem_id"):
        assert sorted(group.sample_idx) == list(range(len(group)))
    assert trajectories.correct.notna().all()  # graded after the last problem
    # Random weights write noise, and noise states no answer (docs/grading.md): none can be correct.
    assert trajectories.pred.notna().mean() <= 0.02 and not trajectories.correct.any()
    assert "samples_per_s" in meta["summary"] and "majority" in meta["summary"]


@pytest.mark.parametrize("dataset, model, ids", [
    ("aime24", "tiny_llama", ["aime24/60", "aime24/61"]),
    ("aime25", "tiny_hybrid", ["aime25/0", "aime25/1"]),
    ("amc23", "tiny_llamba", ["amc23/0", "amc23/1"]),
])
def test_the_competition_sets_run_and_their_problem_ids_name_the_set(dataset, model, ids, tmp_path, data_dir):
    run_dir = tmp_path / "run"
    proc = run_harness(f"model={model}", f"data={dataset}", "budget=1s", "data.limit=2", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta, problems, trajectories = read_run(run_dir)
    assert meta["status"] == "done" and meta["config"]["data"]["max_new_tokens"] == 4096  # the set's default
    assert list(problems.problem_id) == ids and set(trajectories.problem_id) <= set(ids) and len(trajectories)
    assert trajectories.correct.notna().all() and "coverage" in meta["summary"]


def test_sigkill_mid_problem_then_resume_loses_and_duplicates_nothing(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    overrides = ["model=tiny_llama", "budget=2s", "data.limit=3", f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen(harness_cmd(*overrides, *QUIET), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    # Kill once problem 0 is done and problem 1 has samples on disk, i.e. mid-problem.
    while time.time() < deadline:
        done = read_jsonl(run_dir / "problems.jsonl")
        second = [t for t in read_jsonl(run_dir / "trajectories.jsonl") if t["problem_id"] == "gsm8k/test/1"]
        if len(done) == 1 and second:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [t for t in read_jsonl(run_dir / "trajectories.jsonl") if t["problem_id"] == "gsm8k/test/0"]
    assert len(done) == 1 and before

    resumed = run_harness(*overrides, f"run.resume={run_dir}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    meta, problems, trajectories = read_run(run_dir)
    assert meta["status"] == "done" and len(meta["resumes"]) == 1
    assert list(problems.problem_id) == ["gsm8k/test/0", "gsm8k/test/1", "gsm8k/test/2"]
    assert not trajectories.duplicated(["problem_id", "sample_idx"]).any()
    kept = trajectories[trajectories.problem_id == "gsm8k/test/0"]
    assert [(t["text"], t["t_end_s"]) for t in before] == list(zip(kept.text, kept.t_end_s))
    assert trajectories.correct.notna().all()


# data=arith needs no file: an error of another input shows where no benchmark data is installed too.
@pytest.mark.parametrize("overrides, message", [
    (["budget=abc"], "budget 'abc' is malformed"),
    (["budget=0"], "must be a positive"),
    (["data.dir=/nonexistent"], "make data"),
    (["data=arith", "data.shard=5/2"], "i/n"),
    pytest.param(["data=arith", "model.device=cuda"], "use model.device=cpu",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")),
])
def test_bad_input_is_a_one_line_error(overrides, message, tmp_path):
    proc = run_harness("model=tiny_llama", *overrides, f"hydra.run.dir={tmp_path / 'run'}", timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1]


def test_an_unknown_choice_fails_at_composition_naming_the_valid_ones(tmp_path):
    proc = run_harness("model=tiny_llama", "model.dtype=fp8", f"hydra.run.dir={tmp_path / 'run'}", timeout=60)
    assert proc.returncode == 1 and not (tmp_path / "run").exists()
    assert "Invalid value 'fp8', expected one of [auto, float32, bfloat16, float16]" in proc.stderr.splitlines()


def test_resume_of_a_directory_without_a_run_is_an_error(tmp_path):
    proc = run_harness("model=tiny_llama", f"run.resume={tmp_path / 'nothing'}", timeout=60)
    assert proc.returncode == 2 and "nothing to resume" in proc.stderr


def test_the_backend_choice_is_recorded_and_the_run_ends_with_its_report(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    proc = run_harness("model=tiny_llama", "model.backend=auto", "model.dtype=auto", "budget=1s", "data.limit=1",
                       "run.report=true", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    meta = read_run(run_dir)[0]
    assert meta["config"]["model"]["backend"] == "auto"  # what was asked stays in the config
    expected = ("vllm" if importlib.util.find_spec("vllm") else "engine") if torch.cuda.is_available() else "hf"
    assert meta["backend_choice"] == {"backend": expected, "reason": meta["backend_choice"]["reason"]}
    assert meta["backend_choice"]["reason"].startswith("auto: llama")
    dtype, reason = choose_dtype("auto", torch.cuda.is_available(), cpu_flags())
    assert (meta["backend"]["dtype"], meta["backend"]["dtype_reason"]) == (dtype, reason)
    figure = Path(proc.stdout.strip().splitlines()[-1].rsplit(" ", 1)[-1])
    assert figure.suffix == ".png" and figure.is_file() and figure.parent == run_dir / "report"
    # One model alone is its own reference: its report has no time-to-match table, printed or written.
    summary = (run_dir / "report" / "summary.md").read_text()
    assert "Time to match" not in summary and "Time to match" not in proc.stdout
    # Graded, then audited against Math-Verify off the clock: the agreement is in run.json and summary.md.
    audit = meta["audit"]
    assert audit["samples"] == len(read_run(run_dir)[2]) and (run_dir / "grader_audit.jsonl").is_file()
    assert f"{100 * audit['agreement']:.1f}% of {audit['samples']} samples graded alike by math-verify" in summary


def test_runner_audit_false_turns_the_audit_off(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    proc = run_harness("model=tiny_llama", "budget=1s", "data.limit=1", "runner.audit=false", "run.report=true",
                       f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert read_run(run_dir)[0]["audit"] is None and not (run_dir / "grader_audit.jsonl").exists()
    assert "not audited (runner.audit=false)" in (run_dir / "report" / "summary.md").read_text()


def test_prm_selection_scores_its_samples_in_the_same_job(tmp_path, data_dir):
    from harness.generation.models.tiny import build_tiny_prm

    prm = tmp_path / "prm"
    prm.mkdir()
    build_tiny_prm(prm)
    run_dir = tmp_path / "run"
    proc = run_harness("model=tiny_llama", "selection=prm", f"selection.reward.model={prm}", "budget=1s",
                       "data.limit=2", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert " rm_weighted=" in summary and " best_of_n=" in summary
    meta, _, trajectories = read_run(run_dir)
    assert len(trajectories) and trajectories.reward.between(0, 1).all() and (trajectories.reward_s > 0).all()
    assert meta["reward"] == {"model": str(prm), "kind": "prm", "aggregation": "min"}
    assert meta["timings"]["reward_scoring_s"] > 0 and "best_of_n" in meta["summary"]


@pytest.mark.parametrize("reward_model, message", [
    ("{tmp}/no_such_prm", "is neither a local directory nor a hub id"),
    ("no-org/no-such-prm", "neither in the HF cache"),  # offline, empty cache
])
def test_an_unloadable_reward_model_stops_the_run_before_it_generates(reward_model, message, tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(harness_cmd("selection=prm", f"selection.reward.model={reward_model.format(tmp=tmp_path)}",
                                      "data=arith", f"hydra.run.dir={run_dir}", *QUIET), cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and not (run_dir / "run.json").exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: selection.reward.model=") and message in lines[0]


def test_a_hub_model_that_cannot_be_had_fails_in_one_line_naming_the_fix(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(harness_cmd("model=llama_1b", "data=arith", f"hydra.run.dir={tmp_path / 'run'}"), cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2 and not (tmp_path / "run" / "run.json").exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for part in ("error: model.path=meta-llama/Llama-3.2-1B-Instruct", "neither in the HF cache", "nor reachable",
                 "accept the licence", "hf auth login", "huggingface-cli login", "model.path=/local/dir"):
        assert part in lines[0]


def test_a_run_resumes_only_on_the_backend_it_started_on(tmp_path, data_dir):
    # A run killed where auto picked vLLM (a GPU with vLLM), resumed here, where auto picks another.
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"status": "failed: interrupted",
                                                  "backend_choice": {"backend": "vllm", "reason": "auto: ..."}}))
    proc = run_harness("model=tiny_llama", "model.backend=auto", f"run.resume={run_dir}", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: cannot resume {run_dir}: it ran on backend vllm")
