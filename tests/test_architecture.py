"""The folder tree is the architecture: imports point down, never in a loop.

Reads every module's top-level imports (not those inside functions or under TYPE_CHECKING) with ast, so the
rules hold for the code as written, whatever happens to be imported first at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

SRC = ROOT / "src" / "cnnexp"
# Packages that must not import these others: the model and the data know nothing of training or pictures,
# and training knows nothing of pictures or the config edge.
FORBIDDEN = {
    "model": ("data", "train", "viz", "tasks", "report", "sweep", "run", "experiment"),
    "data": ("model", "train", "viz", "tasks", "report", "sweep", "run", "experiment"),
    "train": ("viz", "tasks", "report", "sweep", "run", "experiment"),
    "fields": ("model", "data", "train", "viz", "tasks", "run"),
    "groups": ("model", "data", "train", "viz", "tasks", "run"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """cnnexp modules imported at module level (TYPE_CHECKING blocks and function bodies excluded)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cnnexp"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("cnnexp"))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    return {name: {m for m in top_level_imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_no_import_loop() -> None:
    edges, state, loops = graph(), {}, []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                loops.append(" -> ".join([*trail[trail.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    # A package's __init__ importing its own submodules (registration by import) is not a loop of the design.
    loops = [loop for loop in loops if not _package_registration(loop)]
    assert loops == []


def _package_registration(loop: str) -> bool:
    names = loop.split(" -> ")
    return all(n.startswith(names[0]) or names[0].startswith(n) for n in names)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_down(package: str) -> None:
    below = [f"cnnexp.{name}" for name in FORBIDDEN[package]]
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph().items()
        if module == f"cnnexp.{package}" or module.startswith(f"cnnexp.{package}.")
        for target in targets
        if any(target == b or target.startswith(f"{b}.") for b in below)
    )
    assert wrong == []
