"""SLURM for real: a one-node cluster (tools/slurm/cluster.sh, brought up by `make test-slurm`).

Sweeps go through Hydra's submitit launcher as a user sends them; jobs are preempted and reach
their time limit, are requeued and resume their run directories; a rerun of a finished sweep
submits nothing; `python -m harness.status` reports every job. Without a cluster these tests
skip, except under `make test-slurm` (HARNESS_REQUIRE_SLURM=1), where that is a failure.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, harness_cmd

from harness.ops.runlock import holder
from harness.report import find_run_dirs, merge_shards, read_runs
from harness.store import read_jsonl, read_run

pytestmark = pytest.mark.slurm

REQUIRED = os.environ.get("HARNESS_REQUIRE_SLURM") == "1"
# One CPU and one of the node's two GPUs per job (slurm.yaml's default), so two jobs run at once;
# the sweep command looks at the queue every second.
LAUNCH = ["-m", "hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
          "hydra.launcher.timeout_min=5", "hydra.launcher.poll_s=1"]
QUIET = ["runner.threads=1", "runner.progress=false", "sampling.max_new_tokens=24"]
TINY = ["budget=1s", "data.limit=4", *QUIET]
TAG = "_runner.threads=1,sampling.max_new_tokens=24"
TIME_LIMIT_PROBLEMS = 33


def _fail_or_skip(reason):
    if REQUIRED:
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster():
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30).stdout.split()
    except FileNotFoundError:
        states = ["no sinfo"]
    if not {"idle", "mixed", "allocated"} & set(states):
        _fail_or_skip(f"no SLURM cluster here (sinfo: {' '.join(states) or 'nothing'}): "
                      "`make test-slurm` starts one (as root, on Debian)")
    data = os.environ.get("HARNESS_DATA_DIR")
    if not data or not (Path(data) / "gsm8k" / "test.jsonl").exists():
        _fail_or_skip("benchmark data not found: set HARNESS_DATA_DIR (CI uses ../shared/data)")


def sweep_cmd(sweep_dir, *overrides):
    return harness_cmd(*LAUNCH, f"hydra.sweep.dir={sweep_dir}", *overrides)


def run(cmd, timeout=300):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def scontrol(*args):
    return subprocess.run(["scontrol", *args], capture_output=True, text=True, timeout=30, check=True).stdout


def job_info(job_id):
    """`scontrol show job` as a dict (JobState, Restarts, RunTime, TimeLimit...)."""
    return dict(field.split("=", 1) for field in scontrol("show", "job", "-o", job_id).split() if "=" in field)


def seconds(runtime):
    parts = [int(p) for p in runtime.replace("-", ":").split(":")]
    return sum(p * 60**i for i, p in enumerate(reversed(parts)))


def wait_for(condition, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def manifest(sweep_dir):
    path = sweep_dir / "slurm_jobs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def status(path, *args):
    proc = run([sys.executable, "-m", "harness.status", str(path), *args], timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def status_json(path):
    return {job["name"]: job for job in map(json.loads, status(path, "--json").splitlines())}


def texts_by_problem(run_dir):
    _, _, trajectories = read_run(run_dir)
    return {pid: list(group.sort_values("sample_idx").text) for pid, group in trajectories.groupby("problem_id")}


def mid_problem(run_dir):
    """At least one problem finished and samples of another on disk."""
    done = {p["problem_id"] for p in read_jsonl(run_dir / "problems.jsonl")}
    return bool(done) and any(t["problem_id"] not in done for t in read_jsonl(run_dir / "trajectories.jsonl"))


def assert_complete_without_duplicates(run_dir, n_problems):
    meta, problems, trajectories = read_run(run_dir)
    assert meta["status"] == "done"
    assert sorted(problems.problem_id) == sorted(f"gsm8k/test/{i}" for i in range(n_problems))
    assert not trajectories.duplicated(["problem_id", "sample_idx"]).any()
    counts = trajectories.groupby("problem_id").size().reindex(problems.problem_id, fill_value=0)
    assert list(counts) == list(problems.n_samples)
    for _, group in trajectories.groupby("problem_id"):
        assert sorted(group.sample_idx) == list(range(len(group)))
    return meta, problems, trajectories


# ---------------------------------------------------------------- a sharded sweep


@pytest.fixture(scope="module")
def study(cluster, tmp_path_factory):
    """2 models x 2 shards on SLURM; meanwhile the unsharded run of one model, locally."""
    root = tmp_path_factory.mktemp("study")
    whole = subprocess.Popen(harness_cmd("-m", "hydra/launcher=basic", f"hydra.sweep.dir={root / 'whole'}", *TINY,
                                         "model=tiny_llama"), cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    cmd = sweep_cmd(root / "sweep", *TINY, "model=tiny_llama,tiny_mamba", "data.shard=0/2,1/2")
    proc = run(cmd)
    assert whole.wait(timeout=300) == 0, whole.stderr.read()[-3000:]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root / "sweep", root / "whole" / f"gsm8k_tiny_llama_1s{TAG}", cmd


def test_a_sharded_sweep_on_slurm_merges_into_the_unsharded_run(study, tmp_path):
    sweep_dir, whole, _ = study
    names = [f"gsm8k_{m}_1s_shard{i}of2{TAG}" for m in ("tiny_llama", "tiny_mamba") for i in (0, 1)]
    [submission] = manifest(sweep_dir)
    assert [job["run_dir"] for job in submission["jobs"]] == names
    array = submission["jobs"][0]["job_id"].split("_")[0]
    assert [job["job_id"] for job in submission["jobs"]] == [f"{array}_{i}" for i in range(4)]  # one array
    gpus = set()
    for i, name in enumerate(names):
        facts = read_run(sweep_dir / name)[0]["slurm"]
        assert (facts["array_job_id"], facts["array_task_id"]) == (array, str(i))
        assert facts["node"] == socket.gethostname().split(".")[0] and facts["restart_count"] == 0
        assert facts["cuda_visible_devices"] == facts["gpus"]  # the job kept the GPU SLURM gave it
        gpus.add(facts["gpus"])
    assert gpus == {"0", "1"}  # two jobs at a time, each on its own GPU

    report = run([sys.executable, "-m", "harness.report", str(sweep_dir), "--out", str(tmp_path / "plots")])
    assert report.returncode == 0, report.stderr
    rows = pd.read_csv(tmp_path / "plots" / "summary.csv")  # fields may hold commas (quoted)
    assert set(zip(rows["model"], rows["n_problems"])) == {("tiny_llama", 4), ("tiny_mamba", 4)}

    merged = {r.config["model"]["name"]: r for r in merge_shards(read_runs(find_run_dirs([sweep_dir])))}
    assert sorted(merged) == ["tiny_llama", "tiny_mamba"]
    assert all(sorted(r.problems.problem_id) == [f"gsm8k/test/{i}" for i in range(4)] for r in merged.values())
    # Each problem samples from its own seeded stream: the shards drew what the unsharded run drew
    # (how many fit in the budget depends on the machine's load), and graded it the same.
    unsharded = read_runs([whole])[0].samples
    llama = merged["tiny_llama"].samples
    for pid in [f"gsm8k/test/{i}" for i in range(4)]:
        a = llama[llama.problem_id == pid].sort_values("sample_idx")
        b = unsharded[unsharded.problem_id == pid].sort_values("sample_idx")
        common = min(len(a), len(b))
        assert common > 0
        assert list(a.text[:common]) == list(b.text[:common]) and list(a.correct[:common]) == list(b.correct[:common])


def test_rerunning_the_finished_sweep_submits_nothing(study):
    sweep_dir, _, cmd = study
    files = {p: p.read_bytes() for p in sweep_dir.rglob("*.jsonl")}
    started = time.monotonic()
    proc = run(cmd, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "nothing to submit" in proc.stdout + proc.stderr and time.monotonic() - started < 30
    assert len(manifest(sweep_dir)) == 1  # no new submission
    assert {p: p.read_bytes() for p in sweep_dir.rglob("*.jsonl")} == files


@pytest.fixture(scope="module")
def background():
    """Sweep commands left to finish on their own (submitit waits 15 s for the output of a job
    that ended without one), reaped at the end of the module."""
    procs = []
    yield procs
    for proc in procs:
        proc.wait(timeout=120)


def test_status_lists_done_failed_pending_and_missing_jobs(study, background):
    sweep_dir, _, _ = study
    # Two failing jobs, both refused at start: a bad budget and a model that is not there.
    failing = subprocess.Popen(sweep_cmd(sweep_dir, *TINY[1:], "model=tiny_llama", "budget=abc,1s",
                                         "model.path=/nonexistent/tiny"), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # A job held in the queue (pending), its sweep command stopped with Ctrl-C as a user may
    # (the job stays queued); cancelled later, before it ever started (missing).
    held = subprocess.Popen(sweep_cmd(sweep_dir, *TINY, "model=tiny_llama", "seed=1",
                                      "+hydra.launcher.additional_parameters.hold=true"),
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            # As from a terminal: a suite started in the background (`make test &`)
                            # ignores SIGINT, and its children would inherit that.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    held_id = wait_for(lambda: next((job["job_id"] for entry in manifest(sweep_dir) for job in entry["jobs"]
                                     if "seed=1" in job["run_dir"]), None), 60, "the held job's submission")
    held.send_signal(signal.SIGINT)
    assert held.wait(timeout=120) == 130  # stops waiting at once; the job stays queued

    def states():
        jobs = list(status_json(sweep_dir).values())
        return jobs if sum(job["state"] == "failed" for job in jobs) == 2 else None

    jobs = wait_for(states, 120, "two failed jobs")
    by_state = {}
    for job in jobs:
        by_state.setdefault(job["state"], []).append(job)
    assert sorted((state, len(js)) for state, js in by_state.items()) == [("done", 4), ("failed", 2), ("pending", 1)]
    assert "seed=1" in by_state["pending"][0]["name"] and by_state["pending"][0]["slurm_job"] == held_id
    bad_budget, no_model = sorted(by_state["failed"], key=lambda job: "_abc_" not in job["name"])
    assert "_abc_" in bad_budget["name"] and bad_budget["total"] is None
    assert bad_budget["detail"].startswith("error: budget 'abc' is malformed")
    # A model that cannot be had is refused at start, before the run records its problems.
    assert "/nonexistent/tiny" in no_model["detail"] and (no_model["done"], no_model["total"]) == (0, None)

    subprocess.run(["scancel", held_id], check=True, timeout=30)
    wait_for(lambda: status_json(sweep_dir)[by_state["pending"][0]["name"]]["state"] == "missing", 60,
             "the cancelled job to be missing")
    lines = status(sweep_dir).splitlines()
    assert lines[0] == f"{sweep_dir}: 7 jobs, 4 done, 2 failed, 1 missing"
    missing = next(line for line in lines if "seed=1" in line)
    assert missing.split()[:2] == ["missing", "0/?"] and f"never started (SLURM job {held_id}: CANCELLED)" in missing
    commands = lines[lines.index("resume what is left (finished problems and jobs are kept):") + 1:]
    assert len(commands) == 2 and all(c.startswith("  python -m harness -m hydra/launcher=slurm") for c in commands)
    assert any("budget=abc,1s" in c for c in commands) and any("seed=1" in c for c in commands)
    background.append(failing)


# ---------------------------------------------------------------- preemption and time limits


def _in_thread(fn):
    """Run ``fn`` now in a thread; calling the returned function joins it and returns (or raises)."""
    result = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as err:  # re-raised in the test that asks for it
            result["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join():
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["value"]
    return join


def _start(sweep_dir, *overrides):
    proc = subprocess.Popen(sweep_cmd(sweep_dir, *QUIET, "model=tiny_llama", *overrides), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    job_id = wait_for(lambda: manifest(sweep_dir) and manifest(sweep_dir)[0]["jobs"][0]["job_id"], 60, "submission")
    return proc, job_id, sweep_dir / manifest(sweep_dir)[0]["jobs"][0]["run_dir"]


def _preempt(root):
    """Requeue a job mid-problem, as a preemption does; keep what its first copy left."""
    proc, job_id, run_dir = _start(root / "preempt", "budget=1s", "data.limit=8")
    wait_for(lambda: mid_problem(run_dir), 120, "the job to be mid-problem")
    scontrol("requeue", job_id)
    # submitit ignores SIGTERM: the first copy works on until SIGKILL, KillWait (2 s) later.
    wait_for(lambda: holder(run_dir) is None, 60, "the first copy to die")
    left = {name: read_jsonl(run_dir / name) for name in ("problems.jsonl", "trajectories.jsonl")}
    output = proc.communicate(timeout=240)[0]
    return proc.returncode, output, job_id, run_dir, left


def _time_limit(root):
    """Bring a running job's time limit near, as a long job reaches it; SLURM warns it with USR2."""
    # More than 30 s of problems after the first: the job still runs at the next time-limit pass.
    proc, job_id, run_dir = _start(root / "timelimit", "budget=1s", f"data.limit={TIME_LIMIT_PROBLEMS}",
                                   "hydra.launcher.signal_delay_s=90")
    wait_for(lambda: mid_problem(run_dir), 120, "the job to be mid-problem")
    # slurmctld checks time limits every 30 s. A limit L with elapsed + 30 < L <= elapsed + 90
    # (signal_delay_s) is not reached by the next pass, yet leaves less than 90 s: that pass
    # sends USR2; submitit checkpoints and requeues the job.
    elapsed = seconds(job_info(job_id)["RunTime"])
    scontrol("update", f"JobId={job_id}", f"TimeLimit={(elapsed + 90) // 60}")
    wait_for(lambda: int(job_info(job_id).get("Restarts", 0)) >= 1, 90, "the job to be requeued")
    wait_for(lambda: holder(run_dir) is None, 60, "the first copy to exit")
    done_at_requeue = len(read_jsonl(run_dir / "problems.jsonl"))
    scontrol("update", f"JobId={job_id}", "TimeLimit=5")  # the requeued copy has time to finish
    output = proc.communicate(timeout=240)[0]
    return proc.returncode, output, job_id, run_dir, done_at_requeue


@pytest.fixture(scope="module")
def interrupted(cluster, tmp_path_factory):
    """Both scenarios at once (one GPU each), to keep the suite short."""
    root = tmp_path_factory.mktemp("interrupted")
    return {"preempt": _in_thread(lambda: _preempt(root)), "time_limit": _in_thread(lambda: _time_limit(root))}


def test_a_job_requeued_mid_problem_resumes_without_loss_or_duplicates(interrupted):
    returncode, output, job_id, run_dir, left = interrupted["preempt"]()
    assert returncode == 0, output[-3000:]
    meta, problems, trajectories = assert_complete_without_duplicates(run_dir, 8)
    kept = left["problems.jsonl"]
    assert meta["slurm"]["restart_count"] == 1 and meta["resumes"] == [{"done_before": len(kept)}]
    assert 0 < len(kept) < 8
    # Problems finished by the first copy are kept as they were, sample for sample; the
    # interrupted one (its partial samples dropped) and the rest were run by the second copy.
    assert problems.to_dict("records")[: len(kept)] == kept
    done = {p["problem_id"] for p in kept}
    fields = ["problem_id", "sample_idx", "text", "n_tokens", "finish_reason", "t_end_s"]  # grades come later
    first_samples = [{k: t[k] for k in fields} for t in left["trajectories.jsonl"] if t["problem_id"] in done]
    assert trajectories[trajectories.problem_id.isin(done)][fields].to_dict("records") == first_samples


def test_a_job_at_its_time_limit_is_checkpointed_requeued_and_completes(interrupted):
    returncode, output, job_id, run_dir, done_at_requeue = interrupted["time_limit"]()
    assert returncode == 0, output[-3000:]
    meta, _, _ = assert_complete_without_duplicates(run_dir, TIME_LIMIT_PROBLEMS)
    assert meta["slurm"]["restart_count"] == 1 and meta["resumes"] == [{"done_before": done_at_requeue}]
    assert 0 < done_at_requeue < TIME_LIMIT_PROBLEMS
    log = "".join(p.read_text() for p in (run_dir.parent / ".submitit" / job_id).glob("*_log.*"))
    assert "Caught signal SIGUSR2" in log and "this job is timed-out" in log and "Requeued job" in log
