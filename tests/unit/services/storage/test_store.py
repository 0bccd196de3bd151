"""StateStore.create_schema when another process creates the same tables at the same moment."""

from __future__ import annotations

from sqlalchemy import create_engine, event, inspect

from services.storage.store import StateStore, metadata


def test_a_table_created_by_another_process_mid_way_is_not_an_error(tmp_path):
    # gunicorn's workers (and web with clock) start together on a fresh database. Reproduce the loser's view:
    # create_all has checked that "cursors" is missing, and another process creates it before our CREATE TABLE.
    url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    other = create_engine(url)
    cursors = metadata.tables["cursors"]

    def other_process_wins(*_args, **_kwargs):
        cursors.create(other)

    event.listen(cursors, "before_create", other_process_wins, once=True)
    store = StateStore.from_url(url)
    try:
        store.create_schema()
        assert set(metadata.tables) <= set(inspect(store.engine).get_table_names())
    finally:
        if event.contains(cursors, "before_create", other_process_wins):
            event.remove(cursors, "before_create", other_process_wins)
        store.engine.dispose()
        other.dispose()


def test_processes_creating_the_schema_at_once_on_a_fresh_database_all_start(tmp_path):
    """gunicorn's workers (and web and clock) start together: one exited on "table watches already exists"."""
    import threading

    for round_ in range(5):
        url = f"sqlite:///{tmp_path}/fresh-{round_}.sqlite3"
        stores = [StateStore.from_url(url) for _ in range(6)]
        start, failures = threading.Barrier(len(stores)), []

        threads = [threading.Thread(target=_create_schema, args=(store, start, failures)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
        assert set(inspect(stores[0].engine).get_table_names()) == set(metadata.tables)
        for store in stores:
            store.engine.dispose()


def _create_schema(store, start, failures) -> None:
    start.wait(30)
    try:
        store.create_schema()
    except Exception as err:  # noqa: BLE001 - the test collects what any of them raised
        failures.append(err)
