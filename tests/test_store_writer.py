"""The store is the only writer of a run's files (harness/store.py): no other module opens them for
writing, and a whole run (generation, grading, the audit, reward scoring) then an offline regrade
and rescore write them only through a RunStore, the runner's in-memory run.json equal to the file."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

RUN_FILES = {"run.json", "problems.jsonl", "trajectories.jsonl", "grader_audit.jsonl"}
NAMES = {"RUN_FILE", "PROBLEMS_FILE", "TRAJECTORIES_FILE", "AUDIT_FILE"}  # harness.store's names for them
WRITES = {"write_text", "write_bytes", "write_jsonl_atomic", "unlink", "rename", "replace", "remove", "touch"}


def _names_a_run_file(node: ast.AST, tainted: set[str]) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value in RUN_FILES:
            return True
        if isinstance(sub, ast.Name) and (sub.id in NAMES or sub.id in tainted):
            return True
        if isinstance(sub, ast.Attribute) and sub.attr in NAMES:
            return True
    return False


def _mode(call: ast.Call, position: int) -> str:
    args = [*call.args[position:position + 1], *(k.value for k in call.keywords if k.arg == "mode")]
    return next((a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)), "r")


def run_file_writes(source: str) -> list[int]:
    """Lines of ``source`` that write a run file: open it for writing, write, replace or delete it,
    directly or through a variable that holds its path."""
    tree = ast.parse(source)
    tainted = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and _names_a_run_file(node.value, set())
               for t in node.targets if isinstance(t, ast.Name)}
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":  # open(path, mode)
            target, writing = node.args[:1], any(c in _mode(node, 1) for c in "wax+")
        elif isinstance(func, ast.Attribute) and func.attr == "open":  # path.open(mode)
            target, writing = [func.value], any(c in _mode(node, 0) for c in "wax+")
        elif (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)) in WRITES:
            target, writing = [*([func.value] if isinstance(func, ast.Attribute) else []), *node.args], True
        else:
            continue
        if writing and any(_names_a_run_file(t, tainted) for t in target):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("source, flagged", [
    ('(run_dir / "run.json").write_text("{}")', True),
    ('open(Path(d) / "trajectories.jsonl", "a")', True),
    ('path = run_dir / TRAJECTORIES_FILE\nwith path.open("w") as fh:\n    pass', True),
    ('write_jsonl_atomic(run_dir / store.AUDIT_FILE, rows)', True),
    ('os.replace(tmp, run_dir / PROBLEMS_FILE)', True),
    ('(run_dir / "grader_audit.jsonl").unlink()', True),
    ('json.loads((run_dir / "run.json").read_text())', False),  # reading is anyone's
    ('open(run_dir / "run.json")', False),
    ('(out / "summary.md").write_text(md)', False),  # the report's own files
])
def test_the_scan_finds_writes_to_run_files(source, flagged):
    assert bool(run_file_writes(source)) is flagged


def test_no_module_but_the_store_writes_a_run_file():
    found = {}
    for path in sorted([*(ROOT / "harness").rglob("*.py"), *(ROOT / "hydra_plugins").rglob("*.py")]):
        if path != ROOT / "harness" / "store.py" and (lines := run_file_writes(path.read_text(encoding="utf-8"))):
            found[str(path.relative_to(ROOT))] = lines
    assert not found, f"run files written outside harness/store.py: {found}"


# Runs a tiny job with grading, the audit and reward scoring, then regrades and rescores it
# offline, recording which module of the harness asked for each write to a run file (Python's
# audit hooks see every open for writing, rename and removal).
SCRIPT = r'''
import json, os, sys
from pathlib import Path

writers = {}

def _writer():
    """The module that asked for a write (the JSONL helper writes for its caller); for the store,
    whether a RunStore did (the one writer) or a function of the module beside it."""
    frame = sys._getframe(2)
    while frame is not None and not frame.f_globals.get("__name__", "").startswith("harness"):
        frame = frame.f_back
    while frame is not None and frame.f_globals["__name__"] == "harness.jsonl":
        frame = frame.f_back
    if frame is None or frame.f_globals["__name__"] != "harness.store":
        return frame.f_globals["__name__"] if frame else "?"
    while frame is not None and frame.f_globals.get("__name__") == "harness.store":
        if frame.f_code.co_qualname.startswith("RunStore."):
            return "harness.store.RunStore"
        frame = frame.f_back
    return "harness.store (a module function)"

def hook(event, args):
    if event == "open" and args[0] is not None:
        path, mode, flags = args
        writing = (mode is not None and any(c in mode for c in "wax+")) or \
            (mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR))
    elif event in ("os.rename", "os.remove"):
        path, writing = args[1] if event == "os.rename" else args[0], True
    else:
        return
    name = os.path.basename(os.fsdecode(path)) if isinstance(path, (str, bytes, os.PathLike)) else ""
    if writing and name.removesuffix(".tmp") in {RUN_FILES}:
        writers.setdefault(name.removesuffix(".tmp"), set()).add(_writer())

sys.addaudithook(hook)

from hydra import compose, initialize_config_dir
from harness.analysis.summary import refresh_summary
from harness.extensions import load_config, register_all
from harness.grading import grade_run
from harness.measure.runner import Runner
from harness.reward.__main__ import main as reward_cli
from harness.store import RunStore

run_dir = Path(sys.argv[1])
register_all()
with initialize_config_dir(config_dir=str(Path("conf").resolve()), version_base="1.3"):
    cfg = load_config(compose("config", overrides=["debug=tiny", "data.limit=2", "budget=1s", "selection=prm",
                                                   "selection.reward.model=builtin:tiny_prm"]))
runner = Runner(cfg, run_dir)
runner.run()
on_disk = json.loads((run_dir / "run.json").read_text())
same = json.loads(json.dumps(runner.store.meta, default=str)) == on_disk
grade_run(run_dir, regrade=True)
refresh_summary(RunStore(run_dir))
assert reward_cli([str(run_dir), "--rescore", "--device", "cpu"]) == 0
print(json.dumps({"writers": {k: sorted(v) for k, v in writers.items()}, "meta_is_the_file": same,
                  "status": on_disk["status"], "audited": on_disk["audit"] is not None}))
'''


def test_a_run_graded_audited_and_scored_writes_its_files_only_through_the_store(tmp_path, data_dir):
    script = SCRIPT.replace("{RUN_FILES}", repr(RUN_FILES))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "run")], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["status"] == "done" and out["audited"]
    assert out["meta_is_the_file"]  # the runner's run.json after grading, the audit and scoring is the file's
    assert set(out["writers"]) == RUN_FILES  # every file was written (so the hook saw the writes) ...
    assert {w for ws in out["writers"].values() for w in ws} == {"harness.store.RunStore"}  # ... by a RunStore alone
