"""A small process pool whose stuck workers can be killed, usable from any kind of program.

`concurrent.futures.ProcessPoolExecutor` cannot cancel a running task, and killing one of its
processes breaks the whole executor, so every other task in flight would fail with it. Here each
worker owns a socket, a dispatcher thread hands one task at a time to an idle worker and watches
its deadline, and a worker that runs past it is SIGKILLed and replaced while the others go on.

Workers never come from `multiprocessing`: its spawn and forkserver start methods re-import the
caller's ``__main__`` in every worker, which re-runs a script without a main guard, a notebook
kernel's launcher or a `python -` session, and plain fork is unsafe in a process holding threads
or a CUDA context. Instead a *server* process is started once with `subprocess` (a fresh
interpreter that imports only this module and the target), warms the target up, and forks a
worker whenever the pool asks for one: a worker, restarted ones too, starts in milliseconds.
The server and its workers end when the pool closes or the calling process exits (the server sees
its control socket close), so a pool never keeps an interpreter alive.

Tasks never raise through their futures: a future resolves to `(status, value)` with status
`"ok"` (value = the function's result), `"error"` (value = repr of the exception), `"timeout"`
or `"crash"` (the worker died, e.g. out of memory), value None for the last two.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

TaskResult = tuple[str, Any]

# A runaway big-integer or matrix computation must die with MemoryError in the worker instead
# of swapping the whole machine; sympy + antlr need well under 1 GiB.
WORKER_MEMORY_LIMIT = 4 << 30
_PID = struct.Struct("!q")
_MESSAGE = 1 + _PID.size  # b"S" (spawn, with the worker's socket attached) or b"K" (reap), and a pid
_SERVER_START_S = 120.0  # a cold import of sympy on a loaded 2-core machine, with margin
# The directory holding the `harness` package: the server imports this very copy of it.
_ROOT = str(Path(__file__).resolve().parents[2])


class PoolError(RuntimeError):
    pass


# ---------------------------------------------------------------- server side (own process)

def _worker_main(conn: Connection, func: Any) -> None:
    """Worker loop, in a process forked by the server: answer (task_id, args) messages."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_LIMIT, WORKER_MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):
        pass  # not available on this platform, or a lower hard limit is already in force
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


