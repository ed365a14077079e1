"""The ``mensajes`` table: the rooms' public messages, for deeper history pages and search.

Written like logins (:mod:`twisted_chat.storage.logins`), and unlike Ergo's one autocommit
``INSERT`` per message: every message added during a reactor turn goes into one transaction of
multi-row inserts (and while one transaction is on its way, what is added meanwhile waits for
the next, up to :data:`BATCH_SIZE` messages each: one write in flight at a time). An insert
skips ids already stored, so a batch retried after a lost connection or an outage never makes
duplicates. While the database is unavailable, messages wait
in a bounded queue (the oldest dropped first, and counted) and are written with their original
ids and times when it returns; the outage is logged once and the recovery once (the
machinery is :mod:`twisted_chat.storage.batching`'s; this module says what a batch is).

Pages are cut by an opaque cursor over (time in ms, id), never by an offset, so paging is exact
even for messages that share a millisecond. Search uses each backend's own full-text index
(SQLite FTS5, InnoDB FULLTEXT). Retention deletes in small chunks, one short transaction each.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from twisted_chat import nicknames
from twisted_chat.events import Public
from twisted_chat.formatting import plain_text
from twisted_chat.history import Page, StoredMessage, make_cursor, parse_cursor
from twisted_chat.storage.batching import Batch, BatchedWriter, WriterLogs
from twisted_chat.storage.chunks import delete_in_chunks
from twisted_chat.storage.database import Database

#: Messages written per transaction at most.
BATCH_SIZE = 2000
#: Rows waiting for the full-text index (SQLite) that a write transaction adds to it: a batch
#: this large is indexed as it is written; smaller ones wait until this many have (FTS5 writes
#: a segment per transaction: 185,000 of the 273,000 instructions of a one-row transaction).
INDEX_EVERY = 64
#: Rows per multi-row ``INSERT`` statement (6 parameters each: well under SQLite's limit).
ROWS_PER_STATEMENT = 250
#: Default bound of the outage queue (messages).
DEFAULT_QUEUE_LIMIT = 100_000
#: Fewer matches than this among a room's newest messages: the words are rare there, and the
#: full-text index finds the older ones faster than a longer look back (see ``search``).
RARE = 4
#: Rows deleted per transaction by purges and erasures.
DEFAULT_CHUNK = 2000
#: Most messages one page may hold (``/historial N``, N at most 500).
MAX_PAGE = 500
#: Most results of one search.
MAX_SEARCH = 20
#: A row of ``mensajes`` as written: id, room key, time (ms), nickname, nick key, text.
Row = tuple[str, str, int, str, str, str]
#: A queued message: its row and the Deferreds of :meth:`HistoryStore.add` waiting for it.
_Entry = tuple[Row, list[defer.Deferred[bool]]]


_WORD_RE = re.compile(r"[^\W_]+")


def fold_words(text: str) -> set[str]:
    """The words of ``text`` without case or accents ("Café!" gives ``{"cafe"}``), as SQLite's
    unicode61 tokenizer with ``remove_diacritics`` sees them."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return set(_WORD_RE.findall(plain))


def _words(message: StoredMessage) -> set[str]:
    """The words of a stored message as its readers see them (no formatting codes, an
    action's own text: :func:`~twisted_chat.formatting.plain_text`), folded."""
    return fold_words(plain_text(message.text))


def _stored(row: Sequence[Any]) -> StoredMessage:
    return StoredMessage(str(row[0]), int(row[1]), str(row[2]), str(row[3]))


