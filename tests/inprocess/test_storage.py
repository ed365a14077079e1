"""The login store against a real database: the backend-neutral tests.

Here ``db_url`` (``tests/inprocess/conftest.py``) is an SQLite file;
``tests/e2e/test_storage_mariadb.py`` collects every test of this module again against a real
MariaDB. They run through pytest-twisted with the real reactor; the store writes through
``adbapi`` threads, and every wait is bounded with ``addTimeout``. What the store wrote is read
back with a plain ``sqlite3``/``MySQLdb`` connection in a thread, so the tests check the table
itself, not the store's view of it.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.internet.interfaces import IReactorTime

from tests.support import mariadb
from tests.support.waits import DB_TIMEOUT, bounded, in_thread
from twisted_chat.storage import DatabaseURL, LoginStore, open_login_store
from twisted_chat.storage.url import MysqlURL, SqliteURL

#: The reactor pytest-twisted runs, typed for ``seconds`` and ``deferLater``.
CLOCK = cast(IReactorTime, reactor)

#: A row of ``clientes`` as read back: (nick_key, nickname, connected_at as stored).
Row = tuple[str, str, Any]

BASE = datetime(2026, 11, 24, 8, 30, 0, tzinfo=UTC)


# -- helpers ---------------------------------------------------------------------------------


async def wait_until(
    condition: Callable[[], Awaitable[bool]], what: str, seconds: float = DB_TIMEOUT
) -> None:
    """Poll ``condition`` every 50 ms until it holds; fail after ``seconds``."""
    deadline = CLOCK.seconds() + seconds
    while not await condition():
        if CLOCK.seconds() > deadline:
            pytest.fail(f"timed out after {seconds}s waiting for {what}")
        await task.deferLater(CLOCK, 0.05, lambda: None)


def query(url: DatabaseURL, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` on a fresh plain connection to ``url`` (blocking; ``?`` placeholders)."""
    if isinstance(url, SqliteURL):
        conn = sqlite3.connect(url.path, timeout=5)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()
    mconn = mariadb.connect(url, url.database)
    try:
        cursor = mconn.cursor()
        cursor.execute(sql.replace("?", "%s"), args)
        return list(cursor.fetchall())
    finally:
        mconn.close()


async def read_rows(url: DatabaseURL) -> list[Row]:
    """Every row of ``clientes``, ordered by key."""
    rows = await in_thread(
        lambda: query(
            url, "SELECT nick_key, nickname, connected_at FROM clientes ORDER BY nick_key"
        )
    )
    return [(r[0], r[1], r[2]) for r in rows]


def stored(url: DatabaseURL, when: datetime) -> Any:
    """How ``connected_at`` for ``when`` must look in the table (UTC, whole seconds)."""
    utc = when.astimezone(UTC).replace(microsecond=0)
    if isinstance(url, SqliteURL):
        return utc.strftime("%Y-%m-%d %H:%M:%S")
    return utc.replace(tzinfo=None)


def as_reported(when: datetime) -> datetime:
    """The previous time the store reports for a login stored at ``when``."""
    return when.astimezone(UTC).replace(microsecond=0)


def table_exists(url: DatabaseURL) -> bool:
    """Whether ``clientes`` exists (blocking)."""
    if isinstance(url, SqliteURL):
        if not Path(url.path).exists():
            return False
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'clientes'"
        return bool(query(url, sql))
    if not mysql_database_exists(url):
        return False
    sql = (
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = ? AND table_name = 'clientes'"
    )
    return bool(query(url, sql, (url.database,)))


def mysql_database_exists(url: MysqlURL) -> bool:
    """Whether ``url``'s database exists on its server (blocking)."""
    conn = mariadb.connect(url)
    try:
        cursor = conn.cursor()
        cursor.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = %s",
            (url.database,),
        )
        return cursor.fetchone() is not None
    finally:
        conn.close()


def create_empty_mysql_database(url: MysqlURL) -> None:
    """Create ``url``'s database with no tables (blocking)."""
    conn = mariadb.connect(url)
    try:
        conn.cursor().execute(f"CREATE DATABASE `{url.database}` CHARACTER SET utf8mb4")
    finally:
        conn.close()


def close(store: LoginStore) -> None:
    """Stop ``store`` and close its pool (teardown)."""
    store.stop()
    store.database.close()


# -- fixtures --------------------------------------------------------------------------------


OpenStore = Callable[[DatabaseURL], LoginStore]


@pytest.fixture
def open_store(db_url: DatabaseURL) -> Iterator[OpenStore]:
    """Opens and starts login stores; each is stopped and closed after the test."""
    stores: list[LoginStore] = []

    def open_(url: DatabaseURL) -> LoginStore:
        store = open_login_store(url, reactor)
        stores.append(store)
        store.start()
        return store

    yield open_
    for store in stores:
        close(store)


@pytest.fixture
def store(db_url: DatabaseURL, open_store: OpenStore) -> LoginStore:
    """A started login store on ``db_url``."""
    return open_store(db_url)


