"""The ``baneos`` table: bans of nicknames and networks made by operators."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet import defer

from twisted_chat.bans import Ban
from twisted_chat.storage.database import Database


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


class BanStore:
    """Loads, saves and deletes bans; every call returns a Deferred and never blocks.

    Times are stored to the second, in UTC, like the other tables.
    """

    def __init__(self, database: Database) -> None:
        self._db = database
        engine = database.engine
        self._engine = engine
        self._select = engine.sql(
            "SELECT kind, target, reason, created_by, created_at, expires_at FROM baneos "
            "WHERE expires_at IS NULL OR expires_at > ?"
        )
        self._upsert = engine.sql(engine.upsert_ban)
        self._delete = engine.sql("DELETE FROM baneos WHERE kind = ? AND target = ?")
        self._delete_expired = engine.sql(
            "DELETE FROM baneos WHERE expires_at IS NOT NULL AND expires_at <= ?"
        )

    def _stamp(self, seconds: float) -> str:
        return self._engine.to_db_time(_when(seconds))

    def _seconds(self, value: Any) -> float:
        return self._engine.from_db_time(value).timestamp()

    @defer.inlineCallbacks
    def load_bans(self, now: float) -> Any:
        """Every ban that has not expired at ``now``."""
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> list[Ban]:
            txn.execute(self._select, (self._stamp(now),))
            bans = []
            for kind, target, reason, created_by, created_at, expires_at in txn.fetchall():
                if kind not in ("nick", "net"):
                    continue
                bans.append(
                    Ban(
                        kind,
                        str(target),
                        str(reason),
                        str(created_by),
                        self._seconds(created_at),
                        None if expires_at is None else self._seconds(expires_at),
                    )
                )
            return bans

        bans = yield self._db.run_interaction("load bans", read)
        return bans

    @defer.inlineCallbacks
    def save_ban(self, ban: Ban) -> Any:
        """Create ``ban`` or replace the ban of its target (idempotent)."""
        yield self._db.ensure_ready()
        expires = None if ban.expires_at is None else self._stamp(ban.expires_at)
        row = (
            ban.kind,
            ban.target,
            ban.reason,
            ban.created_by,
            self._stamp(ban.created_at),
            expires,
        )

        def write(txn: adbapi.Transaction) -> None:
            txn.execute(self._upsert, row)

        yield self._db.run_interaction("save ban", write)

    @defer.inlineCallbacks
    def delete_ban(self, kind: str, target: str) -> Any:
        """Remove the ban of ``target`` (idempotent)."""
        yield self._db.ensure_ready()

        def delete(txn: adbapi.Transaction) -> None:
            txn.execute(self._delete, (kind, target))

        yield self._db.run_interaction("delete ban", delete)

    @defer.inlineCallbacks
    def delete_expired(self, now: float) -> Any:
        """Remove every ban that expired by ``now``."""
        yield self._db.ensure_ready()

        def delete(txn: adbapi.Transaction) -> None:
            txn.execute(self._delete_expired, (self._stamp(now),))

        yield self._db.run_interaction("prune bans", delete)
