"""Layers point one way: `blocks/` reads only plain models and errors, `services/` never reaches up into
`blocks/` or `handlers/`, `config/` knows nothing of `services/`, and every domain error lives in
`services/errors.py`. Imports inside functions count as much as those at the top."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import services
from services.errors import BotError, StartupError

ROOT = Path(__file__).resolve().parent.parent
# What `blocks/` may import from the rest of the project: plain dataclasses and exception types.
PLAIN = {"services.models", "services.errors"}
PROJECT = {"app_factory", "bench", "blocks", "bot", "config", "devtools", "handlers", "runtime", "services", "web",
           "web_server"}


def imported_modules(path: Path) -> set[str]:
    """Every project module `path` imports, at the top or inside a function.

    `from services import errors` imports `services.errors`; `from services.models import Page`, `services.models`.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if is_module(submodule) else node.module)
    return {name for name in found if name.split(".")[0] in PROJECT}


def is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def modules_in(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules_in("blocks"), ids=lambda p: p.name)
def test_blocks_import_only_plain_models_and_errors(path):
    outside = {name for name in imported_modules(path) if not name.startswith("blocks")}
    assert outside <= PLAIN, f"{path.relative_to(ROOT)} imports {sorted(outside - PLAIN)}"


@pytest.mark.parametrize("path", modules_in("services"), ids=lambda p: str(p.relative_to(ROOT / "services")))
def test_services_never_import_blocks_or_handlers(path):
    upward = {name for name in imported_modules(path) if name.split(".")[0] in {"blocks", "handlers"}}
    assert not upward, f"{path.relative_to(ROOT)} imports {sorted(upward)}"


@pytest.mark.parametrize("path", modules_in("config"), ids=lambda p: p.name)
def test_config_imports_nothing_from_services(path):
    assert not {name for name in imported_modules(path) if name.startswith("services")}


def test_every_domain_error_is_declared_in_services_errors():
    for module in pkgutil.walk_packages(services.__path__, "services."):
        importlib.import_module(module.name)
    misplaced = []
    todo = [BotError, StartupError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__ != "services.errors" and not cls.__module__.startswith("tests"):
            misplaced.append(f"{cls.__module__}.{cls.__qualname__}")
    assert not misplaced


def test_the_layer_check_sees_imports_inside_functions(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from services.listing.paging import DeletionJobPager\n")
    assert "services.listing.paging" in imported_modules(sample)