# -- schema ----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_start_creates_schema_in_empty_database(
    db_url: DatabaseURL, open_store: OpenStore
) -> None:
    """``start()`` alone, with no login, creates ``clientes`` in an empty database."""
    if isinstance(db_url, MysqlURL):
        await in_thread(lambda: create_empty_mysql_database(db_url))
        assert await in_thread(lambda: query(db_url, "SHOW TABLES")) == []
    else:
        sqlite3.connect(db_url.path).close()  # an empty database file
        assert not await in_thread(lambda: table_exists(db_url))

    open_store(db_url)

    async def created() -> bool:
        return await in_thread(lambda: table_exists(db_url))

    await wait_until(created, "the schema to be created at start-up")
    # The table has the original design's columns (plus the key), and no rows yet.
    rows = await in_thread(
        lambda: query(db_url, "SELECT nick_key, nickname, connected_at FROM clientes")
    )
    assert rows == []


@pytest_twisted.ensureDeferred
async def test_applying_schema_twice_is_harmless(db_url: DatabaseURL, store: LoginStore) -> None:
    """Re-applying the schema keeps the table and its rows."""
    assert await bounded(store.record_login("Ana", BASE)) is None
    await bounded(store.database.apply_schema())
    await bounded(store.database.apply_schema())
    assert await read_rows(db_url) == [("ana", "Ana", stored(db_url, BASE))]
    later = BASE + timedelta(hours=1)
    assert await bounded(store.record_login("Ana", later)) == as_reported(BASE)
    assert await read_rows(db_url) == [("ana", "Ana", stored(db_url, later))]


@pytest_twisted.ensureDeferred
async def test_restart_on_existing_database_keeps_rows(
    db_url: DatabaseURL, open_store: OpenStore
) -> None:
    """A second server start applies the schema again and sees what the first one wrote."""
    first = open_store(db_url)
    assert await bounded(first.record_login("Ana", BASE)) is None
    close(first)

    second = open_store(db_url)
    later = BASE + timedelta(days=1)
    assert await bounded(second.record_login("ana", later)) == as_reported(BASE)
    assert await read_rows(db_url) == [("ana", "ana", stored(db_url, later))]


# -- logins ----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_first_login_inserts_one_row_and_fires_none(
    db_url: DatabaseURL, store: LoginStore
) -> None:
    """A new user: exactly one row, and the Deferred fires with ``None``."""
    assert await bounded(store.record_login("Ana", BASE)) is None
    assert await read_rows(db_url) == [("ana", "Ana", stored(db_url, BASE))]


@pytest_twisted.ensureDeferred
async def test_later_login_updates_and_fires_previous_time(
    db_url: DatabaseURL, store: LoginStore
) -> None:
    """A returning user: same row, new ``connected_at``; fires with the previous one (UTC)."""
    first = datetime(2026, 3, 1, 10, 15, 30, 987654, tzinfo=timezone(timedelta(hours=2)))
    second = first + timedelta(minutes=5)
    third = second + timedelta(days=40)
    assert await bounded(store.record_login("Ana", first)) is None

    previous = await bounded(store.record_login("Ana", second))
    assert previous == datetime(2026, 3, 1, 8, 15, 30, tzinfo=UTC)
    assert previous is not None
    assert previous.tzinfo is not None
    assert previous.utcoffset() == timedelta(0)
    assert await read_rows(db_url) == [("ana", "Ana", stored(db_url, second))]

    assert await bounded(store.record_login("Ana", third)) == as_reported(second)
    assert await read_rows(db_url) == [("ana", "Ana", stored(db_url, third))]


@pytest_twisted.ensureDeferred
async def test_case_variants_are_one_row_keyed_by_casefold(
    db_url: DatabaseURL, store: LoginStore
) -> None:
    """``Ana`` then ``ana``: one row keyed ``ana``; ``nickname`` keeps the last spelling."""
    assert await bounded(store.record_login("Ana", BASE)) is None
    t2 = BASE + timedelta(seconds=1)
    assert await bounded(store.record_login("ana", t2)) == as_reported(BASE)
    assert await read_rows(db_url) == [("ana", "ana", stored(db_url, t2))]
    t3 = BASE + timedelta(seconds=2)
    assert await bounded(store.record_login("ANA", t3)) == as_reported(t2)
    assert await read_rows(db_url) == [("ana", "ANA", stored(db_url, t3))]


@pytest_twisted.ensureDeferred
async def test_case_variants_in_one_tick_are_one_row(
    db_url: DatabaseURL, store: LoginStore
) -> None:
    """Two spellings recorded in the same tick: one row, both Deferreds fire with ``None``."""
    d1 = store.record_login("Ana", BASE)
    d2 = store.record_login("aNA", BASE + timedelta(seconds=1))
    assert await bounded(defer.gatherResults([d1, d2])) == [None, None]
    assert await read_rows(db_url) == [("ana", "aNA", stored(db_url, BASE + timedelta(seconds=1)))]


