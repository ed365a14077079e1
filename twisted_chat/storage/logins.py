"""The ``clientes`` table: one row per user with the time of their last login.

Logins are written in batches (one transaction for all the logins of a reactor tick, with
``executemany``), so a login storm costs the database a few transactions rather than one per
login. While the database is unavailable, records wait in a bounded in-memory queue (one per
nickname, latest time wins, original timestamps kept) and are written when it comes back,
retried with exponential backoff. The outage is logged once and the recovery once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import nicknames
from twisted_chat.storage.database import Database, DatabaseMisconfigured

#: Records written per transaction at most.
BATCH_SIZE = 500
#: Default bound of the outage queue (records, one per nickname).
DEFAULT_QUEUE_LIMIT = 100_000
#: Backoff between attempts while the database is unavailable, in seconds.
MIN_BACKOFF = 0.5
MAX_BACKOFF = 30.0


class DatabaseUnavailable(Exception):
    """The database could not be reached; the login is queued and will be written later."""


@dataclass
class _PendingLogin:
    nickname: str
    when: datetime
    waiters: list[defer.Deferred[datetime | None]] = field(default_factory=list)


class LoginStore:
    """Records logins in ``clientes`` and reports each user's previous connection time.

    :meth:`record_login` never blocks and never fails loudly: its Deferred fires with the previous
    ``connected_at`` (``None`` for a new user), or fails with :class:`DatabaseUnavailable` when
    the database is down, in which case the record stays queued and is written later.
    """

    log = Logger()

    def __init__(
        self, database: Database, clock: IReactorTime, queue_limit: int = DEFAULT_QUEUE_LIMIT
    ) -> None:
        self._db = database
        self._engine = database.engine
        self._clock = clock
        self.queue_limit = max(1, queue_limit)
        self._pending: OrderedDict[str, _PendingLogin] = OrderedDict()
        self._flush_call: IDelayedCall | None = None
        self._writing: defer.Deferred[None] | None = None
        self._backoff = 0.0
        self._outage_since: float | None = None
        self._dropped = 0
        self._stopped = False
        self._select = self._engine.sql(
            "SELECT nick_key, connected_at FROM clientes WHERE nick_key IN ({marks})"
        )
        self._upsert = self._engine.sql(self._engine.upsert_login)
        self._mark = self._engine.sql("?")
        #: Called with the seconds each successful batch write took, if set (the metrics'
        #: ``chat_db_write_seconds``).
        self.on_batch_written: Callable[[float], None] | None = None

    # -- public interface -------------------------------------------------------------------

    @property
    def database(self) -> Database:
        """The database this store writes to."""
        return self._db

    @property
    def queued(self) -> int:
        """Login records waiting to be written."""
        return len(self._pending)

    @property
    def available(self) -> bool:
        """False while the database is known to be unavailable."""
        return self._outage_since is None

    @property
    def outage_since(self) -> float | None:
        """When the current outage began (the clock's seconds), ``None`` while available."""
        return self._outage_since

    def start(self) -> None:
        """Create the schema (and, for MySQL, the database) as soon as possible."""
        self._schedule(0)

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
        self._enforce_limit()
        return d

    def flush(self, timeout: float) -> defer.Deferred[int]:
        """Try to write everything queued within ``timeout`` seconds; fire with what is left."""
        done: defer.Deferred[int] = defer.Deferred()
        deadline = self._clock.seconds() + timeout

        def check() -> None:
            if not self._pending and self._writing is None:
                done.callback(0)
            elif self._clock.seconds() >= deadline or self._db.misconfigured is not None:
                done.callback(len(self._pending))
            else:
                if self._writing is None and self._flush_call is None:
                    self._schedule(0)
                self._clock.callLater(0.05, check)

        check()
        return done

    def stop(self) -> None:
        """Stop scheduling writes (queued records not yet written are lost, and logged)."""
        self._stopped = True
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        if self._pending:
            self.log.warn(
                "Stopping with {count} login records not written to the database",
                count=len(self._pending),
            )

    # -- writing ----------------------------------------------------------------------------

    def _enforce_limit(self) -> None:
        while len(self._pending) > self.queue_limit:
            _, dropped = self._pending.popitem(last=False)
            for waiter in dropped.waiters:
                waiter.errback(DatabaseUnavailable("login queue full; record dropped"))
            self._dropped += 1
        if self._dropped and (self._dropped == 1 or self._dropped % 1000 == 0):
            self.log.warn(
                "Login queue full ({limit} records): {dropped} oldest records dropped so far",
                limit=self.queue_limit,
                dropped=self._dropped,
            )

    def _schedule(self, delay: float) -> None:
        if self._stopped or self._flush_call is not None:
            return
        self._flush_call = self._clock.callLater(delay, self._write_some)

    def _write_some(self) -> None:
        self._flush_call = None
        if self._writing is not None or self._stopped:
            return
        batch: list[tuple[str, _PendingLogin]] = []
        while self._pending and len(batch) < BATCH_SIZE:
            batch.append(self._pending.popitem(last=False))
        self._writing = self._write(batch)

    @defer.inlineCallbacks
    def _write(self, batch: list[tuple[str, _PendingLogin]]) -> Any:
        try:
            yield self._db.ensure_ready()
            previous: dict[str, datetime] = {}
            if batch:
                rows = [(k, p.nickname, self._engine.to_db_time(p.when)) for k, p in batch]
                started = self._clock.seconds()
                previous = yield self._db.run_interaction("record logins", self._write_batch, rows)
                if self.on_batch_written is not None:
                    self.on_batch_written(self._clock.seconds() - started)
        except Exception as e:
            self._writing = None
            self._failed(batch, e)
            return
        self._writing = None
        self._succeeded(batch, previous)

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

    def _succeeded(
        self, batch: list[tuple[str, _PendingLogin]], previous: dict[str, datetime]
    ) -> None:
        if self._outage_since is not None:
            self.log.info(
                "Database available again after {seconds:.1f}s; writing {count} queued logins",
                seconds=self._clock.seconds() - self._outage_since,
                count=len(self._pending) + len(batch),
            )
            self._outage_since = None
        self._backoff = 0.0
        for nick_key, pending in batch:
            for waiter in pending.waiters:
                waiter.callback(previous.get(nick_key))
        if self._pending:
            self._schedule(0)

    def _give_up(self, batch: list[tuple[str, _PendingLogin]], error: Exception) -> None:
        """The database can never work (it reported it once): keep the records (stopping
        logs how many were not written), stop trying, fail the waiters."""
        self._stopped = True
        for nick_key, pending in batch:
            self._pending.setdefault(nick_key, pending)
        waiters = [w for _, pending in batch for w in pending.waiters]
        for _, pending in batch:
            pending.waiters = []
        for waiter in waiters:
            waiter.errback(DatabaseUnavailable(str(error)))

    def _requeue(self, batch: list[tuple[str, _PendingLogin]]) -> None:
        """Put a batch that could not be written back at the front of the queue (a newer
        login of the same nickname queued meanwhile keeps its place, with the later time)."""
        for nick_key, pending in reversed(batch):
            newer = self._pending.get(nick_key)
            if newer is None:
                self._pending[nick_key] = pending
                self._pending.move_to_end(nick_key, last=False)
            elif pending.when > newer.when:
                newer.nickname, newer.when = pending.nickname, pending.when

    def _failed(self, batch: list[tuple[str, _PendingLogin]], error: Exception) -> None:
        # State first (queue, outage, retry), callbacks last: code reacting to a failed
        # Deferred sees the store as it is, with the record queued.
        if isinstance(error, DatabaseMisconfigured):
            self._give_up(batch, error)
            return
        unavailable = self._db.is_unavailable(error)
        waiters = [w for _, pending in batch for w in pending.waiters]
        for _, pending in batch:
            pending.waiters = []
        if unavailable:
            self._requeue(batch)
            if self._outage_since is None:
                self._outage_since = self._clock.seconds()
                self.log.error(
                    "Database unavailable ({error}); chat goes on, logins are queued and will be "
                    "written when it returns",
                    error=error,
                )
            self._backoff = min(MAX_BACKOFF, max(MIN_BACKOFF, self._backoff * 2))
            self._schedule(self._backoff)
        else:
            self.log.failure(
                "Database error ({count} login records dropped)", Failure(error), count=len(batch)
            )
            if self._pending:
                self._schedule(0)
        for waiter in waiters:
            waiter.errback(DatabaseUnavailable(str(error)))
        if unavailable:
            self._enforce_limit()
