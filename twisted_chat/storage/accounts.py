"""The ``cuentas`` table: registered nicknames and their password hashes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet import defer

from twisted_chat import nicknames
from twisted_chat.storage.database import Database


class AccountStore:
    """Loads and saves account hashes; every call returns a Deferred and never blocks."""

    def __init__(self, database: Database) -> None:
        self._db = database
        engine = database.engine
        self._select = "SELECT nick_key, password_hash FROM cuentas"
        self._upsert = engine.sql(engine.upsert_account)
        self._select_one = engine.sql(
            "SELECT nickname, registered_at FROM cuentas WHERE nick_key = ?"
        )
        self._delete = engine.sql("DELETE FROM cuentas WHERE nick_key = ?")
        self._engine = engine

    @defer.inlineCallbacks
    def load_accounts(self) -> Any:
        """Every account, as ``{nick_key: password_hash}``."""
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> dict[str, str]:
            txn.execute(self._select)
            return {str(k): str(h) for k, h in txn.fetchall()}

        accounts = yield self._db.run_interaction("load accounts", read)
        return accounts

    @defer.inlineCallbacks
    def save_account(self, nickname: str, password_hash: str, when: datetime) -> Any:
        """Create the account of ``nickname`` or replace its password hash (idempotent)."""
        yield self._db.ensure_ready()
        stamp = self._engine.to_db_time(when)
        row = (nicknames.key(nickname), nickname, password_hash, stamp, stamp)

        def write(txn: adbapi.Transaction) -> None:
            txn.execute(self._upsert, row)

        yield self._db.run_interaction("save account", write)

    @defer.inlineCallbacks
    def registration(self, nick_key: str) -> Any:
        """``(nickname, registered_at)`` of the account of ``nick_key``, or ``None`` if it is
        not registered (never the hash)."""
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> tuple[str, datetime] | None:
            txn.execute(self._select_one, (nick_key,))
            row = txn.fetchone()
            return None if row is None else (str(row[0]), self._engine.from_db_time(row[1]))

        result = yield self._db.run_interaction("read account", read)
        return result

    @defer.inlineCallbacks
    def delete(self, nick_key: str) -> Any:
        """Delete the account of ``nick_key``; fire with how many rows (0 or 1)."""
        yield self._db.ensure_ready()

        def remove(txn: adbapi.Transaction) -> int:
            txn.execute(self._delete, (nick_key,))
            return int(txn.rowcount)

        result = yield self._db.run_interaction("delete account", remove)
        return result
