"""The ``recados`` table: memos for registered nicknames, delivered once, then deleted.

Storing checks the limits (10 pending from one sender to one recipient, 100 per recipient) and
inserts in one statement, so two stores at once, on one node or two, cannot pass a limit
together. Delivery is a claim that only one caller can win: :meth:`RecadoStore.take` deletes the
row by id and reports whether *this* call deleted it, so a recipient logged in on two nodes at
once gets each recado exactly once. A store is acknowledged only once committed, and is
idempotent on the id, so a retried store never makes two rows.
"""

from __future__ import annotations

from typing import Any

from twisted.enterprise import adbapi
from twisted.internet import defer
from twisted.logger import Logger

from twisted_chat import nicknames
from twisted_chat.recados import MAX_PER_RECIPIENT, MAX_PER_SENDER, Recado, Stored
from twisted_chat.storage.chunks import delete_in_chunks
from twisted_chat.storage.database import Database
from twisted_chat.storage.logins import DatabaseUnavailable

#: Rows deleted per transaction by purges and erasures.
DEFAULT_CHUNK = 2000
#: Attempts of a store rolled back by a lock conflict (MySQL deadlock) before giving up.
MAX_CONFLICT_ATTEMPTS = 5


#: A recado as written: id, sender, sender key, recipient key, text, time (ms).
RecadoRow = tuple[str, str, str, str, str, int]


class RecadoStore:
    """Stores, lists, delivers and deletes recados; every call returns a Deferred and never
    blocks the reactor."""

    log = Logger()

    def __init__(self, database: Database, days: int = 30) -> None:
        self._db = database
        self._engine = engine = database.engine
        #: Days a recado is kept undelivered (``--memo-days``).
        self.days = max(1, days)
        self._insert = engine.sql(engine.insert_recado)
        self._lock = None if engine.lock_recipient is None else engine.sql(engine.lock_recipient)
        self._exists = engine.sql("SELECT 1 FROM recados WHERE id = ?")
        self._count_pair = engine.sql(
            "SELECT COUNT(*) FROM recados WHERE sender_key = ? AND recipient_key = ?"
        )
        self._pending = engine.sql(
            "SELECT id, sender, recipient_key, text, sent_at FROM recados "
            "WHERE recipient_key = ? ORDER BY sent_at, n"
        )
        self._take = engine.sql("DELETE FROM recados WHERE id = ?")
        self._purge = engine.sql(engine.purge_recados)
        self._delete_from = engine.sql("DELETE FROM recados WHERE sender_key = ?")
        self._delete_to = engine.sql("DELETE FROM recados WHERE recipient_key = ?")
        self._export = engine.sql(
            "SELECT id, sender, sender_key, recipient_key, text, sent_at FROM recados "
            "WHERE sender_key = ? OR recipient_key = ? ORDER BY sent_at, n"
        )

    @property
    def database(self) -> Database:
        """The database this store writes to."""
        return self._db

    @defer.inlineCallbacks
    def store(self, recado_id: str, sender: str, recipient_key: str, text: str, time: int) -> Any:
        """Store a recado from ``sender`` (as shown) to ``recipient_key`` unless a limit is
        reached; fire with a :class:`Stored` once committed. Storing the same id twice stores
        it once (and answers :attr:`Stored.STORED` both times). Fails with
        :class:`~twisted_chat.storage.logins.DatabaseUnavailable` when the database is down:
        nothing was acknowledged, and the same call may be made again later."""
        row = (recado_id, sender, nicknames.key(sender), recipient_key, text, time)
        yield self._db.ensure_ready()
        for attempt in range(1, MAX_CONFLICT_ATTEMPTS + 1):
            try:
                result = yield self._db.run_interaction("store recado", self._store_txn, row)
            except Exception as e:
                if attempt < MAX_CONFLICT_ATTEMPTS and self._engine.is_conflict(e):
                    self.log.debug("store recado: lock conflict ({error}); again", error=e)
                    continue
                if self._db.is_unavailable(e):
                    raise DatabaseUnavailable(f"recado not stored: {e}") from e
                raise
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _store_txn(self, txn: adbapi.Transaction, row: RecadoRow) -> Stored:
        """Insert ``row`` unless its id is stored or a limit is reached (one transaction)."""
        recado_id, _, sender_key, recipient_key, _, _ = row
        if self._lock is None:
            # One statement checks both limits and inserts.
            limits = (recipient_key, MAX_PER_RECIPIENT, sender_key, recipient_key, MAX_PER_SENDER)
            txn.execute(self._insert, (*row, *limits))
            if txn.rowcount > 0:
                return Stored.STORED
        txn.execute(self._exists, (recado_id,))
        if txn.fetchall():
            return Stored.STORED
        for_recipient = MAX_PER_RECIPIENT
        if self._lock is not None:
            txn.execute(self._lock, (recipient_key,))
            for_recipient = int(txn.fetchone()[0])
        txn.execute(self._count_pair, (sender_key, recipient_key))
        if int(txn.fetchone()[0]) >= MAX_PER_SENDER:
            return Stored.SENDER_LIMIT
        if for_recipient >= MAX_PER_RECIPIENT:
            return Stored.RECIPIENT_LIMIT
        txn.execute(self._insert, row)
        return Stored.STORED

    @defer.inlineCallbacks
    def pending(self, recipient_key: str) -> Any:
        """The recados waiting for ``recipient_key``, oldest first. Deliver each one only if
        :meth:`take` of its id fires True."""
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> list[Recado]:
            txn.execute(self._pending, (recipient_key,))
            return [
                Recado(str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]))
                for r in txn.fetchall()
            ]

        result = yield self._db.run_interaction("read recados", read)
        return result

    @defer.inlineCallbacks
    def take(self, recado_id: str) -> Any:
        """Claim the recado ``recado_id`` for delivery by deleting it: fire True for the one
        caller whose delete removed it, False for everyone else (exactly once, across nodes)."""
        yield self._db.ensure_ready()

        def delete(txn: adbapi.Transaction) -> bool:
            txn.execute(self._take, (recado_id,))
            return bool(txn.rowcount == 1)

        # A retry after a lost connection is right when the delete did not commit; if it did
        # commit and only the answer was lost, nobody delivers it (the rare lost ack).
        result = yield self._db.run_interaction("take recado", delete)
        return result

    def purge(self, older_than: int, chunk: int = DEFAULT_CHUNK) -> defer.Deferred[int]:
        """Delete the recados older than ``older_than`` (ms) in chunks; fire with how many."""
        d: defer.Deferred[int] = delete_in_chunks(
            self._db, "purge recados", self._purge, older_than, chunk
        )
        return d

    def purge_expired(self, now: int, chunk: int = DEFAULT_CHUNK) -> defer.Deferred[int]:
        """Delete the recados older than ``days`` days before ``now`` (ms)."""
        return self.purge(now - self.days * 86_400_000, chunk)

    @defer.inlineCallbacks
    def forget_sender(self, sender_key: str) -> Any:
        """Delete every pending recado sent by ``sender_key`` (``/olvidar``); fire with how
        many (at most 100 per recipient, so one transaction is short)."""
        yield self._db.ensure_ready()

        def delete(txn: adbapi.Transaction) -> int:
            txn.execute(self._delete_from, (sender_key,))
            return int(txn.rowcount)

        count = yield self._db.run_interaction("forget recados", delete)
        return count

    @defer.inlineCallbacks
    def export(self, nick_key: str) -> Any:
        """Every pending recado from or to ``nick_key``, oldest first, as dictionaries (an
        admin export)."""
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> list[dict[str, Any]]:
            txn.execute(self._export, (nick_key, nick_key))
            return [
                {
                    "id": str(r[0]),
                    "sender": str(r[1]),
                    "sender_key": str(r[2]),
                    "recipient_key": str(r[3]),
                    "text": str(r[4]),
                    "time": int(r[5]),
                }
                for r in txn.fetchall()
            ]

        result = yield self._db.run_interaction("export recados", read)
        return result

    @defer.inlineCallbacks
    def erase(self, nick_key: str) -> Any:
        """Delete every recado from or to ``nick_key`` in one transaction; fire with the
        counts ``{"from": n, "to": m}``."""
        yield self._db.ensure_ready()

        def delete(txn: adbapi.Transaction) -> dict[str, int]:
            txn.execute(self._delete_from, (nick_key,))
            sent = int(txn.rowcount)
            txn.execute(self._delete_to, (nick_key,))
            return {"from": sent, "to": int(txn.rowcount)}

        result = yield self._db.run_interaction("erase recados", delete)
        return result
