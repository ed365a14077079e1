"""The history store's batching and outage queue, on a fake clock and an in-memory SQLite
database whose "server" a test can take down and bring back.

The same behaviour against a real MariaDB that is stopped and started is in
``tests/e2e/test_storage_history_outage.py``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, cast

from twisted.internet import defer, task
from twisted.logger import ILogObserver, LogEvent, LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from twisted_chat.events import Public
from twisted_chat.storage.database import Database
from twisted_chat.storage.engines import SqliteEngine, schema_statements
from twisted_chat.storage.history import HistoryStore
from twisted_chat.storage.url import SqliteURL

T0 = 1_795_509_000_000


class FakeDatabase:
    """Runs transactions at once on an in-memory SQLite connection, or fails them like a
    database that is down (``down = True``)."""

    def __init__(self) -> None:
        self.engine = SqliteEngine(SqliteURL(":memory:"))
        self.conn = sqlite3.connect(":memory:")
        for statement in schema_statements(self.engine.schema_file):
            self.conn.execute(statement)
        self.down = False
        self.misconfigured = None
        self.transactions = 0

    def ensure_ready(self) -> defer.Deferred[None]:
        """Ready at once, unless down."""
        if self.down:
            return defer.fail(sqlite3.OperationalError("unable to open database file"))
        return defer.succeed(None)

    def run_interaction(
        self, description: str, func: Callable[..., Any], *args: Any
    ) -> defer.Deferred[Any]:
        """Run ``func`` in a transaction now, or fail as an unavailable database would."""
        if self.down:
            return defer.fail(sqlite3.OperationalError("unable to open database file"))
        self.transactions += 1
        cursor = self.conn.cursor()
        try:
            result = func(cursor, *args)
        except Exception:
            self.conn.rollback()
            return defer.fail()
        self.conn.commit()
        return defer.succeed(result)

    def is_unavailable(self, error: BaseException) -> bool:
        """As the real database decides."""
        return self.engine.is_unavailable(error)

    def rows(self) -> list[tuple[str, int, str]]:
        """(id, time, text) of every stored message, in (time, id) order."""
        return self.conn.execute(
            "SELECT id, sent_at, text FROM mensajes ORDER BY sent_at, id"
        ).fetchall()


def message(n: int) -> Public:
    """Public message number ``n``."""
    return Public(f"m{n:05d}", T0 + n, "general", "Ana", f"texto {n}")


class HistoryQueueTests(SynchronousTestCase):
    """Batching per turn, the bounded outage queue and recovery."""

    def setUp(self) -> None:
        self.clock = task.Clock()
        self.db = FakeDatabase()
        self.store = HistoryStore(cast(Database, self.db), self.clock, queue_limit=100)
        self.events: list[LogEvent] = []
        observer = cast(ILogObserver, self.events.append)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)

    def store_logs(self, level: LogLevel) -> list[LogEvent]:
        """This store's log events of ``level``."""
        return [
            e
            for e in self.events
            if e.get("log_source") is self.store and e.get("log_level") is level
        ]

    def test_one_transaction_per_turn(self) -> None:
        """Everything added before the reactor turns is written by one transaction."""
        results = [self.store.add(message(n)) for n in range(80)]
        self.assertEqual(self.db.transactions, 0)
        self.clock.advance(0)
        self.assertEqual(self.db.transactions, 1)
        self.assertEqual([self.successResultOf(d) for d in results], [True] * 80)
        self.assertEqual(len(self.db.rows()), 80)

    def test_outage_queues_and_writes_originals_when_back(self) -> None:
        """During an outage messages wait; when the database returns they are written once,
        with their own ids and times; the outage and the recovery are logged once each."""
        self.db.down = True
        first = [self.store.add(message(n)) for n in range(30)]
        self.clock.advance(0)
        self.assertFalse(self.store.available)
        self.assertNoResult(first[0])
        later = [self.store.add(message(n)) for n in range(30, 60)]
        for _ in range(5):
            self.clock.advance(30)
        self.assertEqual(self.store.queued, 60)
        self.assertEqual(len(self.store_logs(LogLevel.error)), 1)
        self.db.down = False
        self.clock.advance(30)
        self.assertTrue(self.store.available)
        self.assertEqual(self.store.queued, 0)
        self.assertEqual([self.successResultOf(d) for d in first + later], [True] * 60)
        self.assertEqual(self.db.rows(), [(f"m{n:05d}", T0 + n, f"texto {n}") for n in range(60)])
        self.assertEqual(len(self.store_logs(LogLevel.error)), 1)
        [recovered] = self.store_logs(LogLevel.info)
        self.assertEqual(recovered["count"], 60)

    def test_full_queue_drops_oldest_and_counts(self) -> None:
        """Over the bound the oldest messages go (their Deferreds fire False), counted and
        logged once; the newest are written when the database returns."""
        self.db.down = True
        results = [self.store.add(message(n)) for n in range(250)]
        self.clock.advance(0)
        self.assertEqual(self.store.queued, 100)
        self.assertEqual(self.store.dropped, 150)
        self.assertEqual([self.successResultOf(d) for d in results[:150]], [False] * 150)
        self.assertEqual(len(self.store_logs(LogLevel.warn)), 1)
        self.db.down = False
        self.clock.advance(30)
        self.assertEqual([r[0] for r in self.db.rows()], [f"m{n:05d}" for n in range(150, 250)])

    def test_retried_batch_and_repeated_ids_make_no_duplicates(self) -> None:
        """An id added again, queued or stored, is one row."""
        self.store.add(message(1))
        self.store.add(message(1))
        self.clock.advance(0)
        self.store.add(message(1))
        self.clock.advance(0)
        self.assertEqual(len(self.db.rows()), 1)

    def test_forget_takes_queued_messages_too(self) -> None:
        """``forget`` during an outage removes that sender's queued messages and counts them."""
        self.db.down = True
        queued = [self.store.add(message(n)) for n in range(5)]
        self.clock.advance(0)
        self.db.down = False
        self.assertEqual(self.successResultOf(self.store.forget("ana")), 5)
        self.assertEqual([self.successResultOf(d) for d in queued], [False] * 5)
        self.assertEqual(self.store.queued, 0)

    def test_flush_writes_everything_or_says_what_is_left(self) -> None:
        """``flush`` fires 0 once everything is written, or the count left at its timeout."""
        self.db.down = True
        for n in range(10):
            self.store.add(message(n))
        left = self.store.flush(1.0)
        self.clock.pump([0.05] * 25)
        self.assertEqual(self.successResultOf(left), 10)
        self.db.down = False
        done = self.store.flush(60.0)
        self.clock.pump([0.5] * 80)
        self.assertEqual(self.successResultOf(done), 0)
        self.assertEqual(len(self.db.rows()), 10)

    def test_stop_loses_queued_and_says_so(self) -> None:
        """Stopping with messages queued fires their Deferreds False and logs a warning."""
        self.db.down = True
        queued = self.store.add(message(1))
        self.clock.advance(0)
        self.store.stop()
        self.assertFalse(self.successResultOf(queued))
        self.assertFalse(self.successResultOf(self.store.add(message(2))))
        self.assertEqual(len(self.store_logs(LogLevel.warn)), 1)


