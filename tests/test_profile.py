"""`python -m harness.profile` as a user runs it: one measurement per (concurrency, dtype), the figure
and its data. (Speed itself is never asserted: numbers are for benchmarks, side by side.)"""

import json
import subprocess
import sys

import pandas as pd
from conftest import ROOT


def profile(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "harness.profile", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_profile_measures_every_concurrency_and_dtype_and_draws_the_figure(tmp_path, data_dir):
    proc = profile("debug=tiny", "--concurrency", "1", "3", "--dtypes", "auto", "bfloat16", "--budget", "0.5",
                   "--problems", "1", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [(r["concurrency"], r["dtype_asked"]) for r in rows] == [(1, "auto"), (1, "bfloat16"), (3, "auto"),
                                                                    (3, "bfloat16")]
    for r in rows:
        assert r["backend"] == "hf" and r["backend_reason"] and r["dtype_reason"] and r["tokens_per_s"] > 0
        assert r["problems"] == 1 and r["samples"] + r["aborted"] >= r["concurrency"]
    assert {r["dtype"] for r in rows if r["dtype_asked"] == "bfloat16"} == {"bfloat16"}
    assert [r["tokens_per_s_vs_first"] for r in rows if r["dtype_asked"] == "auto"] == [1.0, 1.0]
    data = pd.read_csv(tmp_path / "throughput_profile.csv")
    assert list(data["tokens_per_s"]) == [r["tokens_per_s"] for r in rows]
    assert (tmp_path / "throughput_profile.png").stat().st_size > 0
    assert proc.stdout.strip().splitlines()[-1].startswith(f"profile: 4 measurements; figure {tmp_path}")


def test_profile_refuses_bad_input_in_one_line(tmp_path):
    proc = profile("debug=tiny", "--concurrency", "0", "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 2 and "must be positive" in proc.stderr.strip().splitlines()[-1]
    # data=arith needs no file: the model's error shows where no benchmark data is installed too.
    proc = profile("debug=tiny", "data=arith", "model.path=/no/such/dir", "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: model.path='/no/such/dir' is neither a local directory nor "
                                                "a hub id (owner/name)"]
