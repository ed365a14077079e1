"""The ``clientes`` table: one row per user with the time of their last login.

Logins are written in batches (one transaction for all the logins of a reactor tick, with
``executemany``), so a login storm costs the database a few transactions rather than one per
login. While the database is unavailable, records wait in a bounded in-memory queue (one per
nickname, latest time wins, original timestamps kept) and are written when it comes back,
retried with exponential backoff. The outage is logged once and the recovery once (the
machinery is :mod:`twisted_chat.storage.batching`'s; this module says what a batch is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from twisted_chat import nicknames
from twisted_chat.storage.batching import Batch, BatchedWriter, WriterLogs
from twisted_chat.storage.database import Database

#: Records written per transaction at most.
BATCH_SIZE = 500
#: Default bound of the outage queue (records, one per nickname).
DEFAULT_QUEUE_LIMIT = 100_000


class DatabaseUnavailable(Exception):
    """The database could not be reached; the login is queued and will be written later."""


@dataclass
class _PendingLogin:
    nickname: str
    when: datetime
    waiters: list[defer.Deferred[datetime | None]] = field(default_factory=list)


class LoginStore(BatchedWriter[str, _PendingLogin, dict[str, datetime]]):
    """Records logins in ``clientes`` and reports each user's previous connection time.

    :meth:`record_login` never blocks and never fails loudly: its Deferred fires with the previous
    ``connected_at`` (``None`` for a new user), or fails with :class:`DatabaseUnavailable` when
    the database is down, in which case the record stays queued and is written later.
    """

    batch_size = BATCH_SIZE
    logs = WriterLogs(
        outage="Database unavailable ({error}); chat goes on, logins are queued and will be "
        "written when it returns",
        recovery="Database available again after {seconds:.1f}s; writing {count} queued logins",
        queue_full="Login queue full ({limit} records): {dropped} oldest records dropped so far",
        stopping="Stopping with {count} login records not written to the database",
        error="Database error ({count} login records dropped)",
    )

    def __init__(
        self, database: Database, clock: IReactorTime, queue_limit: int = DEFAULT_QUEUE_LIMIT
    ) -> None:
        super().__init__(database, clock, queue_limit)
        self._engine = database.engine
        self._select = self._engine.sql(
            "SELECT nick_key, connected_at FROM clientes WHERE nick_key IN ({marks})"
        )
        self._upsert = self._engine.sql(self._engine.upsert_login)
        self._mark = self._engine.sql("?")
        self._select_one = self._engine.sql(
            "SELECT nickname, connected_at FROM clientes WHERE nick_key = ?"
        )
        self._delete = self._engine.sql("DELETE FROM clientes WHERE nick_key = ?")

    def record_login(self, nickname: str, when: datetime) -> defer.Deferred[datetime | None]:
        """Queue a login of ``nickname`` at ``when``; fire with the previous ``connected_at``."""
        d: defer.Deferred[datetime | None] = defer.Deferred()
        nick_key = nicknames.key(nickname)
        pending = self._pending.pop(nick_key, None)
        if pending is None:
            pending = _PendingLogin(nickname, when)
        elif when >= pending.when:
            pending.nickname, pending.when = nickname, when
        self._pending[nick_key] = pending
        if not self.available:
            d.errback(DatabaseUnavailable("database unavailable; login queued"))
        else:
            pending.waiters.append(d)
            if self._writing is None:
                self._schedule(0)
        if len(self._pending) > self.queue_limit:
            self._drop_oldest()
        return d

    # -- writing ----------------------------------------------------------------------------

    def _run_batch(self, batch: Batch[str, _PendingLogin]) -> defer.Deferred[dict[str, datetime]]:
        rows = [(k, p.nickname, self._engine.to_db_time(p.when)) for k, p in batch]
        return self._db.run_interaction("record logins", self._write_batch, rows)

    def _write_batch(
        self, txn: adbapi.Transaction, rows: Sequence[tuple[str, str, str]]
    ) -> dict[str, datetime]:
        """Read the previous times of ``rows``' users, then upsert them all (idempotent)."""
        previous: dict[str, datetime] = {}
        keys = [row[0] for row in rows]
        for start in range(0, len(keys), BATCH_SIZE):
            chunk = keys[start : start + BATCH_SIZE]
            txn.execute(self._select.format(marks=", ".join([self._mark] * len(chunk))), chunk)
            for nick_key, connected_at in txn.fetchall():
                previous[nick_key] = self._engine.from_db_time(connected_at)
        txn.executemany(self._upsert, rows)
        return previous

    def _written(self, batch: Batch[str, _PendingLogin], result: dict[str, datetime]) -> None:
        for nick_key, pending in batch:
            for waiter in pending.waiters:
                waiter.callback(result.get(nick_key))

    def _requeue(self, batch: Batch[str, _PendingLogin]) -> None:
        """Put a batch that could not be written back at the front of the queue (a newer
        login of the same nickname queued meanwhile keeps its place, with the later time)."""
        for nick_key, pending in reversed(batch):
            newer = self._pending.get(nick_key)
            if newer is None:
                self._pending[nick_key] = pending
                self._pending.move_to_end(nick_key, last=False)
            elif pending.when > newer.when:
                newer.nickname, newer.when = pending.nickname, pending.when

    def _kept(self, batch: Batch[str, _PendingLogin], error: Exception) -> None:
        """The batch's logins stay queued, but their callers learn now that it is down."""
        self._lost(batch, error)

    def _lost(self, batch: Batch[str, _PendingLogin], error: Exception) -> None:
        waiters = [w for _, pending in batch for w in pending.waiters]
        for _, pending in batch:
            pending.waiters = []
        for waiter in waiters:
            waiter.errback(DatabaseUnavailable(str(error)))

    def _discard(self, entry: _PendingLogin) -> None:
        for waiter in entry.waiters:
            waiter.errback(DatabaseUnavailable("login queue full; record dropped"))

    # -- one user (the admin command) -------------------------------------------------------

    @defer.inlineCallbacks
    def last_login(self, nick_key: str) -> Any:
        """The stored ``(nickname, connected_at)`` of ``nick_key``, or ``None``."""
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> tuple[str, datetime] | None:
            txn.execute(self._select_one, (nick_key,))
            row = txn.fetchone()
            return None if row is None else (str(row[0]), self._engine.from_db_time(row[1]))

        result = yield self._db.run_interaction("read login", read)
        return result

    @defer.inlineCallbacks
    def forget(self, nick_key: str) -> Any:
        """Delete the row of ``nick_key``; fire with how many rows (0 or 1)."""
        yield self._db.ensure_ready()

        def delete(txn: adbapi.Transaction) -> int:
            txn.execute(self._delete, (nick_key,))
            return int(txn.rowcount)

        result = yield self._db.run_interaction("forget login", delete)
        return result
