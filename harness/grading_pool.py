"""A small process pool whose stuck workers can be killed.

`concurrent.futures.ProcessPoolExecutor` cannot cancel a running task, and killing one of its
processes breaks the whole executor, so every other task in flight would fail with it. Here each
worker owns a pipe, a dispatcher thread hands one task at a time to an idle worker and watches its
deadline, and a worker that runs past it is SIGKILLed and replaced while the others go on.

Tasks never raise through their futures: a future resolves to `(status, value)` with status
`"ok"` (value = the function's result), `"error"` (value = repr of the exception), `"timeout"`
or `"crash"` (the worker died, e.g. out of memory), value None for the last two.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import multiprocessing
import threading
import time
from collections import deque
from concurrent.futures import Future
from multiprocessing.connection import Connection, wait
from typing import Any

TaskResult = tuple[str, Any]

# A runaway big-integer or matrix computation must die with MemoryError in the worker instead
# of swapping the whole machine; sympy + antlr need well under 1 GiB.
WORKER_MEMORY_LIMIT = 4 << 30


def _worker_main(conn: Connection, target: str) -> None:
    """Worker loop: import the target once, then answer (task_id, args) messages forever."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_LIMIT, WORKER_MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):
        pass  # not available on this platform, or a lower hard limit is already in force
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    conn.send(("ready", None, None))
    while True:
        try:
            task_id, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send((task_id, "ok", func(*args)))
        except BaseException as exc:  # a task must never take the worker down
            conn.send((task_id, "error", repr(exc)[:500]))


class _Worker:
    def __init__(self, ctx: Any, target: str) -> None:
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child_conn, target), daemon=True)
        self.proc.start()
        child_conn.close()
        self.conn: Connection = parent_conn
        self.ready = False
        self.task: tuple[int, Future, float] | None = None  # (task id, future, deadline)

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()


class KillablePool:
    """`workers` processes running `target` ("module:function"), each task under its own timeout.

    The timeout clock of a task starts when a ready worker receives it, so time spent queued or
    waiting for a replacement worker to start is never charged to a task.
    """

    def __init__(self, target: str, workers: int = 1, preload: tuple[str, ...] = ()) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        methods = multiprocessing.get_all_start_methods()
        # Never plain fork: the parent may hold CUDA contexts or threads. forkserver with the
        # heavy imports preloaded makes replacing a killed worker cost milliseconds, not seconds.
        self._ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if self._ctx.get_start_method() == "forkserver" and preload:
            self._ctx.set_forkserver_preload(list(preload))
        self._target = target
        # Re-entrant: a future's callback may submit a follow-up task from inside the dispatcher.
        self._lock = threading.RLock()
        self._pending: deque[tuple[int, tuple, float, Future]] = deque()
        self._ids = itertools.count()
        self._closed = False
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._workers = [_Worker(self._ctx, target) for _ in range(workers)]
        self.restarts = 0
        self._failed_starts = 0
        self._stopped_by: str | None = None
        self._thread = threading.Thread(target=self._run, name="grading-pool", daemon=True)
        self._thread.start()

    def submit(self, args: tuple, timeout_s: float) -> Future:
        fut: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"grading pool is closed{self._stopped_by or ''}")
            self._pending.append((next(self._ids), args, timeout_s, fut))
        self._wake()
        return fut

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake()
        self._thread.join(timeout=10)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # the dispatcher is already gone
            self._wake_w.send_bytes(b"x")

    def _dispatch(self) -> None:
        failed: list[Future] = []
        with self._lock:
            for w in self._workers:
                if not self._pending:
                    break
                if w.ready and w.task is None:
                    task_id, args, timeout_s, fut = self._pending.popleft()
                    if not fut.set_running_or_notify_cancel():
                        continue
                    try:
                        w.conn.send((task_id, args))
                    except (OSError, ValueError):  # e.g. arguments that cannot be pickled
                        failed.append(fut)
                        continue
                    w.task = (task_id, fut, time.monotonic() + timeout_s)
        for fut in failed:  # outside the lock: callbacks may submit again
            fut.set_result(("crash", None))

    def _replace(self, i: int, status: str) -> None:
        w = self._workers[i]
        w.kill()
        # A worker that dies before it is ready (broken import) would die again: give up.
        self._failed_starts = 0 if w.ready else self._failed_starts + 1
        if self._failed_starts >= 3:
            self._stopped_by = f": its workers for {self._target} kept dying on start (see stderr)"
            raise RuntimeError(self._stopped_by[2:])
        self._workers[i] = _Worker(self._ctx, self._target)
        self.restarts += 1
        if w.task is not None:
            w.task[1].set_result((status, None))

    def _run(self) -> None:
        try:
            while not self._closed:
                self._dispatch()
                deadlines = [w.task[2] for w in self._workers if w.task is not None]
                wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                ready = wait([w.conn for w in self._workers] + [self._wake_r], timeout=wait_s)
                if self._wake_r in ready:
                    while self._wake_r.poll():
                        self._wake_r.recv_bytes()
                for i, w in enumerate(self._workers):
                    if w.conn in ready:
                        try:
                            task_id, status, value = w.conn.recv()
                        except (EOFError, OSError):
                            self._replace(i, "crash")
                            continue
                        if task_id == "ready":
                            w.ready = True
                        elif w.task is not None and w.task[0] == task_id:
                            w.task[1].set_result((status, value))
                            w.task = None
                now = time.monotonic()
                for i, w in enumerate(self._workers):
                    if w.task is not None and w.task[2] <= now:
                        self._replace(i, "timeout")
        finally:
            for w in self._workers:
                if w.task is not None:
                    w.task[1].set_result(("crash", None))
                w.kill()
            with self._lock:
                self._closed = True
                pending, self._pending = self._pending, deque()
            for task in pending:
                task[3].set_result(("crash", None))
            self._wake_r.close()
            self._wake_w.close()