@pytest_twisted.ensureDeferred
async def test_accents_are_distinct_users_and_normal_forms_are_one(
    db_url: DatabaseURL, store: LoginStore
) -> None:
    """``José`` and ``Jose`` are two rows (binary key); NFC and decomposed ``José`` are one."""
    composed = "Jos\u00e9"
    decomposed = "Jose\u0301"
    assert unicodedata.normalize("NFC", decomposed) == composed
    assert await bounded(store.record_login(composed, BASE)) is None
    assert await bounded(store.record_login("Jose", BASE)) is None
    t2 = BASE + timedelta(minutes=1)
    assert await bounded(store.record_login(decomposed, t2)) == as_reported(BASE)
    t3 = BASE + timedelta(minutes=2)
    assert await bounded(store.record_login("JOS\u00c9", t3)) == as_reported(t2)

    rows = await read_rows(db_url)
    assert sorted(row[0] for row in rows) == ["jose", "jos\u00e9"]
    by_key = {row[0]: row for row in rows}
    assert by_key["jos\u00e9"] == ("jos\u00e9", "JOS\u00c9", stored(db_url, t3))
    assert by_key["jose"] == ("jose", "Jose", stored(db_url, BASE))


@pytest_twisted.ensureDeferred
async def test_casefold_not_lower(db_url: DatabaseURL, store: LoginStore) -> None:
    """The key is ``str.casefold``: ``Straße`` and ``STRASSE`` are one user."""
    assert await bounded(store.record_login("Stra\u00dfe", BASE)) is None
    t2 = BASE + timedelta(seconds=5)
    assert await bounded(store.record_login("STRASSE", t2)) == as_reported(BASE)
    assert await read_rows(db_url) == [("strasse", "STRASSE", stored(db_url, t2))]


@pytest_twisted.ensureDeferred
async def test_latin1_nickname_round_trips(db_url: DatabaseURL, store: LoginStore) -> None:
    """Latin-1 letters are stored exactly as spelled."""
    nick = "\u00d1and\u00fa-\u00d8ye_\u00ff9"
    assert await bounded(store.record_login(nick, BASE)) is None
    assert await read_rows(db_url) == [(nick.casefold(), nick, stored(db_url, BASE))]


# -- time ------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_connected_at_stored_in_utc(db_url: DatabaseURL, store: LoginStore) -> None:
    """``connected_at`` is UTC: SQLite text ``YYYY-MM-DD HH:MM:SS``, MySQL ``DATETIME``."""
    madrid_evening = datetime(2026, 12, 31, 23, 59, 58, 750000, tzinfo=timezone(timedelta(hours=1)))
    assert await bounded(store.record_login("Ana", madrid_evening)) is None
    if isinstance(db_url, SqliteURL):
        got = await in_thread(
            lambda: query(
                db_url,
                "SELECT connected_at, typeof(connected_at), datetime(connected_at) FROM clientes",
            )
        )
        assert got == [("2026-12-31 22:59:58", "text", "2026-12-31 22:59:58")]
    else:
        got = await in_thread(lambda: query(db_url, "SELECT connected_at FROM clientes"))
        assert got == [(datetime(2026, 12, 31, 22, 59, 58),)]
        kind = await in_thread(
            lambda: query(
                db_url,
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = 'clientes' "
                "AND column_name = 'connected_at'",
                (db_url.database,),
            )
        )
        assert [k[0].lower() for k in kind] == ["datetime"]


@pytest_twisted.ensureDeferred
async def test_older_record_never_overwrites_newer(db_url: DatabaseURL, store: LoginStore) -> None:
    """An older login written after a newer one keeps the newer time and spelling."""
    newer = BASE + timedelta(hours=2)
    assert await bounded(store.record_login("Bob", newer)) is None
    assert await bounded(store.record_login("BOB", BASE)) == as_reported(newer)
    assert await read_rows(db_url) == [("bob", "Bob", stored(db_url, newer))]


@pytest_twisted.ensureDeferred
async def test_older_record_in_same_tick_loses(db_url: DatabaseURL, store: LoginStore) -> None:
    """Newer then older in one tick: the newer time and spelling are stored."""
    newer = BASE + timedelta(hours=2)
    d1 = store.record_login("Bob", newer)
    d2 = store.record_login("BOB", BASE)
    assert await bounded(defer.gatherResults([d1, d2])) == [None, None]
    assert await read_rows(db_url) == [("bob", "Bob", stored(db_url, newer))]


# -- volume ----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_thousand_logins_in_one_tick(db_url: DatabaseURL, store: LoginStore) -> None:
    """1000 logins issued in one tick are all written and all their Deferreds fire."""
    nicks = [f"user{i:04d}" for i in range(1000)]
    first = [store.record_login(nick, BASE) for nick in nicks]
    assert await bounded(defer.gatherResults(first), 30) == [None] * 1000
    count = await in_thread(lambda: query(db_url, "SELECT COUNT(*) FROM clientes"))
    assert count[0][0] == 1000
    assert await read_rows(db_url) == [(n, n, stored(db_url, BASE)) for n in nicks]

    later = BASE + timedelta(minutes=1)
    second = [store.record_login(nick.upper(), later) for nick in nicks]
    assert await bounded(defer.gatherResults(second), 30) == [as_reported(BASE)] * 1000
    assert await read_rows(db_url) == [(n, n.upper(), stored(db_url, later)) for n in nicks]
    assert store.queued == 0