class HistoryStore(BatchedWriter[str, _Entry, None]):
    """Stores public messages in ``mensajes`` and reads them back by page and by search.

    Every call returns a Deferred and never blocks the reactor. With ``days == 0`` history is
    off: :meth:`add` stores nothing.
    """

    batch_size = BATCH_SIZE
    logs = WriterLogs(
        outage="Database unavailable ({error}); history messages are queued and will be "
        "written when it returns",
        recovery="Database available again after {seconds:.1f}s; writing {count} queued history "
        "messages",
        queue_full="History queue full ({limit} messages): {dropped} oldest messages dropped "
        "so far",
        stopping="Stopping with {count} history messages not written to the database",
        error="Database error ({count} history messages dropped)",
    )

    def __init__(
        self,
        database: Database,
        clock: IReactorTime,
        days: int = 30,
        queue_limit: int = DEFAULT_QUEUE_LIMIT,
    ) -> None:
        super().__init__(database, clock, queue_limit)
        self._engine = engine = database.engine
        #: Days messages are kept (``--history-days``); 0 is history off.
        self.days = max(0, days)
        self._mark = engine.sql("(?, ?, ?, ?, ?, ?)")
        self._inserts: dict[int, str] = {}
        self._index_waiting = engine.index_waiting
        #: Rows written since the waiting ones were last indexed, as far as this store knows
        #: (it starts full, so the first write indexes what an earlier run left waiting).
        self._unindexed = INDEX_EVERY
        self._page_first = engine.sql(
            "SELECT id, sent_at, nickname, text FROM mensajes WHERE room_key = ? "
            "ORDER BY sent_at DESC, id DESC LIMIT ?"
        )
        self._page_before = engine.sql(
            f"SELECT id, sent_at, nickname, text FROM mensajes{engine.page_before_hint} "
            "WHERE room_key = ? "
            f"AND {engine.before_position} ORDER BY sent_at DESC, id DESC LIMIT ?"
        )
        self._page_since = engine.sql(
            "SELECT id, sent_at, nickname, text FROM mensajes WHERE room_key = ? "
            "AND sent_at > ? ORDER BY sent_at DESC, id DESC LIMIT ?"
        )
        self._count_since = engine.sql(
            "SELECT COUNT(*) FROM mensajes WHERE room_key = ? AND sent_at > ?"
        )
        self._find = engine.sql(
            "SELECT id, sent_at, nickname, text FROM mensajes WHERE id = ? AND room_key = ?"
        )
        self._ranges: dict[tuple[bool, bool, bool], str] = {}
        self._purge = engine.sql(engine.purge_messages)
        self._forget_sql = engine.sql(engine.forget_messages)
        self._export = engine.sql(
            "SELECT id, sent_at, room_key, nickname, text FROM mensajes WHERE nick_key = ? "
            "ORDER BY sent_at, id"
        )

    @property
    def enabled(self) -> bool:
        """Whether history is on (``--history-days`` above 0)."""
        return self.days > 0

    # -- writing ---------------------------------------------------------------------------

    def add(self, event: Public) -> defer.Deferred[bool]:
        """Queue ``event`` for this reactor turn's batch.

        The Deferred fires with True once the message is in the database (during an outage,
        when it returns), and with False if it never will be (history off, dropped from a full
        outage queue, store stopped). It never fails, so a caller may ignore it.
        """
        if not self.enabled or self._stopped or event.room is None:
            return defer.succeed(False)
        d: defer.Deferred[bool] = defer.Deferred()
        entry = self._pending.get(event.id)
        if entry is None:
            row: Row = (
                event.id,
                event.room,
                event.time,
                event.sender,
                nicknames.key(event.sender),
                event.text,
            )
            self._pending[event.id] = (row, [d])
            if len(self._pending) > self.queue_limit:
                self._drop_oldest()
        else:
            entry[1].append(d)
        if self.available and self._writing is None:
            self._schedule(0)
        return d

    def keep(self, event: Public) -> None:
        """:meth:`add` for a caller that does not wait for the answer (the path of every public
        message: no Deferred is made, and the checks of :meth:`add` are made inline)."""
        pending = self._pending
        if self._stopped or not self.days or event.id in pending:
            return
        sender = event.sender
        nick_key = sender.lower() if sender.isascii() else nicknames.key(sender)
        row: Row = (event.id, event.room or "", event.time, sender, nick_key, event.text)
        pending[event.id] = (row, [])
        if len(pending) > self.queue_limit:
            self._drop_oldest()
        if self._flush_call is None and self._writing is None and self._outage_since is None:
            self._schedule(0)

    def _insert_sql(self, count: int) -> str:
        sql = self._inserts.get(count)
        if sql is None:
            values = ", ".join([self._mark] * count)
            sql = self._engine.sql(self._engine.insert_messages).format(values=values)
            self._inserts[count] = sql
        return sql

    def _write_batch(self, txn: adbapi.Transaction, rows: Sequence[Row]) -> None:
        """Insert ``rows`` with multi-row statements, skipping stored ids (idempotent)."""
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            txn.execute(self._insert_sql(len(chunk)), [v for row in chunk for v in row])
        if self._index_waiting:
            self._unindexed += len(rows)
            if self._unindexed >= INDEX_EVERY:
                for statement in self._index_waiting:
                    txn.execute(statement)
                self._unindexed = 0

    def _run_batch(self, batch: Batch[str, _Entry]) -> defer.Deferred[None]:
        rows = [row for _, (row, _) in batch]
        return self._db.run_interaction("store history", self._write_batch, rows)

    def _written(self, batch: Batch[str, _Entry], result: None) -> None:
        self._tell(batch, True)

    def _lost(self, batch: Batch[str, _Entry], error: Exception) -> None:
        self._tell(batch, False)

    def _discard(self, entry: _Entry) -> None:
        for waiter in entry[1]:
            waiter.callback(False)

    def _abandon(self) -> None:
        """Stopped: the queued messages are lost; their Deferreds fire False."""
        pending, self._pending = self._pending, OrderedDict()
        self._tell(list(pending.items()), False)

    @staticmethod
    def _tell(batch: Batch[str, _Entry], stored: bool) -> None:
        for _, (_, waiters) in batch:
            for waiter in waiters:
                waiter.callback(stored)

    def _requeue(self, batch: Batch[str, _Entry]) -> None:
        """Put a batch that could not be written back at the front of the queue, in order."""
        for key, (row, waiters) in reversed(batch):
            entry = self._pending.get(key)
            if entry is None:
                self._pending[key] = (row, waiters)
                self._pending.move_to_end(key, last=False)
            else:
                entry[1].extend(waiters)

    # -- reading ---------------------------------------------------------------------------

    @defer.inlineCallbacks
    def page(self, room_key: str, limit: int, before: str | None = None) -> Any:
        """The last ``limit`` (at most :data:`MAX_PAGE`) messages of ``room_key`` before the
        cursor ``before`` (the newest when ``None``), as a :class:`Page` oldest first.

        Fails with :class:`BadCursor` for a cursor this store did not make.
        """
        limit = max(1, min(MAX_PAGE, limit))
        position = None if before is None else parse_cursor(before)
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> Page:
            if position is None:
                txn.execute(self._page_first, (room_key, limit + 1))
            else:
                time, message_id = position
                position_args = self._engine.before_args(time, message_id)
                txn.execute(self._page_before, (room_key, *position_args, limit + 1))
            rows = txn.fetchall()
            messages = [_stored(row) for row in rows[:limit]]
            messages.reverse()
            cursor = None
            if len(rows) > limit:
                cursor = make_cursor(messages[0].time, messages[0].id)
            return Page(messages, cursor)

        result = yield self._db.run_interaction("read history", read)
        return result

    @defer.inlineCallbacks
    def since(self, room_key: str, after: int, limit: int) -> Any:
        """The last ``limit`` (at most :data:`MAX_PAGE`) messages of ``room_key`` sent after
        ``after`` (ms), as a :class:`Page` oldest first, and how many there are in all."""
        limit = max(1, min(MAX_PAGE, limit))
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> tuple[Page, int]:
            txn.execute(self._page_since, (room_key, after, limit + 1))
            rows = txn.fetchall()
            messages = [_stored(row) for row in rows[:limit]]
            messages.reverse()
            total = len(rows)
            if total > limit:
                txn.execute(self._count_since, (room_key, after))
                total = int(txn.fetchone()[0])
            cursor = make_cursor(messages[0].time, messages[0].id) if total > limit else None
            return Page(messages, cursor), total

        result = yield self._db.run_interaction("read history since", read)
        return result

    def _range_sql(self, lower: bool, upper: bool, newest: bool) -> str:
        """The query of :meth:`between` with these bounds, made once."""
        key = (lower, upper, newest)
        sql = self._ranges.get(key)
        if sql is None:
            engine = self._engine
            where = ["room_key = ?"]
            if lower:
                where.append(engine.after_position)
            if upper:
                where.append(engine.before_position)
            order = "DESC" if newest else "ASC"
            sql = engine.sql(
                f"SELECT id, sent_at, nickname, text FROM mensajes{engine.page_before_hint} "
                f"WHERE {' AND '.join(where)} ORDER BY sent_at {order}, id {order} LIMIT ?"
            )
            self._ranges[key] = sql
        return sql

    @defer.inlineCallbacks
    def between(
        self,
        room_key: str,
        lower: tuple[int, str] | None,
        upper: tuple[int, str] | None,
        limit: int,
        newest: bool,
    ) -> Any:
        """At most ``limit`` (at most :data:`MAX_PAGE`) messages of ``room_key`` strictly
        between the positions (time, id) ``lower`` and ``upper`` (``None``: no bound), oldest
        first: the newest of them if ``newest``, else the oldest (``CHATHISTORY``)."""
        limit = max(1, min(MAX_PAGE, limit))
        sql = self._range_sql(lower is not None, upper is not None, newest)
        args: list[Any] = [room_key]
        if lower is not None:
            args += self._engine.before_args(*lower)
        if upper is not None:
            args += self._engine.before_args(*upper)
        args.append(limit)
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> list[StoredMessage]:
            txn.execute(sql, args)
            messages = [_stored(row) for row in txn.fetchall()]
            if newest:
                messages.reverse()
            return messages

        result = yield self._db.run_interaction("read history range", read)
        return result

    @defer.inlineCallbacks
    def find(self, room_key: str, message_id: str) -> Any:
        """The stored message ``message_id`` of ``room_key``, or ``None``."""
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> StoredMessage | None:
            txn.execute(self._find, (message_id, room_key))
            row = txn.fetchone()
            return None if row is None else _stored(row)

        result = yield self._db.run_interaction("find a history message", read)
        return result

    @defer.inlineCallbacks
    def search(self, room_key: str, words: Sequence[str], limit: int = MAX_SEARCH) -> Any:
        """The latest ``limit`` (at most :data:`MAX_SEARCH`) messages of ``room_key`` that
        contain every one of ``words`` (case- and accent-insensitive), oldest first."""
        # The words as both indexes see them: no case, no accents, no punctuation ("!!" is
        # no word, and "¿café?" is "cafe"); never query syntax.
        wanted = set().union(*(fold_words(w) for w in words))
        if not wanted:
            return []
        words = sorted(wanted)
        limit = max(1, min(MAX_SEARCH, limit))
        sql, args = self._engine.search_messages(list(words), limit)
        recent = self._engine.search_recent(list(words))
        windows = self._engine.search_windows
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> list[StoredMessage]:
            found: list[StoredMessage] = []
            if recent is not None:  # the room's newest messages first (newest first)
                window = windows[0]
                while True:
                    txn.execute(recent[0], [room_key, window, *recent[1]])
                    rows = txn.fetchall()
                    found = [m for m in map(_stored, rows) if wanted <= _words(m)]
                    if len(found) >= limit:
                        return sorted(found[:limit], key=lambda m: (m.time, m.id))
                    # How far back the matches would be, by how often the words came here:
                    # a word seldom seen is cheaper for the full-text index.
                    if len(found) < RARE or window >= windows[-1]:
                        break
                    window = min(windows[-1], window * limit * 3 // (2 * len(found)))
            if len(found) < limit:
                recent_found = found
                # Messages not in the full-text index yet: newer than every indexed one.
                waiting = self._waiting_matches(txn, room_key, wanted)
                found = waiting
                if len(waiting) < limit:
                    found = waiting + self._index_matches(txn, room_key, sql, args, wanted)
                if recent_found:
                    # The newest messages were read as text: what the index cannot see (a
                    # word right after an IRC colour code, held with the code's digits) was
                    # found there; keep it beside the index's finds.
                    known = {m.id for m in found}
                    found += [m for m in recent_found if m.id not in known]
                    found.sort(key=lambda m: (m.time, m.id), reverse=True)
            found = found[:limit]
            found.sort(key=lambda m: (m.time, m.id))  # oldest first
            return found

        result = yield self._db.run_interaction("search history", read)
        return result

    def _index_matches(
        self,
        txn: adbapi.Transaction,
        room_key: str,
        sql: str,
        args: list[Any],
        wanted: set[str],
    ) -> list[StoredMessage]:
        """The full-text index's finds for ``room_key`` (``sql`` and ``args`` of the engine's
        :meth:`~twisted_chat.storage.engines.Engine.search_messages`), newest first; when they
        are candidates, those holding every word of ``wanted`` as their readers see them."""
        txn.execute(sql, [room_key, *args])
        found = [_stored(row) for row in txn.fetchall()]
        if not self._engine.search_exact:
            found = [m for m in found if wanted <= _words(m)]
        return found

    def _waiting_matches(
        self, txn: adbapi.Transaction, room_key: str, wanted: set[str]
    ) -> list[StoredMessage]:
        """The messages of ``room_key`` still waiting for the full-text index (SQLite: fewer
        than :data:`INDEX_EVERY` and the last batch) holding every word of ``wanted`` as their
        readers see them, newest first."""
        sql = self._engine.search_waiting
        if sql is None:
            return []
        txn.execute(sql, [room_key])
        return [m for m in map(_stored, txn.fetchall()) if wanted <= _words(m)]

    # -- deleting --------------------------------------------------------------------------

    def purge(self, older_than: int, chunk: int = DEFAULT_CHUNK) -> defer.Deferred[int]:
        """Delete the messages older than ``older_than`` (ms since the epoch) in chunks of
        ``chunk`` rows; fire with how many were deleted."""
        d: defer.Deferred[int] = delete_in_chunks(
            self._db, "purge history", self._purge, older_than, chunk
        )
        return d

    def purge_expired(self, now: int, chunk: int = DEFAULT_CHUNK) -> defer.Deferred[int]:
        """Delete what is older than ``days`` days before ``now`` (ms); with history off,
        delete everything."""
        return self.purge(now - self.days * 86_400_000 if self.days else now + 1, chunk)

    def forget(self, nick_key: str, chunk: int = DEFAULT_CHUNK) -> defer.Deferred[int]:
        """Delete every message sent by ``nick_key`` (``/olvidar``), stored or still queued;
        fire with how many."""
        d: defer.Deferred[int] = self._forget(nick_key, chunk)
        return d

    @defer.inlineCallbacks
    def _forget(self, nick_key: str, chunk: int) -> Any:
        if self._writing is not None:
            # A batch on its way may hold some: let it land (or be queued again) first.
            landed: defer.Deferred[None] = defer.Deferred()

            def land(result: None) -> None:
                landed.callback(None)
                return result

            self._writing.addBoth(land)
            yield landed
        unwritten = [key for key, (row, _) in self._pending.items() if row[4] == nick_key]
        for key in unwritten:
            _, waiters = self._pending.pop(key)
            for waiter in waiters:
                waiter.callback(False)
        count = yield delete_in_chunks(
            self._db, "forget history", self._forget_sql, nick_key, chunk
        )
        return count + len(unwritten)

    @defer.inlineCallbacks
    def export(self, nick_key: str) -> Any:
        """Every stored message sent by ``nick_key``, oldest first, as dictionaries (an admin
        export)."""
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> list[dict[str, Any]]:
            txn.execute(self._export, (nick_key,))
            return [
                {
                    "id": str(r[0]),
                    "time": int(r[1]),
                    "room": str(r[2]),
                    "sender": str(r[3]),
                    "text": str(r[4]),
                }
                for r in txn.fetchall()
            ]

        result = yield self._db.run_interaction("export history", read)
        return result
