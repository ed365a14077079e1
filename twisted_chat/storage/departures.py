"""The ``salidas`` table: when each user logged in with a password last left the chat.

Read at their next login, so that they get what was said in their room since ("since you
left"); written when they leave. One upsert per departure of a registered user (never on the
path of a message).
"""

from __future__ import annotations

from typing import Any

from twisted.enterprise import adbapi
from twisted.internet import defer

from twisted_chat.storage.database import Database


class DepartureStore:
    """Records and reads the last departure of registered users; every call returns a
    Deferred and never blocks the reactor."""

    def __init__(self, database: Database) -> None:
        self._db = database
        engine = database.engine
        self._upsert = engine.sql(engine.upsert_departure)
        self._select = engine.sql("SELECT left_at FROM salidas WHERE nick_key = ?")
        self._delete = engine.sql("DELETE FROM salidas WHERE nick_key = ?")

    @defer.inlineCallbacks
    def record_departure(self, nick_key: str, left_at: int) -> Any:
        """Record that ``nick_key`` left at ``left_at`` (ms since the epoch, UTC)."""
        yield self._db.ensure_ready()

        def write(txn: adbapi.Transaction) -> None:
            txn.execute(self._upsert, (nick_key, left_at))

        yield self._db.run_interaction("record departure", write)

    @defer.inlineCallbacks
    def last_departure(self, nick_key: str) -> Any:
        """When ``nick_key`` last left (ms), or ``None`` if never recorded."""
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> int | None:
            txn.execute(self._select, (nick_key,))
            row = txn.fetchone()
            return None if row is None else int(row[0])

        result = yield self._db.run_interaction("read departure", read)
        return result

    @defer.inlineCallbacks
    def forget(self, nick_key: str) -> Any:
        """Delete the departure of ``nick_key``; fire with how many rows (0 or 1)."""
        yield self._db.ensure_ready()

        def delete(txn: adbapi.Transaction) -> int:
            txn.execute(self._delete, (nick_key,))
            return int(txn.rowcount)

        result = yield self._db.run_interaction("forget departure", delete)
        return result
