"""How many public messages per second the history store writes (issue: history and recados).

Feeds the real :class:`~twisted_chat.storage.history.HistoryStore` on a real database as a busy
chat would: ``--per-turn`` messages added in each reactor turn (one batch, one transaction),
turn after turn, until ``--messages`` were added, then waits until every one is committed.
Prints messages/s sustained (first add to last commit) and the batches written, and with
``--purge CHUNK`` how fast retention then deletes them all and its longest transaction; asserts
nothing. Each run uses a fresh SQLite file or a fresh MariaDB database, dropped afterwards.

    .venv/bin/python -m bench.history_store                         # SQLite in a temp dir
    .venv/bin/python -m bench.history_store --db mysql://root@127.0.0.1:3306/
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from typing import Any

from twisted.internet import defer, task

from twisted_chat.events import Public
from twisted_chat.storage.database import Database
from twisted_chat.storage.engines import engine_for
from twisted_chat.storage.history import HistoryStore
from twisted_chat.storage.url import DatabaseURL, MysqlURL, SqliteURL, parse_db_url

WORDS = [
    "hola",
    "que",
    "tal",
    "café",
    "mañana",
    "partido",
    "juego",
    "canción",
    "verano",
    "leche",
    "noche",
    "mensaje",
]


def text(n: int) -> str:
    """A chat-like line of about 40 characters."""
    return " ".join(WORDS[(n * 7 + i * 3) % len(WORDS)] for i in range(6)) + f" {n}"


def drop_mysql(url: MysqlURL) -> None:
    """Drop the scratch database (blocking)."""
    import MySQLdb

    conn = MySQLdb.connect(host=url.host, port=url.port, user=url.user, password=url.password)
    try:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{url.database}`")
    finally:
        conn.close()


@defer.inlineCallbacks
def one_by_one(reactor: Any, url: DatabaseURL, messages: int) -> Any:
    """The anti-example for comparison (Ergo's way): one transaction per message, in turn."""
    database = Database(engine_for(url), reactor)
    store = HistoryStore(database, reactor)
    try:
        yield database.ensure_ready()
        prefix = secrets.token_hex(4)
        base = int(time.time() * 1000)
        started = time.perf_counter()
        for n in range(messages):
            row = (f"{prefix}0x{n:x}", "general", base + n // 10, "Ana", "ana", text(n))
            yield database.run_interaction("one message", store._write_batch, [row])
        elapsed = time.perf_counter() - started
        print(
            f"{engine_for(url).name:6s} {messages} messages, one transaction each: "
            f"{messages / elapsed:,.0f} messages/s ({elapsed:.2f}s)"
        )
    finally:
        store.stop()
        database.close()


@defer.inlineCallbacks
def report_purge(
    database: Database, store: HistoryStore, messages: int, base: int, chunk: int
) -> Any:
    """Purge everything written, ``chunk`` rows per transaction; print rows/s and the longest
    transaction (how long a chunk holds its locks)."""
    longest = 0.0
    original = database.run_interaction

    @defer.inlineCallbacks
    def timed(description: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal longest
        began = time.perf_counter()
        result = yield original(description, func, *args, **kwargs)
        longest = max(longest, time.perf_counter() - began)
        return result

    database.run_interaction = timed  # type: ignore[method-assign]
    started = time.perf_counter()
    deleted = yield store.purge(base + messages, chunk)
    elapsed = time.perf_counter() - started
    database.run_interaction = original  # type: ignore[method-assign]
    print(
        f"purge  {deleted} messages, {chunk}/transaction: {deleted / elapsed:,.0f} rows/s "
        f"({elapsed:.2f}s; longest transaction {longest * 1000:.0f} ms)"
    )


@defer.inlineCallbacks
def run(reactor: Any, url: DatabaseURL, messages: int, per_turn: int, purge_chunk: int) -> Any:
    """Write ``messages`` messages, ``per_turn`` per reactor turn; print the figures."""
    database = Database(engine_for(url), reactor)
    store = HistoryStore(database, reactor, queue_limit=messages + 1)
    try:
        yield database.ensure_ready()
        prefix = secrets.token_hex(4)
        waiters: list[defer.Deferred[bool]] = []
        started = time.perf_counter()
        base = int(time.time() * 1000)
        for start in range(0, messages, per_turn):
            for n in range(start, min(messages, start + per_turn)):
                event = Public(f"{prefix}0x{n:x}", base + n // 10, "general", "Ana", text(n))
                waiters.append(store.add(event))
            yield task.deferLater(reactor, 0, lambda: None)  # let the turn end
        added = time.perf_counter() - started
        results = yield defer.gatherResults(waiters)
        elapsed = time.perf_counter() - started
        assert all(results), "some messages were not written"
        print(
            f"{engine_for(url).name:6s} {messages} messages, {per_turn}/turn: "
            f"{messages / elapsed:,.0f} messages/s sustained "
            f"({elapsed:.2f}s; adding took {added:.2f}s; {store.batches_written} transactions)"
        )
        if purge_chunk:
            yield report_purge(database, store, messages, base, purge_chunk)
    finally:
        store.stop()
        database.close()


def main() -> None:
    """Parse the options and run on a fresh database."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="", help="mysql://... server (default: SQLite file)")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--per-turn", type=int, default=200)
    parser.add_argument(
        "--purge", type=int, default=0, metavar="CHUNK", help="then purge all, CHUNK rows each"
    )
    parser.add_argument(
        "--one-by-one", action="store_true", help="one transaction per message, for comparison"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url: DatabaseURL
        if args.db:
            server = parse_db_url(args.db, dict(os.environ))
            assert isinstance(server, MysqlURL), "--db takes a mysql:// URL"
            url = MysqlURL(
                user=server.user,
                password=server.password,
                host=server.host,
                port=server.port,
                database=f"chat_bench_{secrets.token_hex(4)}",
            )
        else:
            url = SqliteURL(os.path.join(tmp, "bench.sqlite3"))
        try:
            if args.one_by_one:
                task.react(lambda reactor: one_by_one(reactor, url, args.messages))
            else:
                task.react(
                    lambda reactor: run(reactor, url, args.messages, args.per_turn, args.purge)
                )
        except SystemExit as e:
            if e.code:
                raise
        finally:
            if isinstance(url, MysqlURL):
                drop_mysql(url)


if __name__ == "__main__":
    main()
