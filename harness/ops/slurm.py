"""What a sweep submitted to SLURM and what the cluster says about it.

The launcher (hydra_plugins/harness_launcher/launcher.py) appends one line per submission to
``<sweep>/slurm_jobs.jsonl``: the command line, and for each job its SLURM job id, run directory
and overrides. With it, ``python -m harness.status`` knows every job of a sweep, also those that
never started, and a rerun of the sweep skips jobs still queued.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MANIFEST = "slurm_jobs.jsonl"
# squeue states of a job that will still write its run directory.
LIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
               "RESIZING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD"}


def record_submission(sweep_dir: Path, jobs: list[dict[str, Any]]) -> None:
    """Append one submission (``jobs``: job_id, run_dir relative to the sweep, overrides)."""
    entry = {"submitted": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
             "cwd": os.getcwd(), "argv": sys.argv[1:], "jobs": jobs}
    with (sweep_dir / MANIFEST).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def submissions(sweep_dir: Path) -> list[dict[str, Any]]:
    path = sweep_dir / MANIFEST
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def latest_jobs(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    """run_dir -> its latest submitted job (with the submission's argv and cwd)."""
    found: dict[str, dict[str, Any]] = {}
    for entry in submissions(sweep_dir):
        for job in entry["jobs"]:
            found[job["run_dir"]] = job | {"argv": entry["argv"], "cwd": entry["cwd"], "submitted": entry["submitted"]}
    return found


def _run(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    return proc.stdout if proc.returncode == 0 else None


def queue_states(job_ids: Iterable[str]) -> dict[str, str]:
    """job id -> state for those of ``job_ids`` still in the queue (pending, running...)."""
    wanted = set(job_ids)
    if not wanted:
        return {}
    # One line per array task (-r); all of this user's jobs, as squeue -j fails on a purged id.
    out = _run(["squeue", "--me", "-h", "-r", "-o", "%i|%T"]) or ""
    states = dict(line.split("|", 1) for line in out.splitlines() if "|" in line)
    return {job: state for job, state in states.items() if job in wanted}


def accounting(job_ids: Iterable[str]) -> dict[str, dict[str, str]]:
    """job id -> {state, node, exit_code} from sacct, for jobs known to accounting."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    out = _run(["sacct", "-n", "-X", "-P", "-j", ",".join(ids), "-o", "JobID,State,NodeList,ExitCode"]) or ""
    found = {}
    for line in out.splitlines():
        parts = line.split("|")
        if len(parts) == 4:
            state = parts[1].split()[0] if parts[1] else ""  # "CANCELLED by 0" -> CANCELLED
            found[parts[0]] = {"state": state, "node": parts[2], "exit_code": parts[3]}
    return found
