"""SQLite's own cases: a relative ``sqlite:`` path, a file that can never be opened, and the
full-text index filled many rows at a time (rows waiting for it, the upgrade of older files).

Through pytest-twisted with the real reactor and real files; every wait is bounded.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from tests.inprocess.test_storage import BASE, close, query, read_rows
from tests.support.waits import bounded, get_reactor, in_thread
from twisted_chat.events import Public
from twisted_chat.storage import (
    DatabaseMisconfigured,
    DatabaseUnavailable,
    open_login_store,
    parse_db_url,
)
from twisted_chat.storage.database import Database
from twisted_chat.storage.engines import engine_for, schema_statements
from twisted_chat.storage.history import INDEX_EVERY, HistoryStore
from twisted_chat.storage.url import SqliteURL


@pytest_twisted.ensureDeferred
async def test_sqlite_relative_path_is_relative_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--db sqlite:relative/path`` creates the file under the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    url = parse_db_url("sqlite:data/chat.sqlite3", {})
    assert url == SqliteURL("data/chat.sqlite3")
    store = open_login_store(url, reactor)
    store.start()
    try:
        assert await bounded(store.record_login("Ana", BASE)) is None
    finally:
        close(store)
    absolute = SqliteURL(str(tmp_path / "data" / "chat.sqlite3"))
    assert Path(absolute.path).is_file()
    assert await read_rows(absolute) == [("ana", "Ana", "2026-11-24 08:30:00")]


@pytest_twisted.ensureDeferred
async def test_misconfigured_database_reports_once_and_stops_trying(tmp_path: Path) -> None:
    """A real SQLite path that cannot be opened: the hook hears of it once, before any caller;
    every later ``ensure_ready`` fails at once; the login store keeps the record and stops."""
    store = open_login_store(SqliteURL(str(tmp_path / "missing" / "x.db")), get_reactor())
    database = store.database
    heard: list[tuple[DatabaseMisconfigured, int]] = []
    database.on_misconfigured = lambda error: heard.append((error, store.queued))
    try:
        with pytest.raises(DatabaseUnavailable):
            await bounded(store.record_login("ana", datetime.now(UTC)))
        [(error, _)] = heard
        assert "cannot open the file" in str(error)
        assert database.misconfigured is error
        with pytest.raises(DatabaseMisconfigured):
            await bounded(database.ensure_ready())
        assert len(heard) == 1
        assert store.queued == 1  # kept, and no longer retried
        assert await bounded(store.flush(5.0)) == 1  # at once, not after 5 s
    finally:
        store.stop()
        database.close()


# -- the full-text index, filled many rows at a time -----------------------------------------

#: 2026-11-24 08:30:00 UTC in ms.
T0 = 1_795_509_000_000

#: The triggers of files made before rows waited for the index (every row indexed at once).
OLD_TRIGGERS = (
    "CREATE TRIGGER mensajes_fts_insert AFTER INSERT ON mensajes BEGIN "
    "INSERT INTO mensajes_fts (rowid, text) VALUES (new.n, new.text); END",
    "CREATE TRIGGER mensajes_fts_delete AFTER DELETE ON mensajes BEGIN "
    "INSERT INTO mensajes_fts (mensajes_fts, rowid, text) VALUES ('delete', old.n, old.text); END",
)


def _number(url: SqliteURL, sql: str) -> int:
    rows = query(url, sql)
    return int(rows[0][0])


def _index_matches_table(url: SqliteURL) -> None:
    """FTS5's own check that the index is exactly the text of every row of ``mensajes``
    (``rank`` 1: against the content table); raises if not."""
    conn = sqlite3.connect(url.path, timeout=5)
    try:
        conn.execute("INSERT INTO mensajes_fts (mensajes_fts, rank) VALUES ('integrity-check', 1)")
    finally:
        conn.close()


async def _one_per_turn(history: HistoryStore, events: list[Public]) -> None:
    """Add ``events`` one per transaction, as at a low rate."""
    for event in events:
        assert await bounded(history.add(event)) is True


@pytest_twisted.ensureDeferred
async def test_search_finds_messages_waiting_for_the_index(tmp_path: Path) -> None:
    """Messages written one per transaction wait for the full-text index (fewer than
    INDEX_EVERY of them) and /buscar still finds them, after the indexed ones' order; deleting
    waiting and indexed rows keeps the index exact; the INDEX_EVERY-th row indexes them all."""
    url = SqliteURL(str(tmp_path / "h.sqlite3"))
    database = Database(engine_for(url), get_reactor())
    history = HistoryStore(database, get_reactor(), days=30)
    try:
        # The first write indexes (the store starts owing an index step), the others wait; a
        # waiting word right after an IRC colour code is found as its readers see it.
        texts = ["café con leche", "otro café", "nada", "\x0304CAFE solo", "el último café"]
        events = [Public(f"m{n}", T0 + n, "general", "Ana", t) for n, t in enumerate(texts)]
        await _one_per_turn(history, events)
        assert (
            await in_thread(lambda: _number(url, "SELECT COUNT(*) FROM mensajes_sin_indice")) == 4
        )
        found = await bounded(history.search("general", ["cafe"]))
        assert [m.id for m in found] == ["m0", "m1", "m3", "m4"]
        limited = await bounded(history.search("general", ["cafe"], 2))
        assert [m.id for m in limited] == ["m3", "m4"]
        assert [m.id for m in await bounded(history.search("otra", ["cafe"]))] == []
        # Ana forgets everything: indexed and waiting rows alike leave cleanly.
        assert await bounded(history.forget("ana")) == 5
        assert (
            await in_thread(lambda: _number(url, "SELECT COUNT(*) FROM mensajes_sin_indice")) == 0
        )
        await in_thread(lambda: _index_matches_table(url))
        # New rows reuse the deleted rows' numbers (none is left); they wait, and the store,
        # owing 4 rows, indexes all that wait at the INDEX_EVERY-th.
        more = [
            Public(f"x{n}", T0 + 100 + n, "general", "Bea", f"té {n}")
            for n in range(INDEX_EVERY - 4)
        ]
        await _one_per_turn(history, more[:-1])
        waiting = await in_thread(lambda: _number(url, "SELECT COUNT(*) FROM mensajes_sin_indice"))
        assert waiting == INDEX_EVERY - 5
        await _one_per_turn(history, more[-1:])
        waiting = await in_thread(lambda: _number(url, "SELECT COUNT(*) FROM mensajes_sin_indice"))
        assert waiting == 0
        await in_thread(lambda: _index_matches_table(url))  # raises unless every row matches
        assert len(await bounded(history.search("general", ["te"]))) == 20
    finally:
        history.stop()
        database.close()


@pytest_twisted.ensureDeferred
async def test_a_large_batch_is_indexed_as_it_is_written(tmp_path: Path) -> None:
    """INDEX_EVERY or more messages in one transaction are in the full-text index at once."""
    url = SqliteURL(str(tmp_path / "h.sqlite3"))
    database = Database(engine_for(url), get_reactor())
    history = HistoryStore(database, get_reactor(), days=30)
    try:
        first = [Public("a0", T0, "general", "Ana", "hola")]
        await _one_per_turn(history, first)
        batch = [Public(f"b{n}", T0 + n, "general", "Ana", f"hola {n}") for n in range(INDEX_EVERY)]
        results = await bounded(defer.gatherResults([history.add(e) for e in batch]), 60)
        assert all(results)
        assert (
            await in_thread(lambda: _number(url, "SELECT COUNT(*) FROM mensajes_sin_indice")) == 0
        )
        await in_thread(lambda: _index_matches_table(url))
    finally:
        history.stop()
        database.close()


@pytest_twisted.ensureDeferred
async def test_file_of_the_former_schema_is_upgraded(tmp_path: Path) -> None:
    """A file whose triggers indexed every row at once: its rows are all searchable and
    deletable after the upgrade, and new ones wait for the index like any other."""
    url = SqliteURL(str(tmp_path / "old.sqlite3"))

    def make_old_file() -> None:
        conn = sqlite3.connect(url.path)
        for statement in schema_statements("sqlite.sql"):
            if "mensajes_sin_indice" not in statement and "TRIGGER" not in statement.upper():
                conn.execute(statement)
        for statement in OLD_TRIGGERS:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO mensajes (id, room_key, sent_at, nickname, nick_key, text) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(f"o{n}", "general", T0 + n, "Old", "old", f"antiguo {n}") for n in range(10)],
        )
        conn.commit()
        conn.close()

    await in_thread(make_old_file)
    database = Database(engine_for(url), get_reactor())
    history = HistoryStore(database, get_reactor(), days=30)
    try:
        await _one_per_turn(history, [Public("n0", T0 + 50, "general", "Ana", "nuevo antiguo")])
        await _one_per_turn(history, [Public("n1", T0 + 51, "general", "Ana", "antiguo otra vez")])
        triggers = await in_thread(
            lambda: query(
                url, "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
            )
        )
        assert triggers == [("mensajes_borrados",), ("mensajes_por_indexar",)]
        found = await bounded(history.search("general", ["antiguo"]))
        assert [m.id for m in found] == [*(f"o{n}" for n in range(10)), "n0", "n1"]
        assert await bounded(history.forget("old")) == 10
        assert await bounded(history.forget("ana")) == 2
        await in_thread(lambda: _index_matches_table(url))
        assert await bounded(history.search("general", ["antiguo"])) == []
    finally:
        history.stop()
        database.close()
