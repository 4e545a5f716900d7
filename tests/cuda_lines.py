"""Every GPU-only line of src/ ran in the tests: the check .ci/run makes after `pytest --cov`.

A statement is GPU-only when its own lines mention `torch.cuda` or the device type "cuda" (an `if`'s test, not
its body), or when it sits in the body of an `if` whose test does. Each must have run in some test (no GPU:
tests/cuda_site/fake_cuda.py fakes them), and each that branches must have gone every way: a line such as
`if not (parallel and torch.cuda.device_count() > 1):` runs in every test while its GPU side may never.

    python tests/cuda_lines.py [--data-file .coverage] [--src src]

reads the combined coverage data (branch data included, pyproject.toml's [tool.coverage]), prints file:line of
each GPU-only statement that did not run or went one way only, and exits 1 if there is any.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import coverage

MENTION = re.compile(r"torch\.cuda\b|[\"']cuda[\"']")
NESTED = ("body", "orelse", "finalbody", "handlers")


def own_lines(stmt: ast.stmt) -> range:
    """The lines that belong to the statement itself: a compound statement's header, a simple one's whole text."""
    if isinstance(stmt, (ast.If, ast.While)):
        end = stmt.test.end_lineno
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        end = stmt.iter.end_lineno
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        end = stmt.items[-1].context_expr.end_lineno
    elif any(hasattr(stmt, name) for name in NESTED) or isinstance(stmt, ast.Match):
        end = stmt.lineno  # def, class, try, match: their own line
    else:
        end = stmt.end_lineno
    return range(stmt.lineno, (end or stmt.lineno) + 1)


def gpu_statements(source: str) -> set[int]:
    """The first lines of the GPU-only statements of a module's `source`."""
    lines = source.splitlines()
    found: set[int] = set()

    def visit(body: Sequence[ast.AST], guarded: bool) -> None:
        for stmt in body:
            if not isinstance(stmt, ast.stmt):  # an except clause: its body is visited below
                _visit_nested(stmt, guarded)
                continue
            if (
                isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            ):
                continue  # a docstring
            mentions = any(MENTION.search(lines[i - 1]) for i in own_lines(stmt))
            if mentions or guarded:
                found.add(stmt.lineno)
            if isinstance(stmt, ast.If) and mentions:
                visit(stmt.body, True)
                visit(stmt.orelse, guarded)
            else:
                _visit_nested(stmt, guarded)

    def _visit_nested(node: ast.AST, guarded: bool) -> None:
        for name in NESTED:
            visit(getattr(node, name, []), guarded)

    visit(ast.parse(source).body, False)
    return found


def untested(data_file: Path, files: Sequence[Path]) -> Iterator[str]:
    """'path:line  text' for each GPU-only statement of `files` that did not run, or did not go every way."""
    cov = coverage.Coverage(data_file=str(data_file))
    cov.load()
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "coverage.json"
        cov.json_report(morfs=[str(f) for f in files], outfile=str(out))
        report = {Path(name).resolve(): facts for name, facts in json.loads(out.read_text())["files"].items()}
    for path in files:
        facts = report.get(path.resolve())
        if facts is None:
            continue  # no statements at all
        source = path.read_text()
        ran, missed = set(facts["executed_lines"]), set(facts["missing_lines"])
        one_way = {}
        for start, to in facts.get("missing_branches", []):
            one_way.setdefault(start, []).append("exit" if to < 0 else str(to))
        text = source.splitlines()
        for line in sorted(gpu_statements(source) & (ran | missed)):
            if line in missed:
                yield f"{path}:{line}  never ran: {text[line - 1].strip()}"
            elif line in one_way:
                yield f"{path}:{line}  never went on to line {', '.join(one_way[line])}: {text[line - 1].strip()}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-file", type=Path, default=Path(".coverage"))
    parser.add_argument("--src", type=Path, default=Path("src"))
    args = parser.parse_args(argv)
    if not args.data_file.is_file():
        print(
            f"cuda_lines: no coverage data at {args.data_file}: run the tests with --cov first (.ci/run)",
            file=sys.stderr,
        )
        return 2
    files = sorted(args.src.rglob("*.py"))
    checked = sum(len(gpu_statements(f.read_text())) for f in files)
    problems = list(untested(args.data_file, files))
    if problems:
        print(f"{len(problems)} of {checked} GPU-only statements of {args.src}/ were not fully tested (fake GPUs for a "
              f"test: the fake_cuda fixture, tests/cuda_site/fake_cuda.py):", file=sys.stderr)  # fmt: skip
        print("\n".join(f"  {p}" for p in problems), file=sys.stderr)
        return 1
    print(f"cuda_lines: all {checked} GPU-only statements of {args.src}/ ran, every way they branch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
