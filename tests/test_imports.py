"""The import graph of harness: every module's imports, those inside functions included, and the
packages Python runs on the way (importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__``
first). It has no cycle, and each stage's package imports only the stages below it
(docs/architecture.md)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest
from conftest import ROOT, module_name

PACKAGE = ROOT / "harness"


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _ancestors(name: str) -> Iterator[str]:
    parts = name.split(".")
    for i in range(1, len(parts)):
        yield ".".join(parts[:i])


def imports(name: str) -> set[str]:
    """The project modules importing ``name`` runs, directly: what it imports (anywhere in it) and
    the packages above those that are not above ``name`` itself (those are running already)."""
    path = MODULES[name]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (the project imports absolutely)"
            targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {t for t in targets if t in MODULES}
    mine = set(_ancestors(name)) | {name}
    return {a for t in found for a in (*_ancestors(t), t) if a in MODULES and a not in mine} - {name}


GRAPH = {name: imports(name) for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (its modules in order, the first repeated at the end), else None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("graph, cycle", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b"}, "b": set(), "c": {"c"}}, ["c", "c"]),
    ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, None),
])
def test_find_cycle_finds_one_where_there_is_one(graph, cycle):
    assert find_cycle(graph) == cycle


def test_a_package_is_run_by_importing_its_modules():
    # grading's voting classes: selection imports the grader, which runs harness.grading first.
    assert {"harness.grading", "harness.grading.grader"} <= GRAPH["harness.analysis.methods"]
    assert "harness.grading" not in GRAPH["harness.grading.grader"]  # its own package runs already
