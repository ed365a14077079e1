"""Writing queued records in batches, through database outages.

One batch per reactor turn: everything queued during a turn goes into one transaction (at most
:attr:`BatchedWriter.batch_size` records), and while one write is on its way, what is queued
meanwhile waits for the next (one write in flight at a time). While the database is
unavailable, records wait in a bounded queue (the oldest dropped first, and counted) and are
written when it returns, retried with exponential backoff; the outage is logged once and the
recovery once. A database that can never work (:class:`DatabaseMisconfigured`) stops the
writer with the records kept. :meth:`BatchedWriter.flush` writes what it can at shutdown and
:meth:`BatchedWriter.stop` stops.

A store subclasses :class:`BatchedWriter` and says only what a batch is and how it is written
(:meth:`BatchedWriter._run_batch`), how a batch goes back in the queue, and what its callers
are told when records are written, kept, lost or dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat.storage.database import Database, DatabaseMisconfigured

#: Backoff between attempts while the database is unavailable, in seconds.
MIN_BACKOFF = 0.5
MAX_BACKOFF = 30.0

#: The key of a queued record (a record queued again under its key replaces or joins it).
K = TypeVar("K", bound=Hashable)
#: A queued record, as the store keeps it (with whatever waits for it).
E = TypeVar("E")
#: What writing one batch gives back (``None`` when nothing).
R = TypeVar("R")

#: A batch: queued records with their keys, oldest first.
Batch = list[tuple[K, E]]


@dataclass(frozen=True, slots=True)
class WriterLogs:
    """The log formats of one store's writer (its own words for what it writes)."""

    #: Logged once when an outage begins; field ``error``.
    outage: str
    #: Logged once when it ends; fields ``seconds`` (how long it lasted), ``count`` (queued).
    recovery: str
    #: Logged on the first record dropped from a full queue and every 1000th; fields
    #: ``limit``, ``dropped``.
    queue_full: str
    #: Logged by :meth:`BatchedWriter.stop` with records unwritten; field ``count``.
    stopping: str
    #: Logged with the traceback of an error that is not an outage; field ``count``.
    error: str


