"""The ``baneos`` table through :class:`BanStore` on a real SQLite file (again on a real MariaDB
in ``tests/e2e/test_storage_bans_mariadb.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_twisted
from twisted.internet import reactor

from tests.inprocess.test_storage import query
from tests.support.fakes import EPOCH
from tests.support.waits import bounded, in_thread
from twisted_chat.bans import Ban
from twisted_chat.storage import BanStore, Database, DatabaseURL
from twisted_chat.storage.engines import engine_for

#: The time the bans are made: 2026-11-24T08:30:00Z.
T0 = EPOCH.timestamp()


@pytest.fixture
def databases(db_url: DatabaseURL) -> Iterator[list[Database]]:
    """Databases opened by the test, closed after it."""
    opened: list[Database] = []
    yield opened
    for database in opened:
        database.close()


def open_store(db_url: DatabaseURL, databases: list[Database]) -> BanStore:
    """A ban store on a new pool (a restarted server)."""
    database = Database(engine_for(db_url), reactor)
    databases.append(database)
    return BanStore(database)


@pytest_twisted.ensureDeferred
async def test_bans_round_trip_and_survive_a_new_pool(
    db_url: DatabaseURL, databases: list[Database]
) -> None:
    store = open_store(db_url, databases)
    nick = Ban("nick", "josé", "insultos ñ", "ana", T0, T0 + 600)
    net = Ban("net", "2001:db8::/32", "", "ana", T0, None)
    await bounded(store.save_ban(nick))
    await bounded(store.save_ban(net))
    again = open_store(db_url, databases)
    loaded = await bounded(again.load_bans(T0))
    assert sorted(loaded, key=lambda b: b.key) == [net, nick]


@pytest_twisted.ensureDeferred
async def test_a_second_ban_of_a_target_replaces_the_first(
    db_url: DatabaseURL, databases: list[Database]
) -> None:
    store = open_store(db_url, databases)
    await bounded(store.save_ban(Ban("nick", "bob", "uno", "ana", T0, T0 + 60)))
    await bounded(store.save_ban(Ban("nick", "bob", "dos", "carol", T0 + 5, None)))
    loaded = await bounded(store.load_bans(T0))
    assert loaded == [Ban("nick", "bob", "dos", "carol", T0 + 5, None)]
    rows = await in_thread(lambda: query(db_url, "SELECT kind, target, id FROM baneos"))
    assert [row[:2] for row in rows] == [("nick", "bob")]


@pytest_twisted.ensureDeferred
async def test_expired_bans_are_not_loaded_and_are_pruned(
    db_url: DatabaseURL, databases: list[Database]
) -> None:
    store = open_store(db_url, databases)
    await bounded(store.save_ban(Ban("nick", "old", "", "ana", T0, T0 + 60)))
    await bounded(store.save_ban(Ban("nick", "new", "", "ana", T0, T0 + 600)))
    await bounded(store.save_ban(Ban("net", "10.0.0.0/8", "", "ana", T0, None)))
    loaded = await bounded(store.load_bans(T0 + 60))
    assert sorted(b.target for b in loaded) == ["10.0.0.0/8", "new"]
    await bounded(store.delete_expired(T0 + 60))
    rows = await in_thread(lambda: query(db_url, "SELECT target FROM baneos ORDER BY target"))
    assert [row[0] for row in rows] == ["10.0.0.0/8", "new"]


@pytest_twisted.ensureDeferred
async def test_delete(db_url: DatabaseURL, databases: list[Database]) -> None:
    store = open_store(db_url, databases)
    await bounded(store.save_ban(Ban("net", "10.0.0.0/8", "", "ana", T0, None)))
    await bounded(store.delete_ban("net", "10.0.0.0/8"))
    await bounded(store.delete_ban("net", "10.0.0.0/8"))
    assert await bounded(store.load_bans(T0)) == []
