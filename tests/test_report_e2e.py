"""As a user runs it: two tiny runs (a Transformer on hf, a hybrid on the slot engine), then the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, harness_cmd

from harness.analysis import cost
from harness.data import build_messages, load_problems
from harness.generation.backends.tokenizer import render_chat_prompt
from harness.generation.models import resolve
from harness.store import read_run

MODELS = {"tiny_llama": "hf", "tiny_hybrid": "mamba_in_llama"}


@pytest.fixture(scope="module")
def study(tmp_path_factory, data_dir) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("study")
    printed = {}
    for model in MODELS:
        # Flexible extraction: random tiny models state no answers, and the time to match needs some right.
        proc = subprocess.run(harness_cmd("debug=tiny", f"model={model}", "runner.extraction=flexible",
                                          f"hydra.run.dir={root / model}"), cwd=ROOT,
                              capture_output=True, text=True, timeout=300, env=os.environ.copy())
        assert proc.returncode == 0, proc.stderr[-2000:]
        printed[model] = proc.stdout.strip().splitlines()[-1]
    return root, printed


@pytest.mark.parametrize("model", MODELS)
def test_a_run_records_its_shape_prompt_lengths_and_answer_rates(model, study) -> None:
    root, printed = study
    meta, problems, samples = read_run(root / model)
    assert meta["model_shape"] == cost.read_model_shape(resolve(f"builtin:{model}"))
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve(f"builtin:{model}"))
    want = [len(render_chat_prompt(tokenizer, build_messages(p, meta["config"]["prompt"])))
            for p in load_problems(meta["config"]["data"])]
    assert list(problems["prompt_tokens"]) == want
    # The closing summary, as printed and as stored, carries the answer rate and the share cut short.
    answered = round(float(samples["pred"].notna().mean()), 4)
    cut = round(float((samples["finish_reason"] == "length").mean()), 4)
    assert meta["summary"]["answer_rate"] == answered and meta["summary"]["truncated_rate"] == cut
    assert f"truncated_rate={cut}  answer_rate={answered}" in printed[model]


def test_the_report_draws_every_axis_and_prints_the_time_to_match(study, tmp_path: Path) -> None:
    root, _ = study
    out = tmp_path / "plots"
    proc = subprocess.run([sys.executable, "-m", "harness.report", str(root), "--out", str(out),
                           "--x", "time", "tokens", "flops", "bytes"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    for axis in ("time", "tokens", "flops", "bytes", "samples"):
        frame = pd.read_csv(out / f"gsm8k_vs_{axis}.csv")
        assert set(frame.label) == {"tiny_llama (hf)", "tiny_hybrid (mamba_in_llama)"}
        assert (out / f"gsm8k_vs_{axis}.png").exists()
    # Default reference: the Transformer; its own row matches itself at speed-up 1.
    assert "### Time to match on GSM8K: tiny_llama (hf) at 2 s" in proc.stdout
    table = pd.read_csv(out / "summary.csv")
    own = table[(table.label == "tiny_llama (hf)") & (table.method == "coverage") & table.speedup.notna()]
    assert own.speedup.tolist() == [1.0]
    assert "speed classes (optimized: tiny_hybrid (mamba_in_llama); plain: tiny_llama (hf))" in proc.stderr
    # The analytic costs per token: the summary's numbers are those of harness.analysis.cost on the records.
    meta, problems, samples = read_run(root / "tiny_llama")
    prompt = samples.problem_id.map(problems.set_index("problem_id").prompt_tokens)
    flops = cost.sample_flops(meta["model_shape"], prompt, samples.n_tokens).sum() / samples.n_tokens.sum()
    speed = pd.read_csv(out / "throughput.csv").set_index("label")
    assert speed.loc["tiny_llama (hf)", "flops_per_token"] == pytest.approx(flops)
    assert json.loads((root / "tiny_hybrid" / "run.json").read_text())["model_shape"]["arch"] == "mamba_in_llama"
