"""No function in the non-test code is longer than 50 lines (its `def` line to its last, docstring included)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 50


def long_functions() -> dict[str, int]:
    """`path:line name` → length, for every function over LIMIT lines outside tests/."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] == "tests" or any(part.startswith(".") for part in relative.parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > LIMIT:
                    found[f"{relative.as_posix()}:{node.lineno} {node.name}"] = length
    return found


def test_no_function_is_longer_than_50_lines():
    assert long_functions() == {}
