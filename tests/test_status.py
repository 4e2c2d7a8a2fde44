"""`python -m harness.status` on a local sweep: running, done, killed, and the command that resumes it.

Sweeps on SLURM (pending, missing, failed with a reason) are tested on the cluster, in test_slurm.py.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

from conftest import ROOT, harness_cmd

from harness.store import read_jsonl

TINY = ["budget=1s", "data.limit=4", "runner.threads=1", "runner.progress=false", "sampling.max_new_tokens=24"]
TAG = "_runner.threads=1,sampling.max_new_tokens=24"


def status(path, *args):
    proc = subprocess.run([sys.executable, "-m", "harness.status", str(path), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


def test_status_follows_a_killed_sweep_and_its_resume_command_finishes_it(tmp_path, data_dir):
    sweep_dir = tmp_path / "sweep"
    # The basic launcher runs the jobs in this one process, so a kill stops the sweep mid-job.
    proc = subprocess.Popen(harness_cmd("-m", "hydra/launcher=basic", f"hydra.sweep.dir={sweep_dir}", *TINY,
                                        "model=tiny_llama", "data.shard=0/2,1/2"),
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first, second = (sweep_dir / f"gsm8k_tiny_llama_1s_shard{i}of2{TAG}" for i in (0, 1))
    deadline = time.time() + 120
    while time.time() < deadline and not read_jsonl(second / "trajectories.jsonl"):
        time.sleep(0.05)
    rc, out, _ = status(sweep_dir, "--json")
    jobs = {job["name"]: job for job in map(json.loads, out.splitlines())}
    assert rc == 0 and jobs[first.name]["state"] == "done" and jobs[first.name]["done"] == 2
    assert jobs[second.name]["state"] == "running" and f"pid {proc.pid} on host " in jobs[second.name]["detail"]

    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rc, out, _ = status(sweep_dir)
    lines = out.splitlines()
    assert rc == 0 and lines[0] == f"{sweep_dir}: 2 jobs, 1 done, 1 failed"
    assert lines[1].split()[:3] == ["done", "2/2", first.name]
    assert lines[2].split()[0] == "failed" and "stopped while running (killed, or its node died)" in lines[2]
    assert lines[3] == "resume what is left (finished problems and jobs are kept):"
    command = lines[4].strip()
    assert command.startswith("python -m harness -m hydra/launcher=basic") and f"hydra.sweep.dir={sweep_dir}" in command

    # One run directory on its own: its state and the command that continues it in place.
    rc, out, _ = status(second)
    assert rc == 0 and out.splitlines()[1].split()[0] == "failed"
    assert out.splitlines()[-1].strip().endswith(f"run.resume={second}")

    resumed = subprocess.run([sys.executable, *shlex.split(command)[1:]], cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    rc, out, _ = status(sweep_dir)
    lines = out.splitlines()
    assert lines[0] == f"{sweep_dir}: 2 jobs, 2 done" and lines[-1] == "all done: nothing to resume"


def test_status_of_a_folder_without_runs_is_a_one_line_error(tmp_path):
    rc, out, err = status(tmp_path)
    assert rc == 2 and err.count("\n") == 1 and err.startswith(f"error: {tmp_path} holds no runs")
    rc, out, err = status(tmp_path / "nothing")
    assert rc == 2 and err.count("\n") == 1 and "is not a directory" in err