def _serve(control_fd: int, target: str) -> None:
    """Server loop: fork a worker per "spawn" request, reap one per "reap"; end with the caller."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller decides when grading stops
    control = socket.socket(fileno=control_fd)
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    children: set[int] = set()
    control.sendall(b"R")
    while True:  # one request at a time, each answered with a pid, so messages never run together
        try:
            message, fds, _, _ = socket.recv_fds(control, _MESSAGE, 1)
        except OSError:
            message, fds = b"", []
        if len(message) < _MESSAGE:  # the caller closed the pool or exited: take the workers down
            for pid in children:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            os._exit(0)
        kind, pid = message[:1], _PID.unpack(message[1:])[0]
        if kind == b"S":
            pid = os.fork()
            if pid == 0:
                control.close()
                code = 0
                try:
                    _worker_main(Connection(fds[0]), func)
                except BaseException:
                    code = 1
                os._exit(code)
            os.close(fds[0])
            children.add(pid)
        elif pid in children:  # "K": the caller killed or dropped this worker; reap it
            children.discard(pid)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        control.sendall(_PID.pack(pid))


# ---------------------------------------------------------------- caller side

class _Server:
    """The forking server process for one pool, and the control socket to it."""

    def __init__(self, target: str) -> None:
        ours, theirs = socket.socketpair()
        code = (f"import sys; sys.path.insert(0, {_ROOT!r}); "
                f"from harness.grading.pool import _serve; _serve({theirs.fileno()}, {target!r})")
        # A new session: a Ctrl-C in the caller's terminal is the caller's to handle.
        # stdout is not the server's: a caller's pipe (`script.py | head`) must close when the caller ends.
        self.proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=[theirs.fileno()],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
        theirs.close()
        self.control = ours
        self._lock = threading.Lock()
        self.control.settimeout(_SERVER_START_S)
        try:
            ready = self.control.recv(1)
        except OSError:
            ready = b""
        if ready != b"R":
            self.close()
            raise PoolError(f"the grading server for {target} did not start (see the error above)")
        self.control.settimeout(None)

    def _ask(self, kind: bytes, pid: int, fds: list[int]) -> int:
        with self._lock:
            socket.send_fds(self.control, [kind + _PID.pack(pid)], fds)
            reply = self.control.recv(_PID.size, socket.MSG_WAITALL)
        if len(reply) != _PID.size:
            raise OSError("the grading server is gone")
        return _PID.unpack(reply)[0]

    def spawn(self, conn_fd: int) -> int:
        """Fork a worker serving the socket `conn_fd`; returns its pid."""
        return self._ask(b"S", 0, [conn_fd])

    def reap(self, pid: int) -> None:
        with contextlib.suppress(OSError):
            self._ask(b"K", pid, [])

    def close(self) -> None:
        self.control.close()  # the server kills its workers and exits on its own
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


class _Worker:
    def __init__(self, server: _Server) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.pid = server.spawn(theirs.fileno())
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.ready = False
        self.task: tuple[int, Future, float] | None = None  # (task id, future, deadline)

    def kill(self, server: _Server) -> None:
        # Still the server's unreaped child, so the pid cannot belong to another process yet.
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        server.reap(self.pid)
        self.conn.close()


class KillablePool:
    """`workers` processes running `target` ("module:function"), each task under its own timeout.

    The timeout clock of a task starts when a ready worker receives it, so time spent queued or
    waiting for a replacement worker to start is never charged to a task. Starting the pool
    starts its server (about as long as importing the target); it raises PoolError if that fails.
    """

    def __init__(self, target: str, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._target = target
        self._owner = os.getpid()
        self._server = _Server(target)
        # Re-entrant: a future's callback may submit a follow-up task from inside the dispatcher.
        self._lock = threading.RLock()
        self._pending: deque[tuple[int, tuple, float, Future]] = deque()
        self._ids = itertools.count()
        self._closed = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._workers = [_Worker(self._server) for _ in range(workers)]
        self.restarts = 0
        self._failed_starts = 0
        self._stopped_by: str | None = None
        self._thread = threading.Thread(target=self._run, name="grading-pool", daemon=True)
        self._thread.start()

    @property
    def size(self) -> int:
        return len(self._workers)

    @property
    def closed(self) -> bool:
        """Closed, stopped because its workers or server kept failing, or inherited through a fork
        (the dispatcher thread does not survive one)."""
        return self._closed or os.getpid() != self._owner

    def grow(self, workers: int) -> None:
        """Have at least `workers` workers."""
        with self._lock:
            while not self._closed and len(self._workers) < workers:
                self._workers.append(_Worker(self._server))
        self._wake()

    def submit(self, args: tuple, timeout_s: float) -> Future:
        fut: Future = Future()
        with self._lock:
            if self._closed:
                raise PoolError(f"grading pool is closed{self._stopped_by or ''}")
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
            self._wake_w.send(b"x")

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
        with self._lock:
            w = self._workers[i]
            w.kill(self._server)
            # A worker that dies before it is ready (a broken target) would die again: give up.
            self._failed_starts = 0 if w.ready else self._failed_starts + 1
            if self._failed_starts >= 3:
                self._stopped_by = f": its workers for {self._target} kept dying on start (see stderr)"
                raise PoolError(self._stopped_by[2:])
            self._workers[i] = _Worker(self._server)
            self.restarts += 1
        if w.task is not None:
            w.task[1].set_result((status, None))

    def _receive(self, i: int, w: _Worker) -> None:
        try:
            task_id, status, value = w.conn.recv()
        except (EOFError, OSError):
            self._replace(i, "crash")
            return
        if task_id == "ready":
            w.ready = True
        elif w.task is not None and w.task[0] == task_id:
            fut, w.task = w.task[1], None
            fut.set_result((status, value))

    def _run(self) -> None:
        try:
            while not self._closed:
                self._dispatch()
                deadlines = [w.task[2] for w in self._workers if w.task is not None]
                wait_s = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                ready = wait([w.conn for w in self._workers] + [self._wake_r], timeout=wait_s)
                if self._wake_r in ready:
                    self._wake_r.recv(4096)
                for i, w in enumerate(list(self._workers)):
                    if w.conn in ready:
                        self._receive(i, w)
                now = time.monotonic()
                for i, w in enumerate(self._workers):
                    if w.task is not None and w.task[2] <= now:
                        self._replace(i, "timeout")
        except OSError:  # the server died (killed from outside): fail what is left, below
            self._stopped_by = ": its server process died"
        except PoolError:  # workers kept dying on start; _stopped_by says so
            pass
        finally:
            with self._lock:
                self._closed = True
                pending, self._pending = self._pending, deque()
                workers = list(self._workers)
            for w in workers:
                if w.task is not None:
                    w.task[1].set_result(("crash", None))
                w.kill(self._server)
            for task in pending:
                task[3].set_result(("crash", None))
            self._server.close()
            self._wake_r.close()
            self._wake_w.close()
