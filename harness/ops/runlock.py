"""One writer per run directory: a lock held for the whole run, released by the kernel on death.

Two processes appending to one run directory lose samples silently (a requeued job beside its
first copy, a sweep launched twice, a resume typed in a second terminal). The writer holds a
POSIX record lock (``fcntl.lockf``) on ``<run>/.lock`` from before it opens the run until it
exits. The kernel drops the lock when the process dies, ``kill -9`` included, so nothing stale is
left; POSIX locks are not inherited by forked children (a grading worker never keeps a dead run
locked) and work across hosts on NFS. The file also says who holds it (host, pid, start time,
SLURM job), for the one-line refusal and for ``python -m harness.status``.

A POSIX lock is released when its process closes *any* descriptor of the file, so this module
never opens the lock file of a run this process holds.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.errors import UserError

LOCK_FILE = ".lock"
# A requeued SLURM job may start while its previous copy is still being killed (or, on a shared
# file system, before a lost node's lock expires: NFSv4 leases last ~90 s): it waits this long.
REQUEUE_WAIT_S = 600.0
# A probe from another process (status, grading) holds a shared lock for microseconds; a writer
# that loses that race tries again for this long before calling the run taken.
_PROBE_GRACE_S = 0.3

log = logging.getLogger(__name__)
_held: dict[Path, tuple[Any, dict[str, Any]]] = {}  # run directories held here -> (lock file, holder)


class RunLocked(UserError):
    """The run directory cannot be taken for writing: another live process writes it (or the file
    system has no POSIX locks)."""


def _try_lock(handle, kind: int, run_dir: str | Path) -> bool:
    """Take the lock without waiting: False if another process holds it."""
    try:
        fcntl.lockf(handle, kind | fcntl.LOCK_NB)
        return True
    except OSError as err:
        if err.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise RunLocked(f"cannot lock {Path(run_dir) / LOCK_FILE}: {err.strerror}; a run directory needs a "
                        "file system with POSIX locks (on NFS: v4, or v3 with lockd)") from None


def _key(run_dir: str | Path) -> Path:
    return Path(run_dir).resolve()


def _me() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "slurm_job": _slurm_job()}


def _slurm_job() -> str | None:
    """This process's SLURM job: ``<array job>_<task>`` for array tasks (what squeue shows)."""
    if "SLURM_ARRAY_JOB_ID" in os.environ and "SLURM_ARRAY_TASK_ID" in os.environ:
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


def describe(holder: dict[str, Any]) -> str:
    """``pid 123 on host node1 since 2025-01-01T10:00:00+00:00 (SLURM job 45_2)``"""
    text = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} since {holder.get('since', '?')}"
    return text + (f" (SLURM job {holder['slurm_job']})" if holder.get("slurm_job") else "")


def _read_holder(handle) -> dict[str, Any]:
    # The writer fills the file just after taking the lock: an empty read is a writer starting up.
    for _ in range(20):
        handle.seek(0)
        text = handle.read().strip()
        if text:
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                pass
        time.sleep(0.05)
    return {}


def holder(run_dir: str | Path) -> dict[str, Any] | None:
    """Who writes ``run_dir`` now (host, pid, since, slurm_job), or None when nobody does."""
    key = _key(run_dir)
    if key in _held:
        return _held[key][1]
    path = key / LOCK_FILE
    try:
        handle = path.open("r")
    except FileNotFoundError:
        return None
    with handle:
        if not _try_lock(handle, fcntl.LOCK_SH, run_dir):
            return _read_holder(handle)
        fcntl.lockf(handle, fcntl.LOCK_UN)
        return None


def check_not_running(run_dir: str | Path) -> None:
    """Raise RunLocked if a live process writes ``run_dir`` (for the offline rewriters)."""
    found = holder(run_dir)
    if found is not None:
        raise RunLocked(f"{run_dir} is still being written by {describe(found)}; run this when it has finished")


@contextmanager
def hold(run_dir: str | Path) -> Iterator[None]:
    """Be the only writer of ``run_dir`` for the duration of the block, or raise RunLocked at once.

    A SLURM job whose directory is held by an earlier copy of itself (same job id: requeued or
    preempted) waits for that copy to die, at most REQUEUE_WAIT_S.
    """
    key = _key(run_dir)
    if key in _held:
        raise RunLocked(f"{run_dir} is already held by this process")
    key.mkdir(parents=True, exist_ok=True)
    handle = (key / LOCK_FILE).open("a+")
    try:
        _acquire(handle, run_dir)
        me = _me()
        handle.truncate(0)
        handle.write(json.dumps(me) + "\n")
        handle.flush()
    except BaseException:
        handle.close()
        raise
    _held[key] = (handle, me)
    try:
        yield
    finally:
        del _held[key]
        handle.close()  # releases the lock


def _is_own_job(found: dict[str, Any]) -> bool:
    """The holder is an earlier copy of this very SLURM job (requeued or preempted)."""
    return bool(found.get("slurm_job")) and found.get("slurm_job") == _slurm_job()


def _busy(run_dir: str | Path, found: dict[str, Any]) -> RunLocked:
    return RunLocked(f"{run_dir} is already being written by {describe(found)}; "
                     "wait for it to finish or stop that process, then rerun")


def refuse_if_held(run_dir: str | Path) -> None:
    """Raise RunLocked now if another live process writes ``run_dir``: for the entry point, before
    Hydra writes that directory's ``.hydra/``. An earlier copy of this SLURM job is left to
    ``hold``, which waits for it; ``hold`` stays the guard (two may start at once)."""
    found = holder(run_dir)
    if found is not None and not _is_own_job(found):
        raise _busy(run_dir, found)


def _acquire(handle, run_dir: str | Path) -> None:
    start = time.monotonic()
    logged = False
    while not _try_lock(handle, fcntl.LOCK_EX, run_dir):
        # The file names the last writer; only the lock says whether it still lives.
        found = _read_holder(handle)
        own = _is_own_job(found)
        if time.monotonic() - start >= (REQUEUE_WAIT_S if own else _PROBE_GRACE_S):
            raise _busy(run_dir, found)
        if own and not logged:
            log.warning("%s: waiting for the previous copy of this job to exit: %s", run_dir, describe(found))
            logged = True
        time.sleep(0.1)
