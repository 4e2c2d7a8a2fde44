"""Devices: which one a model runs on and in which dtype, and one job per accelerator in a sweep.

``pick_device`` / ``pick_dtype`` turn ``model.device`` / ``model.dtype`` into torch objects (torch
is imported only there); ``choose_dtype`` is the rule behind ``dtype=auto``, a pure function of
the device and the CPU's flags. The rest: jobs of a local sweep queue for a free GPU (or for the CPU).

submitit's local executor starts every job of a sweep at once and shows each the same GPUs.
Timings are only comparable when jobs do not share a device, so each job takes an exclusive
lock on one device before touching it and narrows CUDA_VISIBLE_DEVICES to that device; jobs
without a free device wait. Locks are per host and die with their process, so a killed job
never leaves a device blocked.

Under SLURM the scheduler has already chosen: a job takes the GPUs it was allocated (slurmd sets
CUDA_VISIBLE_DEVICES to them) without locking or choosing again, and a job allocated none hides
every GPU, so that it never runs on another job's device.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from harness.errors import UserError


def pick_device(device: str, option: str = "model.device"):
    """The torch.device for ``device`` (auto: CUDA when visible, else CPU)."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"{option}={device} but no CUDA device is visible: use {option}=cpu")
    return torch.device(device)


DTYPES = ("float32", "bfloat16", "float16")
# CPU flags (/proc/cpuinfo) of a native bf16 matmul: without one, bf16 is converted to fp32 around
# every matmul and is slower than fp32 itself (SmolLM2 on an AVX2 EPYC: fp32 1.57x bf16 on hf).
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def choose_dtype(dtype: str, cuda: bool, cpu_flags: set[str] | frozenset[str]) -> tuple[str, str]:
    """(dtype, one-line reason) for ``dtype`` on CUDA or on a CPU with these flags (auto: see below)."""
    if dtype != "auto":
        return dtype, f"dtype={dtype} as configured"
    if cuda:
        return "bfloat16", "auto: bfloat16 on CUDA"
    native = [flag for flag in NATIVE_BF16_FLAGS if flag in cpu_flags]
    if native:
        return "bfloat16", f"auto: bfloat16, the CPU has native bf16 ({', '.join(native)})"
    return "float32", "auto: float32, the CPU has no native bf16 (no amx_bf16 / avx512_bf16 flag), where fp32 is faster"


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def pick_dtype(dtype: str, device, option: str = "model.dtype"):
    """(torch dtype, reason) for ``dtype`` on the torch ``device`` (auto: ``choose_dtype``)."""
    import torch

    if dtype != "auto" and dtype not in DTYPES:
        raise UserError(f"{option}={dtype!r} is unknown: use auto, {', '.join(DTYPES)}")
    name, reason = choose_dtype(dtype, device.type == "cuda", cpu_flags() if device.type == "cpu" else frozenset())
    return getattr(torch, name), reason


def cuda_visible(device: str) -> bool:
    """Whether ``device`` (model.device) would run on CUDA, without initialising CUDA: a local
    sweep narrows CUDA_VISIBLE_DEVICES after this is asked (``claim_device``), which only works
    before CUDA starts. torch's device_count asks NVML, not the CUDA runtime."""
    if device == "cpu":
        return False
    import torch

    return torch.cuda.device_count() > 0


def visible_devices() -> list[str]:
    """GPU ids this process may use; empty on a CPU-only machine."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    return [str(i) for i, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU ")]


def slurm_devices(environ: Mapping[str, str]) -> list[str] | None:
    """GPU ids SLURM allocated to this job ([] for none); None when SLURM did not say which."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip()]
    # GPUs allocated on a node whose gres.conf names no device files: SLURM cannot say which.
    if environ.get("SLURM_JOB_GPUS") or environ.get("SLURM_GPUS_ON_NODE", "0") not in ("", "0"):
        return None
    return []


@contextmanager
def _slurm_claim() -> Iterator[str]:
    devices = slurm_devices(os.environ)
    hide = devices == [] and "CUDA_VISIBLE_DEVICES" not in os.environ
    if hide:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    try:
        yield ",".join(visible_devices() if devices is None else devices) or "cpu"
    finally:
        if hide:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)


@contextmanager
def claim_device(lock_dir: Path, poll_s: float = 1.0) -> Iterator[str]:
    """Hold one device ("cpu" when there is no GPU) exclusively for the duration of the block.

    In a SLURM job: the device(s) SLURM allocated, comma-separated, without locking.
    """
    if "SLURM_JOB_ID" in os.environ:
        with _slurm_claim() as device:
            yield device
        return
    devices = visible_devices() or ["cpu"]
    lock_dir.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    while True:
        for device in devices:
            handle = (lock_dir / f"{host}-{device}.lock").open("w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            before = os.environ.get("CUDA_VISIBLE_DEVICES")
            if device != "cpu":
                os.environ["CUDA_VISIBLE_DEVICES"] = device
            try:
                yield device
            finally:
                if before is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = before
                handle.close()
            return
        time.sleep(poll_s)
