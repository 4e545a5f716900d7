"""The folder tree is the architecture: every package and loose module of cnnexp names the parts it may import,
imports point down, packages never import each other in a loop, and only the doors read Hydra's state.

Reads every module's imports with ast (those inside functions too: a lazy import is still a dependency; those
under TYPE_CHECKING are not), so the rules hold for the code as written, whatever is imported first at run time.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest
from support import ROOT

SRC = ROOT / "src" / "cnnexp"
# What each part may import, from the floor up. A part is a package (cnnexp/model/) or a loose module
# (cnnexp/run.py); a new part, or a new arrow between parts, is a decision to write down here.
# The package's own __init__ (its version, conf/'s place) imports nothing of cnnexp, and every part may read it.
ALLOWED: dict[str, tuple[str, ...]] = {
    "cnnexp": (),
    "errors": (),
    "config": ("errors",),  # value readers, registries, the task table, Hydra's settings as a value
    "model": ("config", "errors"),
    "data": ("config", "errors"),
    "export": ("config", "errors"),
    "rundir": ("config", "errors"),
    "viz": ("config", "errors", "model", "data"),
    "train": ("config", "errors", "model", "data", "rundir"),
    "run": ("config", "errors", "model", "data", "train", "viz"),  # the edge: a composed config read once
    "checkpoint": ("config", "errors", "model", "data", "rundir", "train", "run"),
    "sweep": ("config", "errors", "rundir", "model", "run"),  # a sweep's pre-flight reads and plans every job
    "report": ("config", "errors", "rundir", "sweep"),
    "schemas": ("config", "errors", "model", "data", "viz", "train"),
    "tasks": ("config", "errors", "model", "data", "export", "rundir", "viz", "train", "run", "checkpoint", "sweep"),
    "cli": ("config", "errors", "rundir", "train", "checkpoint", "report"),
    "app": ("cli", "config", "errors", "rundir", "schemas", "tasks"),  # the command line's door
    "api": ("cli", "config", "errors", "model", "run", "schemas", "tasks", "train"),  # the Python door
    "__main__": ("app",),
}
# The only module that reads Hydra's own state: everything below the doors gets it as config/invocation.py's value.
HYDRA_STATE = "hydra.core.hydra_config"
HYDRA_READER = "cnnexp.cli.invocation"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """cnnexp.model.layers.conv -> model; cnnexp.run -> run; cnnexp -> cnnexp."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "cnnexp"


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node, except those of `if TYPE_CHECKING:` blocks (imports for annotations only)."""
    found: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def imports(path: Path) -> set[str]:
    """Every module imported anywhere in the file (the names of `from X import a` as X.a too)."""
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@functools.cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in SRC.rglob("*.py")}


@functools.cache
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {m for m in imports(path) if m in known and m != name} for name, path in known.items()}


def test_every_part_has_a_rule() -> None:
    parts = {part_of(name) for name in modules()}
    assert sorted(parts - set(ALLOWED)) == [], "add the new part to ALLOWED, with what it may import"
    assert sorted(set(ALLOWED) - parts) == [], "a rule for a part that is gone"


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_imports_point_down(part: str) -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph().items()
        if part_of(module) == part
        for target in targets
        if part_of(target) not in (part, *ALLOWED[part]) and (part_of(target) != "cnnexp" or part == "cnnexp")
    )
    assert wrong == []


def test_the_rules_have_no_loop() -> None:
    assert _loops({part: set(allowed) for part, allowed in ALLOWED.items()}) == []


def test_no_package_loop() -> None:
    parts: dict[str, set[str]] = {}
    for module, targets in graph().items():
        parts.setdefault(part_of(module), set()).update(part_of(t) for t in targets if part_of(t) != part_of(module))
    assert _loops(parts) == []


def test_no_module_loop() -> None:
    # A package's __init__ importing its own submodules (registration by import) is not a loop of the design.
    top_level = {
        name: {m for m in _top_level(path) if m in modules() and m != name} for name, path in modules().items()
    }
    assert [loop for loop in _loops(top_level) if not _package_registration(loop)] == []


def test_only_the_door_reads_hydras_state() -> None:
    readers = sorted(name for name, path in modules().items() if any(m.startswith(HYDRA_STATE) for m in imports(path)))
    assert readers == [HYDRA_READER]


def _top_level(path: Path) -> set[str]:
    """Modules imported when the file is imported (a loop among these is an import error waiting to happen)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.update({node.module, *(f"{node.module}.{alias.name}" for alias in node.names)})
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _loops(edges: dict[str, set[str]]) -> list[str]:
    state: dict[str, str] = {}
    loops: list[str] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                loops.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    return loops


def _package_registration(loop: str) -> bool:
    names = loop.split(" -> ")
    return all(n.startswith(names[0]) or names[0].startswith(n) for n in names)


def test_the_checks_find_what_they_look_for() -> None:
    """The loop finder and the part names on made-up input: a check that cannot fail is no check."""
    assert _loops({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a -> b -> c -> a"]
    assert _loops({"a": {"b"}, "b": set()}) == []
    assert [part_of(m) for m in ("cnnexp", "cnnexp.run", "cnnexp.model.layers.conv")] == ["cnnexp", "run", "model"]
