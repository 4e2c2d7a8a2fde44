"""``python -m harness.status <sweep or run dir>``: where each job stands, and how to finish.

Per job: done, running, pending (in the SLURM queue), failed (with a one-line reason) or missing
(submitted, but no run directory and no longer queued), problems done / total; then the command
that resumes what is left. "running" means a live process holds the run directory's lock
(harness/ops/runlock.py), wherever it runs; the jobs of a sweep and their SLURM ids come from
``slurm_jobs.jsonl`` (harness/ops/slurm.py), their queue state from squeue and sacct.

Examples:
  python -m harness.status results/study1          # a sweep
  python -m harness.status results/study1/gsm8k_llama_1b_60s_shard0of8
  python -m harness.status results/study1 --json   # one JSON object per job
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.ops import runlock, slurm
from harness.store import PROBLEMS_FILE, RUN_FILE, read_jsonl

# A user error (`error: ...`, printed by python -m harness) or the last line of a traceback.
_ERROR_LINE = re.compile(r"^(error: .+|[\w.]+(Error|Exception|Exit|Interrupt)(: .+)?)$")
_RUNNING_STATES = {"RUNNING", "COMPLETING", "CONFIGURING", "SIGNALING", "STAGE_OUT"}


@dataclass
class Job:
    name: str
    state: str  # done | running | pending | failed | missing
    done: int
    total: int | None
    detail: str
    slurm_job: str | None


def _meta(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _log_error(sweep_dir: Path, job_id: str | None) -> str | None:
    """The last error line in the job's submitit log (its stderr), if any."""
    if not job_id:
        return None
    found = None
    for log in sorted((sweep_dir / ".submitit" / job_id).glob("*_log.err")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if _ERROR_LINE.match(line.strip()):
                found = line.strip()
    return found


def _failure(meta: dict[str, Any] | None, log_error: str | None, acct_state: str | None) -> str:
    status = (meta or {}).get("status", "")
    if status.startswith("failed"):
        return status.removeprefix("failed").lstrip(": ").splitlines()[0]
    if log_error:
        return log_error
    if acct_state and acct_state != "COMPLETED":
        return f"SLURM ended the job: {acct_state}"
    if status == "running":
        return "stopped while running (killed, or its node died)"
    return "stopped before writing run.json"


def job_status(run_dir: Path, sweep_dir: Path | None = None, slurm_job: str | None = None,
               queue_state: str | None = None, acct_state: str | None = None) -> Job:
    meta = _meta(run_dir)
    done = len(read_jsonl(run_dir / PROBLEMS_FILE)) if meta else 0
    total = meta.get("n_problems") if meta else None
    holder = runlock.holder(run_dir) if run_dir.exists() else None
    job = Job(run_dir.name, "", done, total, "", slurm_job)
    if holder is not None:
        job.state, job.detail = "running", runlock.describe(holder)
    elif queue_state is not None:
        job.state = "running" if queue_state in _RUNNING_STATES else "pending"
        job.detail = f"SLURM job {slurm_job} {queue_state}" + (" (starting)" if job.state == "running" else "")
    elif meta is not None and meta.get("status") == "done":
        job.state = "done"
        node = (meta.get("slurm") or {}).get("node")
        job.detail = f"SLURM job {slurm_job} on {node}" if slurm_job else ""
    elif not run_dir.exists():
        job.state = "missing"
        job.detail = "never started" + (f" (SLURM job {slurm_job}: {acct_state})" if acct_state else "")
    else:
        job.state = "failed"
        job.detail = _failure(meta, _log_error(sweep_dir or run_dir.parent, slurm_job), acct_state)
    return job


def _slurm_id(meta: dict[str, Any] | None) -> str | None:
    facts = (meta or {}).get("slurm") or {}
    if "array_job_id" in facts:
        return f"{facts['array_job_id']}_{facts['array_task_id']}"
    return facts.get("job_id")


def _is_run_dir(path: Path) -> bool:
    return (path / RUN_FILE).is_file() or (path / ".hydra").is_dir()


def _statuses(run_dirs: list[Path], ids: dict[Path, str | None], sweep_dir: Path | None) -> list[Job]:
    ids = {d: ids.get(d) or _slurm_id(_meta(d)) for d in run_dirs}
    queue = slurm.queue_states(i for i in ids.values() if i)
    acct = slurm.accounting(i for i in ids.values() if i and i not in queue)
    return [job_status(d, sweep_dir, ids[d], queue.get(ids[d]), acct.get(ids[d], {}).get("state")) for d in run_dirs]


def sweep_status(sweep_dir: Path) -> list[Job]:
    submitted = slurm.latest_jobs(sweep_dir)
    names = sorted(set(submitted) | {p.name for p in sweep_dir.iterdir() if p.is_dir() and _is_run_dir(p)})
    return _statuses([sweep_dir / n for n in names], {sweep_dir / n: submitted.get(n, {}).get("job_id") for n in names},
                     sweep_dir)


def _with_sweep_dir(argv: list[str], sweep_dir: Path) -> list[str]:
    if any(a.startswith("hydra.sweep.dir=") for a in argv):
        return argv
    return [*argv, f"hydra.sweep.dir={sweep_dir}"]


def sweep_resume_commands(sweep_dir: Path, jobs: list[Job]) -> list[str]:
    """Commands that resubmit the unfinished jobs (a rerun skips done, running and queued ones)."""
    left = {j.name for j in jobs if j.state in ("failed", "missing")}
    if not left:
        return []
    submitted = slurm.latest_jobs(sweep_dir)
    commands = []
    for name in sorted(left):
        if name in submitted:
            job = submitted[name]
            argv, cwd = job["argv"], job["cwd"]
        elif (sweep_dir / "multirun.yaml").exists():  # a local sweep: the sweep as Hydra recorded it
            hydra_cfg = yaml.safe_load((sweep_dir / "multirun.yaml").read_text())["hydra"]["overrides"]
            argv, cwd = ["-m", *hydra_cfg["hydra"], *hydra_cfg["task"]], os.getcwd()
        else:
            continue
        command = shlex.join(["python", "-m", "harness", *_with_sweep_dir(argv, sweep_dir)])
        if Path(cwd).resolve() != Path.cwd().resolve():
            command = f"cd {shlex.quote(cwd)} && {command}"
        if command not in commands:
            commands.append(command)
    return commands


def run_resume_command(run_dir: Path) -> str | None:
    overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []
    kept = [o for o in overrides if not o.startswith(("run.resume=", "hydra."))]
    return shlex.join(["python", "-m", "harness", *kept, f"run.resume={run_dir}"])


def _print(jobs: list[Job], where: Path) -> None:
    counts = {s: sum(j.state == s for j in jobs) for s in ("done", "running", "pending", "failed", "missing")}
    print(f"{where}: {len(jobs)} job{'s' * (len(jobs) != 1)}, " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    width = max((len(j.name) for j in jobs), default=0)
    for j in jobs:
        problems = f"{j.done}/{j.total if j.total is not None else '?'}"
        print(f"  {j.state:<8} {problems:>9}  {j.name:<{width}}  {j.detail}".rstrip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.status", description=__doc__.split("\n\n")[0],
                                 epilog="\n".join(__doc__.split("\n\n")[-1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", type=Path, help="a sweep directory (hydra.sweep.dir) or one run directory")
    ap.add_argument("--json", action="store_true", help="one JSON object per job instead of the table")
    args = ap.parse_args(argv)
    path = args.path
    if not path.is_dir():
        print(f"error: {path} is not a directory; give a sweep directory (hydra.sweep.dir) or a run directory",
              file=sys.stderr)
        return 2
    single = _is_run_dir(path)
    if not single and not (path / slurm.MANIFEST).exists() and not any(_is_run_dir(p) for p in path.iterdir()):
        print(f"error: {path} holds no runs (no run.json, .hydra/ or {slurm.MANIFEST}); "
              "give a sweep directory (hydra.sweep.dir) or a run directory", file=sys.stderr)
        return 2
    jobs = _statuses([path], {}, None) if single else sweep_status(path)
    if args.json:
        for job in jobs:
            print(json.dumps(asdict(job)))
        return 0
    _print(jobs, path)
    if single:
        command = run_resume_command(path) if jobs[0].state in ("failed", "missing") else None
        commands = [command] if command else []
    else:
        commands = sweep_resume_commands(path, jobs)
    if commands:
        print("resume what is left (finished problems and jobs are kept):")
        for command in commands:
            print(f"  {command}")
    elif all(j.state == "done" for j in jobs):
        print("all done: nothing to resume")
    return 0
