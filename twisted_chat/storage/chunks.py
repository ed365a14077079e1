"""Deleting many rows in small chunks, one short transaction each.

A purge or an erasure of thousands of rows in one transaction would hold its locks (and, on
SQLite, the whole database) for as long as it takes; chunk by chunk, other writes get in between.
"""

from __future__ import annotations

from typing import Any

from twisted.enterprise import adbapi
from twisted.internet import defer

from twisted_chat.storage.database import Database


@defer.inlineCallbacks
def delete_in_chunks(database: Database, description: str, sql: str, key: Any, chunk: int) -> Any:
    """Run the chunked delete ``sql`` (arguments ``key``, ``chunk``: it deletes at most
    ``chunk`` rows) on ``database`` until it deletes less than a chunk, one transaction per
    chunk; fire with how many rows went."""
    chunk = max(1, chunk)
    yield database.ensure_ready()

    def delete(txn: adbapi.Transaction) -> int:
        txn.execute(sql, (key, chunk))
        return int(txn.rowcount)

    total = 0
    while True:
        deleted = yield database.run_interaction(description, delete)
        total += deleted
        if deleted < chunk:
            return total
