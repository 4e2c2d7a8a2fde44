"""Hydra multirun: one directory per job, sharding, kill + rerun of a sweep."""

import os
import signal
import subprocess
import time

from conftest import ROOT, harness_cmd

from harness.report import find_run_dirs, merge_shards, read_runs
from harness.store import read_jsonl, read_run

TINY = ["debug=tiny", "budget=1s", "data.limit=4"]
# Overrides that change what is measured are part of a job's name (the debug profile shortens
# samples); data.limit and runner.* are not.
TAG = "_debug=tiny"


def sweep(sweep_dir, *overrides, launcher="local", timeout=400):
    cmd = harness_cmd("-m", f"hydra/launcher={launcher}", f"hydra.sweep.dir={sweep_dir}", *TINY, *overrides)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=os.environ.copy())


def texts_by_problem(run_dir):
    _, _, trajectories = read_run(run_dir)
    return {pid: list(group.sort_values("sample_idx").text) for pid, group in trajectories.groupby("problem_id")}


def test_sharded_sweep_matches_the_unsharded_run(tmp_path, data_dir):
    """2 models x 2 shards through submitit's local launcher, each job its own process."""
    proc = sweep(tmp_path / "sweep", "model=tiny_llama,tiny_mamba", "data.shard=0/2,1/2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = sorted(p.name for p in (tmp_path / "sweep").iterdir() if (p / "run.json").exists())
    assert names == [f"gsm8k_{m}_1s_shard{i}of2{TAG}" for m in ("tiny_llama", "tiny_mamba") for i in (0, 1)]

    merged = merge_shards(read_runs(find_run_dirs([tmp_path / "sweep"])))
    assert sorted(r.config["model"]["name"] for r in merged) == ["tiny_llama", "tiny_mamba"]
    for run in merged:  # one curve per model, from both shards
        assert sorted(run.problems.problem_id) == [f"gsm8k/test/{i}" for i in range(4)]

    whole = sweep(tmp_path / "whole", "model=tiny_llama", launcher="basic")
    assert whole.returncode == 0, whole.stderr[-3000:]
    unsharded = texts_by_problem(tmp_path / "whole" / f"gsm8k_tiny_llama_1s{TAG}")
    sharded = {**texts_by_problem(tmp_path / "sweep" / f"gsm8k_tiny_llama_1s_shard0of2{TAG}"),
               **texts_by_problem(tmp_path / "sweep" / f"gsm8k_tiny_llama_1s_shard1of2{TAG}")}
    assert sorted(sharded) == sorted(unsharded) == [f"gsm8k/test/{i}" for i in range(4)]
    # Each problem is sampled from its own seeded stream, so a shard draws the same samples as
    # the unsharded run; only how many fit in the budget depends on the machine's speed.
    for pid, texts in unsharded.items():
        common = min(len(texts), len(sharded[pid]))
        assert common > 0 and texts[:common] == sharded[pid][:common]
    merged_llama = next(r for r in merged if r.config["model"]["name"] == "tiny_llama")
    whole_run = read_runs([tmp_path / "whole" / f"gsm8k_tiny_llama_1s{TAG}"])[0]
    for pid in unsharded:  # and grades the same samples the same way
        a = merged_llama.samples[merged_llama.samples.problem_id == pid].sort_values("sample_idx").correct.tolist()
        b = whole_run.samples[whole_run.samples.problem_id == pid].sort_values("sample_idx").correct.tolist()
        common = min(len(a), len(b))
        assert a[:common] == b[:common]


def test_killed_sweep_reruns_only_what_is_missing(tmp_path, data_dir):
    # The basic launcher runs jobs in this one process, so killing it kills the job mid-run
    # (submitit's job controllers are meant to outlive the launching process).
    sweep_dir = tmp_path / "sweep"
    cmd = harness_cmd("-m", "hydra/launcher=basic", f"hydra.sweep.dir={sweep_dir}", *TINY,
                      "model=tiny_llama", "data.shard=0/2,1/2")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first, second = (sweep_dir / f"gsm8k_tiny_llama_1s_shard{i}of2{TAG}" for i in (0, 1))
    deadline = time.time() + 120
    while time.time() < deadline and not read_jsonl(second / "trajectories.jsonl"):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert read_run(first)[0]["status"] == "done" and len(read_jsonl(second / "problems.jsonl")) < 2
    finished = {name: (first / name).read_bytes() for name in ("problems.jsonl", "trajectories.jsonl")}

    rerun = sweep(sweep_dir, "model=tiny_llama", "data.shard=0/2,1/2", launcher="basic")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert {name: (first / name).read_bytes() for name in finished} == finished  # not redone
    meta, problems, trajectories = read_run(second)
    assert meta["status"] == "done" and list(problems.problem_id) == ["gsm8k/test/1", "gsm8k/test/3"]
    assert not trajectories.duplicated(["problem_id", "sample_idx"]).any()


def test_a_sweep_over_a_measured_runner_key_runs_each_job_in_its_own_directory(tmp_path, data_dir):
    # The command (plus debug=tiny to keep it short): concurrency changes what is
    # measured, so it names the job directory; before, both jobs shared one and the second was
    # refused by the lock.
    proc = subprocess.run(harness_cmd("-m", "model=tiny_llama", "runner.concurrency=2,4", "budget=1s", "data.limit=2",
                                      "debug=tiny", f"hydra.sweep.dir={tmp_path}"),
                          cwd=ROOT, capture_output=True, text=True, timeout=400, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted(p.name for p in tmp_path.iterdir() if (p / "run.json").exists())
    assert runs == [f"gsm8k_tiny_llama_1s_debug=tiny,runner.concurrency={c}" for c in (2, 4)]
    for name, concurrency in zip(runs, (2, 4)):
        meta, problems, _ = read_run(tmp_path / name)
        assert meta["status"] == "done" and meta["concurrency"] == concurrency
        assert list(problems.problem_id) == ["gsm8k/test/0", "gsm8k/test/1"]
        assert set(problems.concurrency) == {concurrency}
