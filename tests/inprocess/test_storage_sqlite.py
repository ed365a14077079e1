"""SQLite's own cases: a relative ``sqlite:`` path, and a file that can never be opened.

Through pytest-twisted with the real reactor and real files; every wait is bounded.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor

from tests.inprocess.test_storage import BASE, close, read_rows
from tests.support.waits import bounded, get_reactor
from twisted_chat.storage import (
    DatabaseMisconfigured,
    DatabaseUnavailable,
    open_login_store,
    parse_db_url,
)
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