class BatchedWriter(Generic[K, E, R]):
    """The write machinery of a store: a queue of records keyed by ``K``, written in batches.

    Subclasses set :attr:`batch_size` and :attr:`logs`, queue records in ``self._pending``
    (then call :meth:`_schedule` and, when the queue is over :attr:`queue_limit`,
    :meth:`_drop_oldest`) and implement the hooks below.
    """

    log = Logger()

    #: Records written per transaction at most.
    batch_size: int = 500
    #: What this writer logs.
    logs: WriterLogs

    def __init__(self, database: Database, clock: IReactorTime, queue_limit: int) -> None:
        self._db = database
        self._clock = clock
        #: Most records queued at once; beyond it the oldest are dropped.
        self.queue_limit = max(1, queue_limit)
        self._pending: OrderedDict[K, E] = OrderedDict()
        self._flush_call: IDelayedCall | None = None
        self._writing: defer.Deferred[None] | None = None
        self._backoff = 0.0
        self._outage_since: float | None = None
        self._starting = False
        self._stopped = False
        #: Records dropped because the outage queue was full (since start).
        self.dropped = 0
        #: Transactions that wrote a batch (for tests and metrics).
        self.batches_written = 0
        #: Called with the seconds each successful batch write took, if set (the metrics'
        #: ``chat_db_write_seconds``).
        self.on_batch_written: Callable[[float], None] | None = None

    # -- hooks -----------------------------------------------------------------------------

    def _run_batch(self, batch: Batch[K, E]) -> defer.Deferred[R]:
        """Write ``batch`` (never empty) in one transaction; fire with what it gives back."""
        raise NotImplementedError

    def _written(self, batch: Batch[K, E], result: R) -> None:
        """``batch`` is in the database: tell whoever waits for it."""
        raise NotImplementedError

    def _requeue(self, batch: Batch[K, E]) -> None:
        """Put ``batch``, which could not be written, back at the front of the queue."""
        raise NotImplementedError

    def _kept(self, batch: Batch[K, E], error: Exception) -> None:
        """``batch`` failed with ``error`` and is queued again (already): tell whoever waits,
        if they are to know. By default, nothing."""

    def _lost(self, batch: Batch[K, E], error: Exception) -> None:
        """``batch`` failed with ``error`` (not an outage) and will never be written."""
        raise NotImplementedError

    def _discard(self, entry: E) -> None:
        """``entry`` was dropped from a full queue and will never be written."""
        raise NotImplementedError

    def _abandon(self) -> None:
        """:meth:`stop` with records queued: deal with them. By default they stay queued."""

    # -- state -----------------------------------------------------------------------------

    @property
    def database(self) -> Database:
        """The database this store writes to."""
        return self._db

    @property
    def queued(self) -> int:
        """Records waiting to be written."""
        return len(self._pending)

    @property
    def available(self) -> bool:
        """False while the database is known to be unavailable."""
        return self._outage_since is None

    @property
    def outage_since(self) -> float | None:
        """When the current outage began (the clock's seconds), ``None`` while available."""
        return self._outage_since

    # -- control ---------------------------------------------------------------------------

    def start(self) -> None:
        """Make the database ready (the schema, and for MySQL the database) as soon as
        possible, retried like a write while it is unavailable."""
        self._starting = True
        self._schedule(0)

    def flush(self, timeout: float) -> defer.Deferred[int]:
        """Try to write everything queued within ``timeout`` seconds (at shutdown); fire with
        how many records are left unwritten."""
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
        """Stop writing; records still queued are not written (logged)."""
        self._stopped = True
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        if self._pending:
            self.log.warn(self.logs.stopping, count=len(self._pending))
            self._abandon()

    # -- writing ---------------------------------------------------------------------------

    def _drop_oldest(self) -> None:
        """Drop the oldest records while the queue is over :attr:`queue_limit`."""
        while len(self._pending) > self.queue_limit:
            _, entry = self._pending.popitem(last=False)
            self.dropped += 1
            self._discard(entry)
            if self.dropped == 1 or self.dropped % 1000 == 0:
                self.log.warn(self.logs.queue_full, limit=self.queue_limit, dropped=self.dropped)

    def _schedule(self, delay: float) -> None:
        """Write the next batch in ``delay`` seconds (unless a write is already scheduled)."""
        if self._stopped or self._flush_call is not None:
            return
        self._flush_call = self._clock.callLater(delay, self._write_some)

    def _write_some(self) -> None:
        self._flush_call = None
        if self._writing is not None or self._stopped:
            return
        if not self._pending and not self._starting:
            return
        batch: Batch[K, E] = []
        while self._pending and len(batch) < self.batch_size:
            batch.append(self._pending.popitem(last=False))
        writing = self._write(batch)
        if not writing.called:  # a write that finished at once has cleared _writing itself
            self._writing = writing

    def _write(self, batch: Batch[K, E]) -> defer.Deferred[None]:
        """Make the database ready, write ``batch`` (if any), then update the state and tell
        the callers; the Deferred fires (with ``None``) after all that.

        Plain Deferred callbacks rather than ``inlineCallbacks`` (as in
        :meth:`Database.run_interaction`): at a low rate every record is its own batch.
        """
        d: defer.Deferred[Any] = self._db.ensure_ready()
        if batch:
            d.addCallback(self._run_timed, batch)
        d.addCallbacks(self._landed, self._not_landed, callbackArgs=(batch,), errbackArgs=(batch,))
        return d

    def _run_timed(self, _: object, batch: Batch[K, E]) -> defer.Deferred[R]:
        started = self._clock.seconds()
        return self._run_batch(batch).addCallback(self._timed, started)

    def _timed(self, result: R, started: float) -> R:
        if self.on_batch_written is not None:
            self.on_batch_written(self._clock.seconds() - started)
        return result

    def _landed(self, result: Any, batch: Batch[K, E]) -> None:
        self._writing = None
        self._succeeded(batch)
        if batch:
            self._written(batch, result)

    def _not_landed(self, failure: Failure, batch: Batch[K, E]) -> Failure | None:
        error = failure.value
        if not isinstance(error, Exception):
            return failure
        self._writing = None
        self._failed(batch, error)
        return None

    def _succeeded(self, batch: Batch[K, E]) -> None:
        self._starting = False
        if batch:
            self.batches_written += 1
        if self._outage_since is not None:
            self.log.info(
                self.logs.recovery,
                seconds=self._clock.seconds() - self._outage_since,
                count=len(self._pending) + len(batch),
            )
            self._outage_since = None
        self._backoff = 0.0
        if self._pending:
            self._schedule(0)

    def _failed(self, batch: Batch[K, E], error: Exception) -> None:
        # State first (queue, outage, retry), callers last: code reacting to a failed write
        # sees the store as it is, with the records queued.
        if isinstance(error, DatabaseMisconfigured):
            # Reported once by the database; keep the records (stop logs how many) and stop.
            self._stopped = True
            self._requeue(batch)
            self._kept(batch, error)
            return
        if self._db.is_unavailable(error):
            self._requeue(batch)
            if self._outage_since is None:
                self._outage_since = self._clock.seconds()
                self.log.error(self.logs.outage, error=error)
            self._backoff = min(MAX_BACKOFF, max(MIN_BACKOFF, self._backoff * 2))
            self._schedule(self._backoff)
            self._kept(batch, error)
            self._drop_oldest()
            return
        self.log.failure(self.logs.error, Failure(error), count=len(batch))
        if self._pending:
            self._schedule(0)
        self._lost(batch, error)
