"""The layering docs/architecture.md states: dependencies point one way, modules stay small."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "harness"
MAX_LINES = 400

# package -> the project packages / modules it may import (besides itself and the leaves)
LEAVES = {"harness.generation.session", "harness.registry", "harness.jsonl", "harness.errors"}
ALLOWED = {
    "harness.generation.kernels": set(),
    "harness.generation.models": {"harness.generation.kernels"},
    "harness.generation.engine": {"harness.generation.kernels", "harness.generation.models"},
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
    return next((p for p in ALLOWED if module == p or module.startswith(p + ".")), module)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_lower_layers_import_nothing_above_them(package):
    for path in (ROOT / package.replace(".", "/")).rglob("*.py"):
        above = {m for m in imported(path) if owner(m) not in {package, *ALLOWED[package]} and m not in LEAVES}
        assert not above, f"{path.relative_to(ROOT)} imports {sorted(above)}"


def test_the_backend_interface_imports_no_torch():
    code = ("import sys, harness.generation.backends, harness.generation.backends.base, harness.generation.session; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_400_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES
