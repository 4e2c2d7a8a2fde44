"""One writer per run directory (harness/ops/runlock.py), as users meet it: processes, not calls."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

from conftest import ROOT, harness_cmd

from harness.ops.runlock import holder
from harness.store import read_jsonl, read_run

QUIET = ["runner.progress=false", "runner.threads=1", "sampling.max_new_tokens=24"]


def wait_for(condition, timeout=120, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def hold_in_child(run_dir, *, env=None, seconds=60, fork_grandchild=False):
    """A process that takes the lock of ``run_dir`` (optionally leaving a forked child behind)."""
    code = textwrap.dedent(f"""
        import os, sys, time
        from harness.ops.runlock import hold
        with hold({str(run_dir)!r}):
            if {fork_grandchild!r} and os.fork() == 0:
                time.sleep(60)
                os._exit(0)
            print("held", flush=True)
            time.sleep({seconds})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_in_one_line_and_the_first_loses_nothing(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    cmd = harness_cmd("model=tiny_llama", "budget=2s", "data.limit=4", f"hydra.run.dir={run_dir}", *QUIET)
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: read_jsonl(run_dir / "trajectories.jsonl"), what="the first run's samples")

    hydra_files = {path.name: path.read_bytes() for path in (run_dir / ".hydra").iterdir()}
    started = time.monotonic()
    second = subprocess.run([*cmd, "seed=7"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    lines = second.stderr.strip().splitlines()
    assert second.returncode != 0 and elapsed < 5, (second.returncode, elapsed)
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert f"pid {first.pid} on host {socket.gethostname()} since " in lines[0]
    # Hydra's record of the first run's config is the first run's still (not the refused seed=7).
    assert {path.name: path.read_bytes() for path in (run_dir / ".hydra").iterdir()} == hydra_files
    # The offline rewriters refuse a live run too, however asked.
    for rewriter in (["harness.grading", str(run_dir)], ["harness.reward", str(run_dir)]):
        proc = subprocess.run([sys.executable, "-m", *rewriter], cwd=ROOT, capture_output=True, text=True, timeout=60)
        out = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(out) == 1  # a UserError, as every entry point prints one
        assert out[0].startswith(f"error: {run_dir} is still being written by pid {first.pid} on host ")

    assert first.wait(timeout=180) == 0, first.stderr.read()[-2000:]
    meta, problems, trajectories = read_run(run_dir)
    assert meta["status"] == "done" and len(problems) == 4 and "resumes" not in meta
    assert list(trajectories.groupby("problem_id").size()) == list(problems.n_samples)
    for _, group in trajectories.groupby("problem_id"):
        assert sorted(group.sample_idx) == list(range(len(group)))
    assert holder(run_dir) is None


def test_kill_9_leaves_no_stale_lock_even_with_a_forked_child_alive(tmp_path):
    run_dir = tmp_path / "run"
    proc = hold_in_child(run_dir, fork_grandchild=True)
    assert holder(run_dir)["pid"] == proc.pid
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # The forked grandchild still runs, but POSIX locks belong to a process, not its children.
    assert holder(run_dir) is None
    hold_in_child(run_dir, seconds=0).wait()


def test_a_requeued_job_waits_for_its_previous_copy_and_another_job_does_not(tmp_path):
    run_dir = tmp_path / "run"
    first = hold_in_child(run_dir, env={"SLURM_JOB_ID": "77"}, seconds=3)
    assert holder(run_dir)["slurm_job"] == "77"
    code = f"from harness.ops.runlock import hold\nwith hold({str(run_dir)!r}): print('got it')"

    other = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "SLURM_JOB_ID": "78"})
    assert other.returncode != 0 and f"pid {first.pid}" in other.stderr and "(SLURM job 77)" in other.stderr

    started = time.monotonic()
    requeued = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "SLURM_JOB_ID": "77"})
    assert requeued.returncode == 0 and requeued.stdout.strip() == "got it"
    assert first.poll() is not None and time.monotonic() - started > 1  # it waited for the first copy
    assert "waiting for the previous copy of this job" in requeued.stderr
