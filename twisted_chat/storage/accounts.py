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
