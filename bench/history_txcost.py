"""CPU per history transaction at a low rate: one public message per reactor turn, each written
alone (as at 50 messages/s), through the real HistoryStore on SQLite.

    .venv/bin/python bench/history_txcost.py /tmp/tx.sqlite3 2000
"""

import resource
import sys
import time
from typing import Any

from twisted.internet import defer, reactor, task

from twisted_chat.events import EventSource
from twisted_chat.storage.database import Database
from twisted_chat.storage.engines import engine_for
from twisted_chat.storage.history import HistoryStore
from twisted_chat.storage.url import parse_db_url

path = sys.argv[1]
N = int(sys.argv[2])
db = Database(engine_for(parse_db_url("sqlite:" + path)), reactor)
store = HistoryStore(db, reactor, 30)
events = EventSource(reactor)


def cpu() -> float:
    """CPU seconds of this process so far (user and system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@defer.inlineCallbacks
def main() -> Any:
    """N messages, one per reactor turn, then the same loop without them."""
    yield db.ensure_ready()
    # warm
    store.keep(events.public("general", "ana", "hola que tal"))
    yield task.deferLater(reactor, 0.05, lambda: None)
    c0 = cpu()
    t0 = time.time()
    for i in range(N):
        store.keep(events.public("general", "ana", f"hola que tal {i} amigos de la casa"))
        yield task.deferLater(reactor, 0.002, lambda: None)
    yield store.flush(5)
    c1 = cpu()
    t1 = time.time()
    print(
        f"{N} msgs, batches {store.batches_written}: "
        f"{(c1 - c0) / N * 1e6:.0f} us CPU per message, wall {t1 - t0:.2f}s"
    )
    # idle baseline: same loop without keep
    c0 = cpu()
    for _ in range(N):
        yield task.deferLater(reactor, 0.002, lambda: None)
    c1 = cpu()
    print(f"idle loop: {(c1 - c0) / N * 1e6:.0f} us CPU per iteration")
    reactor.stop()


reactor.callWhenRunning(main)
reactor.run()
