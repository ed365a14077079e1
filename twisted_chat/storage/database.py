"""An ``adbapi.ConnectionPool`` wrapped with bounded retries and clear logging.

Modelled on Synapse's ``synapse/storage/database.py``: the reactor is a parameter, connections
are set up by the engine, and a transaction whose connection died mid-way (MySQL 2006/2013) is
retried a bounded number of times on a fresh connection, since ``cp_reconnect`` only reconnects
and never re-runs the failed query. Transaction bodies must therefore be idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from twisted.enterprise import adbapi
from twisted.internet import defer, threads
from twisted.internet.interfaces import IReactorCore, IReactorThreads
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat.storage.engines import Engine, created_table, schema_statements

P = ParamSpec("P")
R = TypeVar("R")

#: How many times a transaction is attempted when its connection is lost mid-way.
MAX_ATTEMPTS = 3


class DatabaseMisconfigured(Exception):
    """The database can never work as configured (access denied, no such database, a file
    that cannot be opened...): a configuration error, not an outage. The message is one line."""


class _QuietConnection(adbapi.Connection):
    """An ``adbapi`` connection whose rollback on a dead connection is quiet.

    Twisted's own logs "Rollback failed" with a traceback twice for every pooled connection that
    finds the server gone (once in ``Connection.rollback``, once in ``_runInteraction``), which
    turns one outage into a stream of critical tracebacks. Here the dead connection is dropped
    from the pool silently and the original error propagates, to be retried and logged once by
    our own code.
    """

    def rollback(self) -> None:
        pool: Any = self._pool
        connection: Any = self._connection
        if not pool.reconnect:
            connection.rollback()
            return
        try:
            connection.rollback()
            cursor = connection.cursor()
            cursor.execute(pool.good_sql)
            cursor.close()
            connection.commit()
        except Exception:
            pool.disconnect(connection)


class _ConnectionPool(adbapi.ConnectionPool):
    """``adbapi.ConnectionPool`` with :class:`_QuietConnection` connections."""

    connectionFactory = _QuietConnection


class Database:
    """A connection pool for one engine; every call returns a Deferred and never blocks."""

    log = Logger()

    def __init__(self, engine: Engine, reactor: Any) -> None:
        self.engine = engine
        self._reactor = reactor
        args, kwargs = engine.pool_args()
        self._pool = _ConnectionPool(engine.module.__name__, *args, cp_reactor=reactor, **kwargs)
        self._closed = False
        self._prepared = False
        self._ready = False
        self._ready_waiters: list[defer.Deferred[None]] = []
        #: Set once getting ready failed for good (see :meth:`ensure_ready`).
        self.misconfigured: DatabaseMisconfigured | None = None
        #: Called once with that error, before any caller of :meth:`ensure_ready` sees it.
        self.on_misconfigured: Callable[[DatabaseMisconfigured], None] | None = None

    def run_interaction(
        self,
        description: str,
        func: Callable[Concatenate[adbapi.Transaction, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> defer.Deferred[R]:
        """Run ``func(txn, ...)`` in one transaction; retry it if the connection was lost.

        Plain Deferred callbacks rather than ``inlineCallbacks``: every history message at a
        low rate is its own transaction, and the generator machinery was a measurable part of
        its cost (bench/history_txparts.py).
        """
        d: defer.Deferred[R] = self._pool.runInteraction(func, *args, **kwargs)
        d.addErrback(self._retry_if_lost, 1, description, func, args, kwargs)
        return d

    def _retry_if_lost(
        self,
        failure: Failure,
        attempt: int,
        description: str,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """The errback of :meth:`run_interaction`: run the transaction again on a fresh
        connection if the connection was lost (at most :data:`MAX_ATTEMPTS` in all)."""
        error = failure.value
        if not (
            attempt < MAX_ATTEMPTS
            and isinstance(error, Exception)
            and self.is_connection_lost(error)
        ):
            return failure
        self.log.info(
            "{description}: database connection lost ({error}); retrying",
            description=description,
            error=error,
        )
        d: defer.Deferred[Any] = self._pool.runInteraction(func, *args, **kwargs)
        d.addErrback(self._retry_if_lost, attempt + 1, description, func, args, kwargs)
        return d

    def is_connection_lost(self, error: BaseException) -> bool:
        """Whether ``error`` is a dropped connection (the statement may simply be re-run)."""
        return isinstance(error, adbapi.ConnectionLost) or self.engine.is_connection_lost(error)

    def is_unavailable(self, error: BaseException) -> bool:
        """Whether ``error`` means the database is down or unreachable for now."""
        return self.is_connection_lost(error) or self.engine.is_unavailable(error)

    def ensure_ready(self) -> defer.Deferred[None]:
        """Prepare the database and apply the schema, once; a failure is retried on next call.

        Concurrent callers share one attempt. An error that no retry can cure (the engine's
        :meth:`~twisted_chat.storage.engines.Engine.misconfiguration`) fails this and every
        later call with :class:`DatabaseMisconfigured`, and is reported once to
        :attr:`on_misconfigured` first.
        """
        if self._ready:
            return defer.succeed(None)
        if self.misconfigured is not None:
            return defer.fail(self.misconfigured)
        waiter: defer.Deferred[None] = defer.Deferred()
        self._ready_waiters.append(waiter)
        if len(self._ready_waiters) == 1:
            self._make_ready().addBoth(self._readiness_known)
        return waiter

    def _readiness_known(self, result: object) -> None:
        if isinstance(result, Failure) and result.value is not None:
            problem = self.engine.misconfiguration(result.value)
            if problem is not None:
                self.misconfigured = DatabaseMisconfigured(" ".join(problem.split()))
                result = Failure(self.misconfigured)
                if self.on_misconfigured is not None:
                    self.on_misconfigured(self.misconfigured)
        waiters, self._ready_waiters = self._ready_waiters, []
        for waiter in waiters:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(None)

    @defer.inlineCallbacks
    def _make_ready(self) -> Any:
        if not self._prepared:
            reactor: IReactorThreads = self._reactor
            yield threads.deferToThreadPool(reactor, reactor.getThreadPool(), self.engine.prepare)
            self._prepared = True
        yield self.apply_schema()
        self._ready = True

    def apply_schema(self) -> defer.Deferred[None]:
        """Create the tables from ``sql/`` if they do not exist (idempotent).

        A user without the CREATE privilege is fine as long as the tables exist already (a DBA
        applied ``sql/mysql.sql`` by hand).
        """
        statements = schema_statements(self.engine.schema_file)
        engine = self.engine

        def create(txn: adbapi.Transaction) -> None:
            for statement in statements:
                try:
                    txn.execute(statement)
                except Exception as e:
                    table = created_table(statement)
                    if table is None or not engine.is_privilege_error(e):
                        raise
                    txn.execute(f"SELECT 1 FROM {table} WHERE 1 = 0")  # exists and is readable

        d: defer.Deferred[None] = self.run_interaction("apply schema", create)
        return d

    def close(self) -> None:
        """Close every pooled connection and stop the pool's threads."""
        if not self._closed:
            self._closed = True
            self._pool.close()

    @property
    def reactor(self) -> IReactorCore:
        """The reactor this database schedules on."""
        core: IReactorCore = self._reactor
        return core
