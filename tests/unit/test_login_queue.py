"""The login store's write queue on a fake clock and a database that answers at once.

The batching and outage machinery is shared with the history store
(:mod:`twisted_chat.storage.batching`); its outage behaviour against real databases is in
``tests/inprocess/test_storage.py`` and ``tests/e2e/test_storage_outage.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

from twisted.internet import task
from twisted.trial.unittest import SynchronousTestCase

from tests.unit.test_history_queue import FakeDatabase
from twisted_chat.storage.database import Database
from twisted_chat.storage.logins import LoginStore

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class SynchronousWriteTests(SynchronousTestCase):
    """A database whose transactions complete before ``run_interaction`` returns."""

    def setUp(self) -> None:
        self.db = FakeDatabase()
        self.clock = task.Clock()
        self.store = LoginStore(cast(Database, self.db), self.clock)

    def test_a_write_that_completes_at_once_does_not_stall_the_queue(self) -> None:
        """Each turn's logins are written in their own transaction, one after the other (a
        write that had completed synchronously used to leave the store "writing" for ever)."""
        first = self.store.record_login("Ana", T0)
        self.clock.advance(0)
        self.assertIsNone(self.successResultOf(first))
        second = self.store.record_login("Bea", T0)
        self.clock.advance(0)
        self.assertIsNone(self.successResultOf(second))
        again = self.store.record_login("ana", T0 + timedelta(minutes=1))
        self.clock.advance(0)
        self.assertEqual(self.successResultOf(again), T0)
        self.assertEqual((self.store.queued, self.db.transactions), (0, 3))
        self.assertEqual(self.store.batches_written, 3)

    def test_one_transaction_per_turn(self) -> None:
        """Logins of one reactor turn share one transaction."""
        waiting = [self.store.record_login(f"user{n}", T0) for n in range(10)]
        self.clock.advance(0)
        self.assertEqual([self.successResultOf(d) for d in waiting], [None] * 10)
        self.assertEqual(self.db.transactions, 1)

    def test_flush_with_a_synchronous_database(self) -> None:
        """:meth:`flush` empties the queue and fires 0."""
        self.store.record_login("Ana", T0)
        flushed = self.store.flush(1.0)
        self.clock.pump([0, 0.05])
        self.assertEqual(self.successResultOf(flushed), 0)
