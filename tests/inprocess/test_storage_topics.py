"""The ``salas`` table through :class:`TopicStore` on a real SQLite file (again on a real MariaDB
in ``tests/e2e/test_storage_topics_mariadb.py``), and the topics of permanent rooms surviving a
restart of the in-process server on the same database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import pytest_twisted
from twisted.internet import reactor

from tests.inprocess import test_operators as operator_tests
from tests.inprocess.test_storage import query
from tests.support import mariadb
from tests.support.chatclient import ChatServer, start_server
from tests.support.expected import no_topic, sala, tema, topic_set
from tests.support.fakes import EPOCH
from tests.support.waits import DB_TIMEOUT, bounded, in_thread, wait_until
from twisted_chat.storage import Database, DatabaseURL
from twisted_chat.storage.engines import engine_for
from twisted_chat.storage.topics import TopicStore
from twisted_chat.storage.url import SqliteURL

pytestmark = pytest.mark.timeout(60, method="thread")

#: A topic of the longest length allowed (300 characters), beyond Latin-1 and the BMP.
LONG_TOPIC = ("ñ😀 " * 100)[:300]


@pytest.fixture
def databases(db_url: DatabaseURL) -> Iterator[list[Database]]:
    """Databases opened by the test, closed after it."""
    opened: list[Database] = []
    yield opened
    for database in opened:
        database.close()


def open_store(db_url: DatabaseURL, databases: list[Database]) -> TopicStore:
    """A topic store on a new pool (a restarted server)."""
    database = Database(engine_for(db_url), reactor)
    databases.append(database)
    return TopicStore(database)


@pytest_twisted.ensureDeferred
async def test_nothing_stored(db_url: DatabaseURL, databases: list[Database]) -> None:
    assert await bounded(open_store(db_url, databases).load_topics()) == []


@pytest_twisted.ensureDeferred
async def test_topics_round_trip_and_survive_a_new_pool(
    db_url: DatabaseURL, databases: list[Database]
) -> None:
    assert len(LONG_TOPIC) == 300
    store = open_store(db_url, databases)
    await bounded(store.save_topic("general", "general", "bienvenidos", "ana", EPOCH))
    await bounded(store.save_topic("ñandú", "Ñandú", LONG_TOPIC, "José", EPOCH))
    again = open_store(db_url, databases)
    loaded = await bounded(again.load_topics())
    assert sorted(loaded) == [("general", "bienvenidos", "ana"), ("ñandú", LONG_TOPIC, "José")]
    rows = await in_thread(lambda: query(db_url, "SELECT room_key, name FROM salas"))
    assert sorted((r[0], r[1]) for r in rows) == [("general", "general"), ("ñandú", "Ñandú")]


@pytest_twisted.ensureDeferred
async def test_a_second_topic_replaces_the_first(
    db_url: DatabaseURL, databases: list[Database]
) -> None:
    store = open_store(db_url, databases)
    await bounded(store.save_topic("lobby", "lobby", "uno", "ana", EPOCH))
    later = EPOCH + timedelta(minutes=5)
    await bounded(store.save_topic("lobby", "Lobby", "dos", "carol", later))
    await bounded(store.save_topic("lobby", "Lobby", "dos", "carol", later))  # idempotent
    assert await bounded(store.load_topics()) == [("lobby", "dos", "carol")]
    rows = await in_thread(lambda: query(db_url, "SELECT room_key, name, set_at FROM salas"))
    assert len(rows) == 1
    assert rows[0][:2] == ("lobby", "Lobby")
    assert str(rows[0][2]).startswith("2026-11-24") and "08:35:00" in str(rows[0][2])


@pytest_twisted.ensureDeferred
async def test_keys_are_compared_exactly(db_url: DatabaseURL, databases: list[Database]) -> None:
    # The key is already the casefold; "josé" and "jose" are two rooms (binary collation).
    store = open_store(db_url, databases)
    await bounded(store.save_topic("josé", "José", "con acento", "ana", EPOCH))
    await bounded(store.save_topic("jose", "Jose", "sin acento", "ana", EPOCH))
    assert sorted(await bounded(store.load_topics())) == [
        ("jose", "sin acento", "ana"),
        ("josé", "con acento", "ana"),
    ]


def db_option(db_url: DatabaseURL) -> str:
    """The ``--db`` value of ``db_url``."""
    if isinstance(db_url, SqliteURL):
        return f"sqlite:{db_url.path}"
    return mariadb.mysql_option(db_url)


async def topics_loaded(server: ChatServer) -> None:
    """Wait (bounded) until the server has read the stored topics."""
    keeper = server.service.parts.chat.topics
    assert keeper is not None
    await wait_until(lambda: keeper.loaded, "the room topics to load", timeout=DB_TIMEOUT)


@pytest_twisted.ensureDeferred
async def test_permanent_topics_survive_a_restart_others_do_not(db_url: DatabaseURL) -> None:
    options = ("--operator", "ana", "--room", "Lobby")
    db = db_option(db_url)
    async with await start_server(*options, db=db) as server:
        ana = await operator_tests.become_operator(server)
        ana.say("/tema bienvenidos a general")
        assert await ana.line() == topic_set("ana", "bienvenidos a general")
        ana.say("/unirse lobby")
        assert await ana.line() == sala("Lobby", "ana")
        ana.say("/tema normas del lobby")
        assert await ana.line() == topic_set("ana", "normas del lobby")
        ana.say("/unirse juegos")
        assert await ana.line() == sala("juegos", "@ana")
        ana.say("/tema efímero")
        assert await ana.line() == topic_set("ana", "efímero")

        def stored() -> bool:
            return bool(query(db_url, "SELECT COUNT(*) FROM salas")[0][0] == 2)

        await wait_until(stored, "the two topics to be stored", DB_TIMEOUT, interval=0.1)
    rows = await in_thread(lambda: query(db_url, "SELECT room_key, name, topic, set_by FROM salas"))
    assert sorted(tuple(r) for r in rows) == [
        ("general", "general", "bienvenidos a general", "ana"),
        ("lobby", "Lobby", "normas del lobby", "ana"),
    ]
    async with await start_server(*options, db=db) as server:
        await topics_loaded(server)
        bob = await server.login("bob")
        bob.say("/sala")
        assert await bob.lines(2) == [sala("general", "bob"), tema("bienvenidos a general")]
        bob.say("/unirse LOBBY")
        assert await bob.lines(2) == [sala("Lobby", "bob"), tema("normas del lobby")]
        bob.say("/unirse juegos")
        assert await bob.line() == sala("juegos", "@bob")
        bob.say("/tema")
        assert await bob.line() == no_topic("juegos")
