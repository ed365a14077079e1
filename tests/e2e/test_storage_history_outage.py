"""A database outage loses no history that was accepted: messages wait in the bounded queue
and are written, once each, with their own ids and times, when the database returns.

On a private MariaDB of this module's own (``private_mariadb`` in ``tests/e2e/conftest.py``),
stopped and started in a thread while the reactor keeps serving. Every wait is bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.logger import LogEvent, LogLevel

from tests.support import mariadb
from tests.support.logs import LogEvents, capture
from tests.support.waits import DB_TIMEOUT, bounded, in_thread, wait_until
from twisted_chat.events import Public
from twisted_chat.recados import Stored
from twisted_chat.storage.database import Database
from twisted_chat.storage.engines import engine_for
from twisted_chat.storage.history import HistoryStore
from twisted_chat.storage.logins import DatabaseUnavailable
from twisted_chat.storage.recados import RecadoStore
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.mysql]

SERVER_WAIT = 45.0
RECOVERY_WAIT = 40.0
T0 = 1_795_509_000_000


def read_messages(url: MysqlURL) -> list[tuple[str, int, str]]:
    """(id, time, text) of every stored message in (time, id) order (blocking)."""
    conn = mariadb.connect(url, url.database)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT id, sent_at, text FROM mensajes ORDER BY sent_at, id")
        return [(r[0], int(r[1]), r[2]) for r in cursor.fetchall()]
    finally:
        conn.close()


def message(n: int) -> Public:
    """Message ``n``; ten messages share each millisecond."""
    return Public(f"m{n:05d}", T0 + n // 10, "general", "Ana", f"texto {n}")


class StoreEvents(LogEvents):
    """Log events of the history store assigned to ``.store``."""

    def __init__(self) -> None:
        super().__init__()
        self.store: HistoryStore | None = None

    def keeps(self, event: LogEvent) -> bool:
        """Only the events whose source is :attr:`store`."""
        return self.store is not None and event.get("log_source") is self.store


@pytest.fixture
def store_events() -> Iterator[StoreEvents]:
    """Captures the log events of the store assigned to ``.store``."""
    with capture(StoreEvents()) as events:
        yield events


@pytest.fixture
def open_stores(
    outage_url: MysqlURL,
) -> Iterator[Callable[[int], tuple[HistoryStore, RecadoStore]]]:
    """Opens history and recado stores on the private server; closed afterwards."""
    opened: list[HistoryStore] = []

    def open_(queue_limit: int) -> tuple[HistoryStore, RecadoStore]:
        database = Database(engine_for(outage_url), reactor)
        history = HistoryStore(database, reactor, queue_limit=queue_limit)
        opened.append(history)
        return history, RecadoStore(database)

    yield open_
    for history in opened:
        history.stop()
        history.database.close()


@pytest_twisted.ensureDeferred
async def test_outage_queues_history_and_writes_it_once_when_back(
    private_mariadb: mariadb.PrivateMariaDB,
    outage_url: MysqlURL,
    open_stores: Callable[[int], tuple[HistoryStore, RecadoStore]],
    store_events: StoreEvents,
) -> None:
    """Messages added while the server is down are written with their ids and times when it
    returns, once; a recado is not acknowledged while down, and a retry stores it once."""
    history, recados = open_stores(10_000)
    store_events.store = history
    assert await bounded(defer.gatherResults([history.add(message(n)) for n in range(5)]))

    await in_thread(private_mariadb.stop, SERVER_WAIT)
    during = [history.add(message(n)) for n in range(5, 305)]
    await wait_until(lambda: not history.available, "the outage to be noticed", DB_TIMEOUT)
    with pytest.raises(DatabaseUnavailable):  # not acknowledged
        await bounded(recados.store("r1", "Ana", "luis", "hola", T0), 30)
    more = [history.add(message(n)) for n in range(305, 400)]
    assert history.queued == 395
    assert not any(d.called for d in during + more)

    await in_thread(private_mariadb.start, SERVER_WAIT)
    results = await bounded(defer.gatherResults(during + more), RECOVERY_WAIT)
    assert results == [True] * 395
    assert await bounded(history.flush(DB_TIMEOUT)) == 0
    assert await in_thread(lambda: read_messages(outage_url)) == [
        (f"m{n:05d}", T0 + n // 10, f"texto {n}") for n in range(400)
    ]
    assert len(store_events.at(LogLevel.error)) == 1
    assert len(store_events.at(LogLevel.info)) == 1

    assert await bounded(recados.store("r1", "Ana", "luis", "hola", T0)) == Stored.STORED
    assert await bounded(recados.store("r1", "Ana", "luis", "hola", T0)) == Stored.STORED
    assert [r.id for r in await bounded(recados.pending("luis"))] == ["r1"]


@pytest_twisted.ensureDeferred
async def test_outage_queue_is_bounded_and_drops_oldest(
    private_mariadb: mariadb.PrivateMariaDB,
    outage_url: MysqlURL,
    open_stores: Callable[[int], tuple[HistoryStore, RecadoStore]],
) -> None:
    """With the server down, a queue of 50 keeps the 50 newest of 120 messages and counts the
    70 it dropped (their Deferreds fire False)."""
    history, _ = open_stores(50)
    await bounded(history.database.ensure_ready())
    await in_thread(private_mariadb.stop, SERVER_WAIT)
    first = history.add(message(0))
    await wait_until(lambda: not history.available, "the outage to be noticed", DB_TIMEOUT)
    rest = [history.add(message(n)) for n in range(1, 120)]
    assert history.queued == 50
    assert history.dropped == 70
    assert await bounded(first) is False
    await in_thread(private_mariadb.start, SERVER_WAIT)
    results: list[Any] = await bounded(defer.gatherResults(rest), RECOVERY_WAIT)
    assert results == [False] * 69 + [True] * 50
    rows = await in_thread(lambda: read_messages(outage_url))
    assert [r[0] for r in rows] == [f"m{n:05d}" for n in range(70, 120)]
    assert history.dropped == 70
