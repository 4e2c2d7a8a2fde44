"""The public API from the kinds of programs users write, each run in a subprocess as a user would.

A plain script with calls at top level (no main guard), the same code fed to `python -`, calls
from a worker thread, and a notebook-style kernel (a launcher module that executes cells in one
long-lived process). Each grades 50 pairs, some of which need the sympy pool, and must exit
within 5 s of its last call; each sees one grading server, started once and shared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# (pred, gold, expected): 30 settled in the calling process, 20 that need sympy.
PAIRS = [(f"{n}", f"{n}.0", True) for n in range(10)] + [(f"\\frac{{{n}}}{{2}}", str(n / 2), True) for n in range(10)]
PAIRS += [(f"{n}", f"{n + 1}", False) for n in range(10)]
PAIRS += [(f"\\sqrt{{{n * n}}}", str(n), True) for n in range(2, 12)]
PAIRS += [(f"{n}\\sqrt{{2}}", f"\\sqrt{{{2 * n * n}}}", True) for n in range(2, 7)]
PAIRS += [(f"\\sqrt{{{n}}}", f"\\sqrt{{{n + 1}}}", False) for n in range(2, 7)]
assert len(PAIRS) == 50

GRADE = f"""
import json, os, time
from harness.grading import is_equivalent
PAIRS = {PAIRS!r}
wrong = [p for p in PAIRS if is_equivalent(p[0], p[1]) is not p[2]]
def servers():
    pids = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{{task}}/children") as fh:
            pids += fh.read().split()
    found = 0
    for pid in pids:
        try:
            with open(f"/proc/{{pid}}/cmdline", "rb") as fh:
                found += b"_serve" in fh.read()
        except OSError:
            pass
    return found
print(json.dumps({{"wrong": wrong, "servers": servers(), "last_call": time.time()}}), flush=True)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _check(proc: subprocess.CompletedProcess, ended: float, reports: int = 1) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == reports, proc.stdout
    for report in lines:
        assert report["wrong"] == [] and report["servers"] == 1
    assert ended - lines[-1]["last_call"] < 5.0


def _run(args: list[str], tmp_path: Path, stdin: str | None = None) -> tuple[subprocess.CompletedProcess, float]:
    proc = subprocess.run(args, input=stdin, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=180)
    return proc, time.time()


def test_plain_script_without_main_guard(tmp_path: Path) -> None:
    (tmp_path / "check.py").write_text(GRADE)
    _check(*_run([sys.executable, "check.py"], tmp_path))


def test_python_dash_reading_stdin(tmp_path: Path) -> None:
    _check(*_run([sys.executable, "-"], tmp_path, stdin=GRADE))


def test_worker_thread(tmp_path: Path) -> None:
    script = "import threading\ndef work():\n" + textwrap.indent(GRADE, "    ") + (
        "\nthread = threading.Thread(target=work)\nthread.start()\nthread.join()\n")
    (tmp_path / "threaded.py").write_text(script)
    _check(*_run([sys.executable, "threaded.py"], tmp_path))


KERNEL = """
import sys
namespace = {"__name__": "__main__"}
for cell in sys.stdin.read().split("# %% next cell"):
    exec(compile(cell, "<cell>", "exec"), namespace)
"""


@pytest.mark.parametrize("main_guard", [False, True])
def test_notebook_style_kernel(tmp_path: Path, main_guard: bool) -> None:
    """Like ipykernel: __main__ is a launcher imported by name, cells run in one process."""
    kernel = ("if __name__ == '__main__':\n" + textwrap.indent(KERNEL, "    ")) if main_guard else KERNEL
    (tmp_path / "kernel_launcher.py").write_text(kernel)
    cells = GRADE + "\n# %% next cell\n" + GRADE  # the second cell reuses the first one's server
    _check(*_run([sys.executable, "-m", "kernel_launcher"], tmp_path, stdin=cells), reports=2)
