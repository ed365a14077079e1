"""A database outage never stops the chat: the login store queues, logs once, and recovers.

These tests run on a private MariaDB of this module's own (the module-scoped ``private_mariadb``
fixture of ``tests/e2e/conftest.py``), so they can stop and start it without touching any shared
server. Stopping and starting it blocks, so it runs in a thread while the reactor keeps serving.
Every wait is bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.internet.interfaces import IReactorTime
from twisted.logger import LogEvent, LogLevel
from twisted.python.failure import Failure

from tests.support import mariadb
from tests.support.logs import LogEvents, capture
from tests.support.waits import DB_TIMEOUT, bounded, in_thread, wait_until
from twisted_chat.storage import DatabaseUnavailable, LoginStore, open_login_store
from twisted_chat.storage.url import MysqlURL

pytestmark = [pytest.mark.mysql]

CLOCK = cast(IReactorTime, reactor)
#: Seconds a MariaDB stop or start may take.
SERVER_WAIT = 45.0
#: Seconds a store may take to notice the database is back (its backoff is at most 30 s, but
#: the outages here are short, so the retry comes well within this).
RECOVERY_WAIT = 40.0

BASE = datetime(2026, 11, 24, 8, 30, 0, tzinfo=UTC)


# -- helpers ---------------------------------------------------------------------------------


async def fails_unavailable(d: defer.Deferred[Any], seconds: float = DB_TIMEOUT) -> None:
    """``d`` fails with :class:`DatabaseUnavailable` within ``seconds`` (does not hang).

    Returns after one more turn of the reactor, once the store has finished handling the
    failure (see ``test_outage_state_is_set_before_failure_is_delivered`` for why).
    """
    with pytest.raises(DatabaseUnavailable):
        await bounded(d, seconds)
    await task.deferLater(CLOCK, 0, lambda: None)


def failed_already(d: defer.Deferred[Any]) -> bool:
    """Whether ``d`` has already failed with :class:`DatabaseUnavailable` (consumes the error)."""
    outcome: list[bool] = []
    d.addCallbacks(
        lambda _: outcome.append(False),
        lambda f: outcome.append(f.check(DatabaseUnavailable) is not None),
    )
    return outcome == [True]


def read_rows(url: MysqlURL) -> list[tuple[str, str, datetime]]:
    """Every row of ``clientes`` ordered by key (blocking)."""
    conn = mariadb.connect(url, url.database)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT nick_key, nickname, connected_at FROM clientes ORDER BY nick_key")
        return [(r[0], r[1], r[2]) for r in cursor.fetchall()]
    finally:
        conn.close()


def naive_utc(when: datetime) -> datetime:
    """``when`` as MySQL's ``DATETIME`` gives it back (naive UTC, whole seconds)."""
    return when.astimezone(UTC).replace(tzinfo=None, microsecond=0)


class StoreEvents(LogEvents):
    """Log events emitted by one login store (the one assigned to ``.store``)."""

    def __init__(self) -> None:
        super().__init__()
        self.store: LoginStore | None = None

    def keeps(self, event: LogEvent) -> bool:
        """Keep only the events whose source is :attr:`store`."""
        return self.store is not None and event.get("log_source") is self.store


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def store_events() -> Iterator[StoreEvents]:
    """Captures the log events of the store assigned to ``.store``."""
    with capture(StoreEvents()) as events:
        yield events


@pytest.fixture
def open_store(outage_url: MysqlURL) -> Iterator[Callable[[int], LoginStore]]:
    """Opens and starts login stores with a queue limit; each is stopped and closed afterwards."""
    stores: list[LoginStore] = []

    def open_(queue_limit: int) -> LoginStore:
        store = open_login_store(outage_url, reactor, queue_limit=queue_limit)
        stores.append(store)
        store.start()
        return store

    yield open_
    for store in stores:
        store.stop()
        store.database.close()


# -- tests -----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_outage_queues_logs_once_and_recovers(
    private_mariadb: mariadb.PrivateMariaDB,
    outage_url: MysqlURL,
    open_store: Callable[[int], LoginStore],
    store_events: StoreEvents,
) -> None:
    """Logins during an outage fail fast, are queued, and are written with their own times."""
    store = open_store(1000)
    store_events.store = store
    before = BASE
    assert await bounded(store.record_login("Ana", before)) is None
    assert await bounded(store.record_login("Bob", before)) is None
    assert store.available

    await in_thread(private_mariadb.stop, SERVER_WAIT)

    # The first login after the server went away finds out, and fails quickly.
    ana_again = BASE + timedelta(minutes=1, microseconds=250000)
    started = CLOCK.seconds()
    await fails_unavailable(store.record_login("Ana", ana_again))
    assert CLOCK.seconds() - started < 8.0
    assert not store.available
    assert store.queued == 1

    # Once the store knows, logins fail at once (no waiting on a dead server).
    carol = BASE + timedelta(minutes=2)
    dave = BASE + timedelta(minutes=3)
    assert failed_already(store.record_login("Carol", carol))
    assert failed_already(store.record_login("dave", dave))
    assert store.queued == 3
    assert not store.available

    # Let a few retries fail while the server is still down: still one error logged.
    await task.deferLater(CLOCK, 2.0, lambda: None)
    assert not store.available
    assert store.queued == 3
    assert len(store_events.at(LogLevel.error)) == 1
    assert store_events.recoveries() == []

    await in_thread(private_mariadb.start, SERVER_WAIT)
    await wait_until(
        lambda: store.available and store.queued == 0, "the queue to drain", RECOVERY_WAIT
    )
    assert await bounded(store.flush(DB_TIMEOUT)) == 0

    assert await in_thread(lambda: read_rows(outage_url)) == [
        ("ana", "Ana", naive_utc(ana_again)),
        ("bob", "Bob", naive_utc(before)),
        ("carol", "Carol", naive_utc(carol)),
        ("dave", "dave", naive_utc(dave)),
    ]
    assert len(store_events.at(LogLevel.error)) == 1
    assert store_events.at(LogLevel.critical) == []
    assert len(store_events.recoveries()) == 1

    # And the store is back to normal: a returning user gets the time written from the queue.
    assert await bounded(store.record_login("Carol", carol + timedelta(hours=1))) == (
        carol.astimezone(UTC)
    )


