"""No function longer than 50 lines in the digest, storage, scheduling and runtime code (decorators and docstrings
count: a reader meets them too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("services/digest", "services/storage", "services/scheduling", "runtime")
MAX_LINES = 50


def long_functions(path: Path, limit: int = MAX_LINES) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = node.end_lineno - first + 1
            if length > limit:
                found.append(f"{node.name} ({length} lines, line {node.lineno})")
    return found


@pytest.mark.parametrize("path", [p for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_function_is_longer_than_50_lines(path):
    assert long_functions(path) == []


def test_the_check_counts_a_long_function(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("@decorator\ndef f():\n" + "    x = 1\n" * 50)
    assert long_functions(sample) == ["f (52 lines, line 2)"]
