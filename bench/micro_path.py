"""Instructions per message on one path, counted with callgrind (repeatable under load).

One TCP session sends N private (``#bob ...``) or public lines to one other session, through
``dataReceived`` and a ``StringTransport`` (no sockets): run it under ``valgrind --tool=callgrind``
with N and with 0 and divide the difference by N. ``PYTHONPATH=TREE`` measures another checkout
(it also knows the layout before issue 13: ``protocol.ChatFactory``); a third argument M puts
M members in the room (a public line then reaches M - 1). ``public+history`` and
``private+history`` keep history as ``--history-days 30`` does (the reactor does not run, so
the batches are written at the end, as the store's thread would: multi-row inserts into an
in-memory SQLite with its FTS5 trigger); ``public+keep`` keeps it without writing it (the
cost on the message's own path)::

    for n in 0 20000; do
      PYTHONPATH=. valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/micro_path.py private $n 2>&1 | grep Collected
    done
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from twisted_chat.limits import Limits
from twisted_chat.text import SPANISH


def factory(history: Any = None) -> Any:
    """The TCP factory of a chat on the real reactor's clock (not run), keeping history in
    ``history`` (a store) if given."""
    limits = Limits(flood_rate=0, max_per_ip=0)
    try:
        from twisted_chat.assembly import assemble
        from twisted_chat.tcp import ChatTCPFactory
    except ImportError:  # a tree from before issue 13
        core = importlib.import_module("twisted_chat.chat").ChatCore(SPANISH, reactor)
        return importlib.import_module("twisted_chat.protocol").ChatFactory(core, limits)
    chat = assemble(SPANISH, reactor, limits=limits, **({"history": history} if history else {}))
    return ChatTCPFactory(chat.server, chat.lines)


def history_store() -> Any:
    """A history store (``--history-days 30``) whose batches are never written by the reactor
    (it does not run): :func:`write_history` writes them at the end."""
    from twisted_chat.storage.database import Database
    from twisted_chat.storage.engines import engine_for
    from twisted_chat.storage.history import HistoryStore
    from twisted_chat.storage.url import SqliteURL

    database = Database(engine_for(SqliteURL(":memory:")), reactor)
    return HistoryStore(database, reactor, days=30, queue_limit=10**7)


def write_history(store: Any) -> None:
    """Write what ``store`` kept, as its thread would (batches of ``BATCH_SIZE`` rows, one
    transaction each, multi-row inserts, the FTS5 trigger), into an in-memory SQLite."""
    import sqlite3

    from twisted_chat.storage.engines import schema_statements
    from twisted_chat.storage.history import BATCH_SIZE

    conn = sqlite3.connect(":memory:")
    for statement in schema_statements("sqlite.sql"):
        conn.execute(statement)
    rows = [row for row, _ in store._pending.values()]
    for start in range(0, len(rows), BATCH_SIZE):
        store._write_batch(conn.cursor(), rows[start : start + BATCH_SIZE])
        conn.commit()


def main(kind: str, count: int, members: int = 2) -> None:
    """Send ``count`` lines of ``kind`` (``private`` or ``public``) from ana to bob (and, with
    ``members`` over 2, to the others of the room too); ``private+history`` and
    ``public+history`` keep history and write it at the end, ``public+keep`` only keeps it
    (the path of the message alone)."""
    kind, _, extra = kind.partition("+")
    store = history_store() if extra in ("history", "keep") else None
    tcp = factory(store)
    transports = []
    sessions = []
    nicks = ["ana", "bob", *(f"u{i}" for i in range(members - 2))]
    for port, nick in enumerate(nicks, 1):
        proto = tcp.buildProtocol(IPv4Address("TCP", "127.0.0.1", port))
        transport = StringTransport()
        proto.makeConnection(transport)
        proto.dataReceived(nick.encode() + b"\r\n")
        transports.append(transport)
        sessions.append(proto)
    line = b"#bob hola que tal\r\n" if kind == "private" else b"hola a todos\r\n"
    data = sessions[0].dataReceived
    for i in range(count):
        data(line)
        if i % 256 == 0:
            for transport in transports:
                transport.clear()
    if count and not transports[1].value():
        raise SystemExit("bob received nothing")
    if store is not None and extra == "history":
        write_history(store)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *(int(arg) for arg in sys.argv[3:4]))
