"""One schema module declares every table, and creating the schema never depends on what was imported before."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from services.storage import schema
from services.storage.store import StateStore

ROOT = Path(__file__).resolve().parents[4]
SOURCE_FOLDERS = ("services", "handlers", "blocks", "runtime", "config", "devtools", "bench")


def test_a_fresh_process_that_imports_only_the_store_creates_every_table(tmp_path):
    # In this test process every store module is imported already; a new interpreter is what `python bot.py`
    # or a test that imports nothing else meets.
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    script = (
        "import sys\n"
        "from sqlalchemy import inspect\n"
        "from services.storage.store import StateStore\n"
        "store = StateStore.from_url(sys.argv[1])\n"
        "store.create_schema()\n"
        "print(','.join(sorted(inspect(store.engine).get_table_names())))\n"
    )
    result = subprocess.run([sys.executable, "-c", script, url], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    created = set(result.stdout.strip().split(","))
    assert created == set(schema.metadata.tables)
    assert {"cursors", "digest_subscriptions", "digest_ledger"} <= created


def test_create_schema_creates_what_the_schema_module_declares(tmp_path):
    store = StateStore.from_url(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    try:
        store.create_schema()
        assert set(inspect(store.engine).get_table_names()) == set(schema.metadata.tables)
    finally:
        store.engine.dispose()


def tables_declared_in(path: Path) -> list[str]:
    """The first argument of every `Table(...)` call in the file (the table's name, or `?` when not a literal)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Table":
            first = node.args[0] if node.args else None
            names.append(first.value if isinstance(first, ast.Constant) else "?")
    return names


def test_no_module_but_the_schema_declares_a_table():
    elsewhere = {
        str(path.relative_to(ROOT)): tables
        for folder in SOURCE_FOLDERS
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != ROOT / "services" / "storage" / "schema.py" and (tables := tables_declared_in(path))
    }
    assert elsewhere == {}, "declare tables in services/storage/schema.py"
    assert sorted(tables_declared_in(ROOT / "services" / "storage" / "schema.py")) == sorted(schema.metadata.tables)
