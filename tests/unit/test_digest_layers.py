"""The digest's layers point one way: services/digest, services/storage and services/scheduling import neither
`blocks/` nor `handlers/` (the renderer is injected by app_factory, answers are rendered by handlers/digest.py),
and `config/` imports nothing from `services/`. Imports inside functions count as much as those at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules(*folders: str) -> list[Path]:
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))]


@pytest.mark.parametrize("path", modules("services/digest", "services/storage", "services/scheduling"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_digest_services_import_no_blocks_or_handlers(path):
    upward = {name for name in imported(path) if name.split(".")[0] in {"blocks", "handlers"}}
    assert upward == set()


@pytest.mark.parametrize("path", modules("config"), ids=lambda p: str(p.relative_to(ROOT)))
def test_config_imports_nothing_from_services(path):
    assert {name for name in imported(path) if name.split(".")[0] == "services"} == set()


def test_an_import_inside_a_function_counts(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from blocks.digest import render_digest\n")
    assert "blocks.digest" in imported(sample)
