"""The Python API (harness/api.py, docs/api.md) as a notebook or a plain script uses it: jobs run
with the command line's overrides, the command's one-line errors raised, and runs loaded as the
frames the report draws and writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

# A plain script, no main guard (the runner's workers must not re-import it), as a notebook cell would be.
SCRIPT = r'''
import json, sys
from pathlib import Path

import harness
from harness.ops.runlock import hold

root, out = Path(sys.argv[1]), Path(sys.argv[2])
tiny = ["debug=tiny", "data=arith", "data.limit=2", "budget=1s", "runner.extraction=flexible"]
jobs = [harness.run(*tiny, f"model={model}", f"hydra.run.dir={root / model}", report=report)
        for model, report in (("tiny_llama", True), ("tiny_mamba", None))]
print("RESULT", json.dumps({"dirs": [str(j.dir) for j in jobs], "figures": [str(j.figure) for j in jobs],
                  "summaries": [j.summary for j in jobs], "line": str(jobs[0])}))

runs = harness.load(root)
print("RESULT", json.dumps({"labels": [r.label for r in runs], "repr": repr(runs)}))
frames = {"arith_vs_time": runs.curves("time"), "arith_vs_samples": runs.curves("k"), "summary": runs.summary(),
          "throughput": runs.throughput(), "match": runs.time_to_match(), "samples": runs.samples}
pd = __import__("pandas")
pd.to_pickle(frames, out / "frames.pkl")
runs.report(out / "report")  # prints the time-to-match table, as python -m harness.report does

errors = {}
for name, overrides in (("budget", ["budget=abc"]), ("choice", ["model=nope"]), ("enum", ["model.dtype=fp8"]),
                        ("sweep", ["-m", "budget=1s,2s"])):
    try:
        harness.run(*tiny, *overrides, f"hydra.run.dir={root / name}")
    except harness.UserError as err:
        errors[name] = [type(err).__name__, str(err)]
with hold(root / "held"):
    try:
        harness.run(*tiny, f"hydra.run.dir={root / 'held'}")
    except harness.UserError as err:
        errors["held"] = [type(err).__name__, str(err)]
print("RESULT", json.dumps(errors))
'''


@pytest.fixture(scope="module")
def notebook(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("api")
    script = root / "notebook.py"
    script.write_text(SCRIPT)
    (root / "out").mkdir()
    proc = subprocess.run([sys.executable, str(script), str(root / "runs"), str(root / "out")], cwd=root,
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs, loaded, errors = (json.loads(line[7:]) for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return root, jobs, loaded, errors


def test_a_script_runs_jobs_as_the_command_does(notebook):
    root, jobs, _, _ = notebook
    runs = root / "runs"
    assert jobs["dirs"] == [str(runs / "tiny_llama"), str(runs / "tiny_mamba")]
    for run_dir, summary in zip(jobs["dirs"], jobs["summaries"]):
        meta = json.loads((Path(run_dir) / "run.json").read_text())
        assert meta["status"] == "done" and meta["summary"] == summary
        assert meta["config"]["data"]["name"] == "arith" and meta["config"]["budget"] == "1s"
        assert (Path(run_dir) / ".hydra" / "overrides.yaml").is_file()  # as Hydra's command writes it
    # report=True wrote the first run's report (debug=tiny turns it off); the second left it to the config.
    assert jobs["figures"] == [str(runs / "tiny_llama" / "report" / "arith_vs_time.png"), "None"]
    assert Path(jobs["figures"][0]).is_file() and not (runs / "tiny_mamba" / "report").exists()
    assert jobs["line"].startswith(f"{runs / 'tiny_llama'}: problems=2  samples=")


@pytest.mark.parametrize("frame, csv", [
    ("arith_vs_time", "arith_vs_time.csv"),
    ("arith_vs_samples", "arith_vs_samples.csv"),
    ("summary", "summary.csv"),
    ("throughput", "throughput.csv"),
])
def test_the_loaded_frames_are_the_reports_csvs(notebook, frame, csv):
    root = notebook[0]
    got = pd.read_pickle(root / "out" / "frames.pkl")[frame]
    if "dataset" in got and frame.startswith("arith_vs"):
        assert set(got["dataset"]) == {"arith"}
        got = got.drop(columns="dataset")
    written = pd.read_csv(root / "out" / "report" / csv)
    assert len(got) > 0
    pd.testing.assert_frame_equal(got.reset_index(drop=True), written, check_dtype=False)


def test_runs_carry_labels_samples_and_the_time_to_match(notebook):
    root, jobs, loaded, _ = notebook
    assert loaded["labels"] == ["tiny_llama (hf)", "tiny_mamba (hf)"]
    assert loaded["repr"] == "Runs(tiny_llama (hf) [arith], tiny_mamba (hf) [arith])"
    frames = pd.read_pickle(root / "out" / "frames.pkl")
    samples = frames["samples"]
    assert len(samples) == sum(s["samples"] for s in jobs["summaries"])
    assert set(samples["problem_id"]) == {"arith/0", "arith/1"} and set(samples["label"]) == set(loaded["labels"])
    assert set(frames["match"]["label"]) == set(loaded["labels"])  # two models: each against the reference


@pytest.mark.parametrize("case, kind, message", [
    ("budget", "BudgetError", "budget 'abc' is malformed"),
    ("choice", "UserError", "unknown model 'nope': choose one of"),
    ("enum", "ConfigError", "Invalid value 'fp8', expected one of [auto, float32, bfloat16, float16]"),
    ("sweep", "UserError", "harness.run runs one job"),
    ("held", "RunLocked", "is already being written by"),
])
def test_bad_input_raises_the_commands_one_line_error(notebook, case, kind, message):
    root, _, _, errors = notebook
    got_kind, got = errors[case]
    assert got_kind == kind and message in got and "\n" not in got
    assert not (root / "runs" / case / "run.json").exists()


def test_import_harness_stays_light():
    code = ("import sys, harness; before = 'torch' in sys.modules or 'pandas' in sys.modules; "
            "api = (harness.run, harness.load, harness.Runs, harness.UserError); "
            "print(before, 'torch' in sys.modules, sorted(set(dir(harness)) & {'run', 'load', 'Job', 'Runs'}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(maxsplit=2) == ["False", "False", "['Job', 'Runs', 'load', 'run']\n"]