@pytest_twisted.ensureDeferred
async def test_outage_logged_once_per_outage(
    private_mariadb: mariadb.PrivateMariaDB,
    outage_url: MysqlURL,
    open_store: Callable[[int], LoginStore],
    store_events: StoreEvents,
) -> None:
    """Two separate outages: two error events and two recovery events, one of each per outage."""
    store = open_store(1000)
    store_events.store = store
    assert await bounded(store.record_login("Ana", BASE)) is None

    for n in (1, 2):
        await in_thread(private_mariadb.stop, SERVER_WAIT)
        when = BASE + timedelta(hours=n)
        await fails_unavailable(store.record_login("Ana", when))
        for i in range(5):
            assert failed_already(store.record_login(f"guest{n}x{i}", when))
        assert len(store_events.at(LogLevel.error)) == n
        await in_thread(private_mariadb.start, SERVER_WAIT)
        await wait_until(
            lambda: store.available and store.queued == 0, "the queue to drain", RECOVERY_WAIT
        )
        assert await bounded(store.flush(DB_TIMEOUT)) == 0
        assert len(store_events.recoveries()) == n
        assert len(store_events.at(LogLevel.error)) == n

    rows = await in_thread(lambda: read_rows(outage_url))
    assert len(rows) == 11
    assert rows[0] == ("ana", "Ana", naive_utc(BASE + timedelta(hours=2)))


@pytest_twisted.ensureDeferred
async def test_queue_is_bounded_and_drops_oldest(
    private_mariadb: mariadb.PrivateMariaDB,
    outage_url: MysqlURL,
    open_store: Callable[[int], LoginStore],
) -> None:
    """With the database down, a store limited to N records keeps the N newest ones."""
    await in_thread(private_mariadb.stop, SERVER_WAIT)
    store = open_store(5)
    await wait_until(lambda: not store.available, "the store to notice the outage", DB_TIMEOUT)

    users = [f"user{i}" for i in range(8)]
    for i, nick in enumerate(users):
        assert failed_already(store.record_login(nick, BASE + timedelta(minutes=i)))
        assert store.queued == min(i + 1, 5)
    assert store.queued == 5

    await in_thread(private_mariadb.start, SERVER_WAIT)
    await wait_until(
        lambda: store.available and store.queued == 0, "the queue to drain", RECOVERY_WAIT
    )
    assert await bounded(store.flush(DB_TIMEOUT)) == 0
    assert await in_thread(lambda: read_rows(outage_url)) == [
        (nick, nick, naive_utc(BASE + timedelta(minutes=i)))
        for i, nick in enumerate(users)
        if i >= 3
    ]


@pytest_twisted.ensureDeferred
async def test_queue_limit_drops_waiting_login_of_pending_record(
    private_mariadb: mariadb.PrivateMariaDB,
    outage_url: MysqlURL,
    open_store: Callable[[int], LoginStore],
) -> None:
    """A record queued before the outage was noticed is dropped first when the queue overflows."""
    store = open_store(2)
    assert await bounded(store.record_login("Ana", BASE)) is None
    await in_thread(private_mariadb.stop, SERVER_WAIT)
    await fails_unavailable(store.record_login("Bob", BASE + timedelta(minutes=1)))
    assert failed_already(store.record_login("Carol", BASE + timedelta(minutes=2)))
    assert failed_already(store.record_login("Dave", BASE + timedelta(minutes=3)))
    assert store.queued == 2

    await in_thread(private_mariadb.start, SERVER_WAIT)
    await wait_until(
        lambda: store.available and store.queued == 0, "the queue to drain", RECOVERY_WAIT
    )
    assert await bounded(store.flush(DB_TIMEOUT)) == 0
    assert [row[0] for row in await in_thread(lambda: read_rows(outage_url))] == [
        "ana",
        "carol",
        "dave",
    ]


@pytest_twisted.ensureDeferred
async def test_outage_state_is_set_before_failure_is_delivered(
    private_mariadb: mariadb.PrivateMariaDB,
    outage_url: MysqlURL,
    open_store: Callable[[int], LoginStore],
) -> None:
    """When a login fails with ``DatabaseUnavailable``, the store already shows the outage.

    ``record_login`` promises that on ``DatabaseUnavailable`` "the record stays queued"; code
    handling that failure (or recording another login from it) must see ``available`` False and
    the record counted in ``queued``, not the state from before the outage.
    """
    store = open_store(1000)
    assert await bounded(store.record_login("Ana", BASE)) is None
    await in_thread(private_mariadb.stop, SERVER_WAIT)

    seen: list[tuple[bool, int]] = []

    def observe(failure: Failure) -> None:
        failure.trap(DatabaseUnavailable)
        seen.append((store.available, store.queued))

    d = store.record_login("Bob", BASE + timedelta(minutes=1))
    d.addErrback(observe)
    await bounded(d)
    assert seen == [(False, 1)]