class QueryPlanTests(SynchronousTestCase):
    """SQLite's plans for the history's reads and purges use the indexes, never a scan."""

    def test_plans(self) -> None:
        """A deeper page is a range of ``mensajes_sala``; a purge chunk one of
        ``mensajes_tiempo``; a search starts from the FTS5 index."""
        db = FakeDatabase()
        store = HistoryStore(cast(Database, db), task.Clock())

        def plan(sql: str, args: tuple[Any, ...]) -> str:
            rows = db.conn.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()
            return " | ".join(str(row[-1]) for row in rows)

        page = plan(store._page_before, ("general", T0, "m1", 51))
        self.assertIn("INDEX mensajes_sala (room_key=? AND (sent_at,id)<(?,?))", page)
        purge = plan(store._purge, (T0, 2000))
        self.assertIn("INDEX mensajes_tiempo (sent_at<?)", purge)
        sql, args = db.engine.search_messages(["cafe"], 20)
        search = plan(sql, ("general", *args))
        # The first step is the full-text index, each match then read by its row number (not
        # the room's rows by mensajes_sala, each probing the full-text index).
        self.assertTrue(search.startswith("SCAN mensajes_fts VIRTUAL TABLE INDEX"), search)
        self.assertIn("SEARCH m USING INTEGER PRIMARY KEY (rowid=?)", search)
        self.assertNotIn("mensajes_sala", search)
