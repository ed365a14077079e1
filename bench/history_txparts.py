"""The pieces of one history transaction at a low rate, one reactor turn per message.

Each mode runs N turns of ``deferLater(0.002)``; in every turn it does one thing and waits for
it to land before the next turn, so each message is its own transaction whatever the speed
(also under valgrind). Modes: ``idle`` (nothing), ``thread`` (``deferToThreadPool`` of a no-op),
``pool`` (``ConnectionPool.runInteraction`` of a no-op), ``db`` (``Database.run_interaction``
of a no-op), ``dbrow`` (the same inserting one message's row, FTS5 trigger included), ``store``
(``HistoryStore.keep`` of one public message, written by the store's own batch machinery).
CPU per turn (user and system, from ``getrusage``) is printed for each mode; for instruction
counts run one mode at a time under callgrind, with N and with 0, and divide the difference::

    .venv/bin/python bench/history_txparts.py sqlite:/tmp/tx.sqlite3 2000 \\
      idle,thread,pool,db,dbrow,store
    for n in 0 1000; do
      valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/history_txparts.py sqlite:/tmp/tx-$n.sqlite3 $n store \\
        2>&1 | grep Collected
    done
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet import defer, reactor, task, threads

from twisted_chat.events import EventSource
from twisted_chat.storage.database import Database
from twisted_chat.storage.engines import engine_for
from twisted_chat.storage.history import HistoryStore
from twisted_chat.storage.url import parse_db_url


class _Store(HistoryStore):
    """A history store that says when each batch has landed."""

    landed: defer.Deferred[None] | None = None

    def _written(self, batch: Any, result: None) -> None:
        super()._written(batch, result)
        landed, self.landed = self.landed, None
        if landed is not None:
            landed.callback(None)


def cpu() -> tuple[float, float]:
    """User and system CPU seconds of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def noop(*args: Any) -> None:
    """Nothing (the work of an empty transaction)."""


def main(url: str, count: int, modes: list[str]) -> None:
    """Run each of ``modes`` for ``count`` turns and print its CPU per turn."""
    db = Database(engine_for(parse_db_url(url)), reactor)
    store = _Store(db, reactor, 30)
    events = EventSource(reactor)

    def one_row(txn: adbapi.Transaction, i: int) -> None:
        row = (f"r{time.time_ns()}-{i}", "general", 1, "ana", "ana", f"hola que tal {i} amigos")
        store._write_batch(txn, [row])

    @defer.inlineCallbacks
    def run() -> Any:
        yield db.ensure_ready()
        pool: Any = db._pool
        threadpool = reactor.getThreadPool()  # type: ignore[attr-defined,unused-ignore]
        for mode in modes:
            c0 = cpu()
            for i in range(count):
                if mode == "thread":
                    yield threads.deferToThreadPool(reactor, threadpool, noop)  # type: ignore[arg-type]
                elif mode == "pool":
                    yield pool.runInteraction(noop)
                elif mode == "db":
                    yield db.run_interaction("nothing", noop)
                elif mode == "dbrow":
                    yield db.run_interaction("one row", one_row, i)
                elif mode == "store":
                    store.landed = defer.Deferred()
                    store.keep(events.public("general", "ana", f"hola que tal {i} amigos"))
                    yield store.landed
                elif mode != "idle":
                    raise SystemExit(f"unknown mode {mode}")
                yield task.deferLater(reactor, 0.002, noop)
            c1 = cpu()
            user, system = (c1[0] - c0[0]) / max(1, count), (c1[1] - c0[1]) / max(1, count)
            print(
                f"{mode:6s} user {user * 1e6:6.1f} sys {system * 1e6:6.1f} "
                f"total {(user + system) * 1e6:6.1f} us per turn"
                + (f" (batches {store.batches_written})" if mode == "store" else ""),
                flush=True,
            )
        reactor.stop()

    reactor.callWhenRunning(run)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","))
