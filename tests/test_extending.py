"""Extending the harness from outside the package (docs/extending.md): a dataset and a selection
method of one's own, in a module beside the tests (my_plugin.py), run, graded and reported by the
commands as the built-in ones are, named by the config or installed as an entry point."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

TESTS = ROOT / "tests"


def command(module: str, *args: str, path: tuple[Path, ...] = (ROOT, TESTS), cwd: Path = ROOT):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, path))}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def methods_in(path: Path) -> set[str]:
    with path.open(encoding="utf-8") as fh:
        return {row["method"] for row in csv.DictReader(fh)}


def test_a_plugins_dataset_and_method_run_grade_and_report_as_the_built_in_ones(tmp_path):
    run = tmp_path / "run"
    proc = command("harness", "debug=tiny", "plugins=[my_plugin]", "data.name=sums", "data.limit=2", "budget=1s",
                   "selection.methods=[coverage,majority,first_answer]", "run.report=true", f"hydra.run.dir={run}",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "first_answer=" in proc.stdout  # the closing summary line
    meta = json.loads((run / "run.json").read_text())
    assert meta["config"]["plugins"] == ["my_plugin"] and meta["config"]["data"]["max_new_tokens"] == 48
    assert "first_answer" in meta["summary"]
    ids = [json.loads(line)["problem_id"] for line in (run / "problems.jsonl").read_text().splitlines()]
    assert ids == ["sums/0", "sums/1"]

    report = run / "report"
    summary = (report / "summary.md").read_text()
    assert "## Two-number sums" in summary and "| first_answer |" in summary
    for figure in ("sums_vs_time", "sums_vs_samples"):  # against time, and over k-subsets of its function
        assert methods_in(report / f"{figure}.csv") == {"coverage", "majority", "first_answer"}
        assert "First stated answer" in (report / f"{figure}.svg").read_text()  # the panel's title

    # Fresh processes import the plugin again from run.json: grading and the report.
    regraded = command("harness.grading", str(run), "--regrade")
    assert regraded.returncode == 0, regraded.stderr[-3000:]
    assert "first_answer" in json.loads((run / "run.json").read_text())["summary"]
    plots = tmp_path / "plots"
    reported = command("harness.report", str(run), "--out", str(plots))
    assert reported.returncode == 0, reported.stderr[-3000:]
    assert "| first_answer |" in (plots / "summary.md").read_text()

    # Where the plugin cannot be imported, the run's own config says which module is missing.
    lost = command("harness.report", str(run), "--out", str(tmp_path / "elsewhere"), path=(ROOT,))
    assert lost.returncode == 1 and lost.stderr.count("\n") == 1
    assert "plugins: cannot import 'my_plugin'" in lost.stderr and "PYTHONPATH" in lost.stderr


def test_help_lists_the_registered_and_the_plugins_entries():
    builtin = command("harness", "--help")
    assert builtin.returncode == 0
    for entry in ("gsm8k (GSM8K)", "math500 (MATH-500)", "rm_weighted (needs rewards)", "hf (plain)",
                  "vllm (optimized)", "auto, slot"):
        assert entry in builtin.stdout
    assert "sums" not in builtin.stdout
    mine = command("harness", "plugins=[my_plugin]", "--help")
    assert "sums (Two-number sums)" in mine.stdout and "first_answer" in mine.stdout


def test_an_installed_plugin_registers_through_its_entry_point(tmp_path):
    # A package's metadata as pip installs it, declaring tests/my_plugin.py in the group harness.plugins.
    info = tmp_path / "site" / "my_plugin_package-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin-package\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[harness.plugins]\nmine = my_plugin\n")
    proc = command("harness", "--help", path=(ROOT, TESTS, tmp_path / "site"))
    assert proc.returncode == 0 and "sums (Two-number sums)" in proc.stdout and "first_answer" in proc.stdout


def test_a_plugin_that_cannot_be_imported_stops_the_run_in_one_line(tmp_path):
    proc = command("harness", "debug=tiny", "plugins=[no_such_plugin]", f"hydra.run.dir={tmp_path / 'run'}")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: plugins: cannot import 'no_such_plugin'")
    assert not (tmp_path / "run" / "run.json").exists()


RECIPES = r'''
import re, sys
from pathlib import Path

import pandas as pd

doc = Path("docs/extending.md").read_text()
for block in re.findall(r"```python\n(.*?)```", doc, flags=re.S):
    exec(block, {"__name__": "recipe"})

from harness.analysis import selection as sel
from harness.config import DataConfig
from harness.data import load_problems
from harness.generation.backends.auto import Facts, choose_backend

aime = load_problems(DataConfig(name="aime23", dir=sys.argv[1]))
sums = load_problems(DataConfig(name="sums", limit=3))
df = pd.DataFrame({"problem_id": ["p"] * 3, "sample_idx": [0, 1, 2], "t_end_s": [1.0, 2.0, 3.0],
                   "pred": ["7", "8", "8"], "correct": [True, False, False], "n_tokens": [10, 400, 400],
                   "answer_class": [0, 1, 1], "reward": [None] * 3, "reward_s": [None] * 3})
picks = {m: float(sel.at_times(sel.steps(df, m), [9.0])[0, 0]) for m in ("majority", "short_majority", "first_answer")}
turbo = choose_backend("auto", Facts(cuda=True, architecture="llama", installed=frozenset({"turbo", "vllm"})))
print(len(aime), aime[0].problem_id, aime[0].gold, [p.problem_id for p in sums], picks, turbo.backend, turbo.reason)
'''


def test_the_recipes_of_docs_extending_md_register_and_work(tmp_path):
    (tmp_path / "aime23").mkdir()
    rows = [{"id": 1, "problem": "...", "answer": "080"}, {"id": 2, "problem": "...", "answer": "13"}]
    (tmp_path / "aime23" / "test.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    proc = subprocess.run([sys.executable, "-c", RECIPES, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [
        "2", "aime23/1", "080", "['sums/10+7',", "'sums/10+8',", "'sums/11+7']",
        # two short wrong answers lose to one short right one when shorter samples weigh more
        "{'majority':", "0.0,", "'short_majority':", "1.0,", "'first_answer':", "1.0}",
        "turbo", "auto:", "llama", "on", "CUDA", "with", "Turbo", "installed:", "Turbo"]
