"""The login store against a real MariaDB: every backend-neutral test of
``tests/inprocess/test_storage.py`` again (this level's ``db_url`` is a scratch MariaDB database,
``tests/e2e/conftest.py``), then MariaDB's own cases.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import cast

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.logger import ILogObserver, LogEvent, LogLevel, globalLogPublisher

from tests.inprocess.test_storage import *  # noqa: F403  (collected again, on MariaDB)
from tests.inprocess.test_storage import (
    BASE,
    as_reported,
    close,
    mysql_database_exists,
    query,
    read_rows,
    stored,
)
from tests.support import mariadb
from tests.support.waits import bounded, in_thread
from twisted_chat.storage import open_login_store
from twisted_chat.storage.url import MysqlURL

pytestmark = pytest.mark.mysql


@pytest.mark.mysql
@pytest_twisted.ensureDeferred
async def test_mysql_table_is_utf8mb4_with_binary_key(mysql_url: MysqlURL) -> None:
    """``clientes`` is utf8mb4 throughout and ``nick_key`` uses ``utf8mb4_bin``."""
    store = open_login_store(mysql_url, reactor)
    store.start()
    try:
        assert await bounded(store.record_login("Ana", BASE)) is None
        (create,) = await in_thread(lambda: query(mysql_url, "SHOW CREATE TABLE clientes"))
    finally:
        close(store)
    ddl: str = create[1]
    assert re.search(r"DEFAULT CHARSET=utf8mb4\b", ddl), ddl
    key_line = next(line for line in ddl.splitlines() if "`nick_key`" in line)
    assert "COLLATE utf8mb4_bin" in key_line, ddl
    assert re.search(r"PRIMARY KEY \(`nick_key`\)", ddl), ddl

    columns = await in_thread(
        lambda: query(
            mysql_url,
            "SELECT column_name, character_set_name, collation_name FROM information_schema.columns"
            " WHERE table_schema = ? AND table_name = 'clientes' AND column_name <> 'connected_at'",
            (mysql_url.database,),
        )
    )
    assert sorted((c[0], c[1], c[2]) for c in columns) == [
        ("nick_key", "utf8mb4", "utf8mb4_bin"),
        ("nickname", "utf8mb4", "utf8mb4_unicode_ci"),
    ]


@pytest.mark.mysql
@pytest_twisted.ensureDeferred
async def test_mysql_database_created_when_missing(mysql_url: MysqlURL) -> None:
    """Pointed at a database that does not exist, the store creates it (utf8mb4) and its table."""
    assert not await in_thread(lambda: mysql_database_exists(mysql_url))
    store = open_login_store(mysql_url, reactor)
    store.start()
    try:
        assert await bounded(store.record_login("Ana", BASE)) is None
    finally:
        close(store)
    assert await in_thread(lambda: mysql_database_exists(mysql_url))
    charset = await in_thread(
        lambda: query(
            mysql_url,
            "SELECT default_character_set_name FROM information_schema.schemata "
            "WHERE schema_name = ?",
            (mysql_url.database,),
        )
    )
    assert charset == [("utf8mb4",)]
    assert await read_rows(mysql_url) == [("ana", "Ana", stored(mysql_url, BASE))]


@pytest.mark.mysql
@pytest_twisted.ensureDeferred
async def test_mysql_lost_connection_is_retried(mysql_url: MysqlURL) -> None:
    """A pooled connection killed by the server (error 2006/2013) is retried, not an outage."""
    events: list[LogEvent] = []
    observer = cast(ILogObserver, events.append)
    globalLogPublisher.addObserver(observer)
    store = open_login_store(mysql_url, reactor)
    store.start()
    try:
        assert await bounded(store.record_login("Ana", BASE)) is None

        def kill_store_connections() -> int:
            conn = mariadb.connect(mysql_url)
            try:
                cursor = conn.cursor()
                cursor.execute(
                    "SELECT id FROM information_schema.processlist WHERE db = %s",
                    (mysql_url.database,),
                )
                ids = [row[0] for row in cursor.fetchall()]
                for connection_id in ids:
                    cursor.execute(f"KILL CONNECTION {int(connection_id)}")
                return len(ids)
            finally:
                conn.close()

        assert await in_thread(kill_store_connections) >= 1
        later = BASE + timedelta(minutes=1)
        assert await bounded(store.record_login("Ana", later)) == as_reported(BASE)
        assert store.available
        assert store.queued == 0
    finally:
        close(store)
        globalLogPublisher.removeObserver(observer)
    assert await read_rows(mysql_url) == [("ana", "Ana", stored(mysql_url, later))]
    store_errors = [
        e
        for e in events
        if e.get("log_source") is store and e["log_level"] in (LogLevel.error, LogLevel.critical)
    ]
    assert store_errors == []
    retries = [
        e
        for e in events
        if e.get("log_source") is store.database and "retrying" in str(e.get("log_format"))
    ]
    assert len(retries) >= 1, "the killed connection was never used: nothing was retried"
