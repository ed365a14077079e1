"""The ``salas`` table: the topics of the permanent rooms, kept across restarts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twisted.enterprise import adbapi
from twisted.internet import defer

from twisted_chat.storage.database import Database


class TopicStore:
    """Loads and saves the permanent rooms' topics; every call returns a Deferred and never
    blocks."""

    def __init__(self, database: Database) -> None:
        self._db = database
        engine = database.engine
        self._engine = engine
        self._select = engine.sql("SELECT room_key, topic, set_by FROM salas")
        self._upsert = engine.sql(engine.upsert_topic)

    @defer.inlineCallbacks
    def load_topics(self) -> Any:
        """Every stored topic: ``(room key, topic, set by)``."""
        yield self._db.ensure_ready()

        def read(txn: adbapi.Transaction) -> list[tuple[str, str, str]]:
            txn.execute(self._select)
            return [(str(key), str(topic), str(by)) for key, topic, by in txn.fetchall()]

        topics = yield self._db.run_interaction("load topics", read)
        return topics

    @defer.inlineCallbacks
    def save_topic(self, room_key: str, name: str, topic: str, set_by: str, when: datetime) -> Any:
        """Store the topic of the room ``room_key`` (idempotent: the last one wins)."""
        yield self._db.ensure_ready()
        row = (room_key, name, topic, set_by, self._engine.to_db_time(when))

        def write(txn: adbapi.Transaction) -> None:
            txn.execute(self._upsert, row)

        yield self._db.run_interaction("save topic", write)
