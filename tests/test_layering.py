"""The layering docs/architecture.md states: each stage's package imports only the stages below it,
modules stay small. (tests/test_imports.py: the import graph has no cycle.)"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, module_name

PACKAGE = ROOT / "harness"
MAX_LINES = 400

# Imported from anywhere, importing nothing of the stages: the typed configs, the budget's grammar,
# the records and their writer, errors, registries and plugins, JSONL.
LEAVES = {"harness", "harness.config", "harness.budget", "harness.store", "harness.errors", "harness.registry",
          "harness.plugins", "harness.jsonl"}
# stage -> the stages it may import besides itself and the leaves; dependencies point down the data flow.
ALLOWED = {
    "harness.generation.kernels": set(),
    "harness.generation.models": {"harness.generation.kernels"},
    "harness.generation.engine": {"harness.generation.kernels", "harness.generation.models",
                                  "harness.generation.session"},
    "harness.generation": set(),
    "harness.data": set(),
    "harness.grading": {"harness.data"},
    "harness.reward": {"harness.data", "harness.generation"},
    "harness.analysis": {"harness.grading", "harness.data", "harness.generation"},
    "harness.report": {"harness.analysis", "harness.data", "harness.generation"},
    "harness.extensions": {"harness.analysis", "harness.data", "harness.generation"},
    "harness.measure": {"harness.generation", "harness.data", "harness.grading", "harness.reward", "harness.analysis"},
    "harness.ops": {"harness.measure", "harness.generation", "harness.data", "harness.grading", "harness.report",
                    "harness.extensions"},
    # The Python API (harness.run, harness.load): a command in all but name, above every stage.
    "harness.api": {"harness.ops", "harness.measure", "harness.report", "harness.analysis", "harness.extensions"},
}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n == "harness" or n.startswith("harness.")}


def owner(module: str) -> str:
    """The most specific stage in ALLOWED (or leaf) that holds ``module``."""
    holders = [p for p in (*ALLOWED, *LEAVES) if module == p or module.startswith(p + ".")]
    return max(holders, key=len) if holders else module


def is_entry(path: Path) -> bool:
    """A command (``python -m ...``): top of the graph, it may import any stage."""
    rel = path.relative_to(ROOT)
    return path.name == "__main__.py" or (rel.parent == Path("harness") and path.stem in {"status", "profile",
                                                                                         "fetch_data"})


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_stage_imports_only_the_stages_below_it(package):
    for path in (ROOT / package.replace(".", "/")).rglob("*.py"):
        if is_entry(path) or owner(module_name(path)) != package:
            continue
        below = (package, *ALLOWED[package])
        above = {m for m in imported(path)
                 if owner(m) not in LEAVES and not any(m == b or m.startswith(b + ".") for b in below)}
        assert not above, f"{path.relative_to(ROOT)} imports {sorted(above)}"


def test_every_module_belongs_to_a_stage_or_is_a_leaf_or_a_command():
    for path in modules():
        name = module_name(path)
        assert is_entry(path) or owner(name) in {*ALLOWED, *LEAVES}, f"{path.relative_to(ROOT)}: add it to a stage"


def test_the_leaves_import_no_stage():
    for leaf in LEAVES - {"harness"}:
        path = ROOT / (leaf.replace(".", "/") + ".py")
        assert {owner(m) for m in imported(path)} <= LEAVES, f"{path.relative_to(ROOT)} imports a stage"


def test_reading_declarations_imports_no_torch():
    # The backend interface, the backends' declarations (the report's speed classes, config
    # validation) and the other registries load without torch.
    code = ("import sys, harness.generation.backends, harness.generation.backends.base, harness.generation.session, "
            "harness.extensions; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_400_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES
