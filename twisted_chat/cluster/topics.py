"""The rooms' topics across the cluster: kept in Redis, published, merged after an outage.

A topic set on any node is written to the ``topics`` hash (``HSET``) and published (a
``topic`` event, :class:`~twisted_chat.cluster.events.TopicSet`); a node that learns of a room
from another node reads the room's topic there. The topic of a permanent room read from the
database at start-up is written only if Redis holds none (``HSETNX``): Redis's copy wins. After
an outage the same rule holds: the topics in Redis replace this node's, and a topic set here
that Redis lacks is written there and published.

The room (:class:`~twisted_chat.cluster.room.ClusterRoom`) sets its own copy and hands the
rest here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger

from twisted_chat.cluster.events import TopicSet
from twisted_chat.cluster.keys import Keys
from twisted_chat.cluster.link import RedisLink
from twisted_chat.cluster.membership import Membership
from twisted_chat.cluster.outbox import Outbox
from twisted_chat.room import ChatRoom

if TYPE_CHECKING:
    from twisted_chat.cluster.room import ClusterRoom


class TopicReplication:
    """The topics of one node's rooms, kept in step with Redis and the other nodes."""

    log = Logger()

    def __init__(
        self,
        room: ClusterRoom,
        keys: Keys,
        link: RedisLink,
        outbox: Outbox,
        membership: Membership,
    ) -> None:
        self.room = room
        self.keys = keys
        self.link = link
        self.outbox = outbox
        self.membership = membership

    def set(self, chatroom: ChatRoom, topic: str, by: str) -> None:
        """``chatroom``'s topic was set here (to ``topic``, by ``by``): write it to Redis and
        tell every node (while in the cluster)."""
        if self.membership.ready:
            self._write(chatroom, "HSET")
            self.outbox.send(self.keys.room, TopicSet(chatroom.key, topic, by))

    def stored(self, chatroom: ChatRoom) -> None:
        """``chatroom``'s topic was read from the database: write it to Redis unless Redis
        holds one, which is taken instead."""
        if self.membership.ready:
            self._write(chatroom, "HSETNX").addCallback(
                lambda written: None if written == 1 else self.read(chatroom)
            )

    def set_elsewhere(self, room_key: str, topic: str, by: str) -> None:
        """Another node set the topic of ``room_key``: here too, told to its members here."""
        chatroom = self.room.rooms.get(room_key)
        if chatroom is not None:
            self._take(chatroom, topic, by)

    def read(self, chatroom: ChatRoom) -> None:
        """Take the topic Redis holds for ``chatroom`` (a room this node just learnt of)."""
        if not self.membership.ready:
            return

        def read(raw: Any) -> None:
            topic = _topic_of(raw)
            if topic is not None and self.room.rooms.get(chatroom.key) is chatroom:
                self._take(chatroom, *topic)

        self.link.command("HGET", self.keys.topics, chatroom.key).addCallbacks(
            read, lambda f: self.log.debug("cluster: topic read: {f}", f=f.value)
        )

    def restore(self) -> None:
        """This node (re)registered: merge the topics (Redis's copy wins; one Redis lacks is
        written there)."""
        if any(chatroom.users or chatroom.topic for chatroom in self.room.rooms.values()):
            self.link.command("HGETALL", self.keys.topics).addCallbacks(
                self._merge, lambda f: self.log.debug("cluster: topics: {f}", f=f.value)
            )

    def _take(self, chatroom: ChatRoom, topic: str, by: str) -> None:
        """``chatroom``'s topic is ``topic`` (set by ``by``): tell its members here if it is
        news."""
        if chatroom.topic == topic and chatroom.topic_by == by:
            return
        chatroom.topic = topic
        chatroom.topic_by = by
        room = self.room
        room.broadcast_room(room.events.topic(chatroom.key, by, topic, chatroom.name))

    def _write(self, chatroom: ChatRoom, command: str) -> defer.Deferred[Any]:
        """Write ``chatroom``'s topic to Redis (``HSET``, or ``HSETNX`` if none is there)."""
        value = json.dumps([chatroom.topic, chatroom.topic_by or ""], ensure_ascii=False)
        written = self.link.command(command, self.keys.topics, chatroom.key, value)
        written.addErrback(lambda f: self.log.debug("cluster: topic write: {f}", f=f.value))
        return written

    def _merge(self, flat: Any) -> None:
        """The topics in Redis after a (re)registration: they win; a topic set here that Redis
        lacks is written there and published."""
        stored = _pairs(flat)
        for key, chatroom in list(self.room.rooms.items()):
            topic = _topic_of(stored.get(key))
            if topic is not None:
                self._take(chatroom, *topic)
            elif chatroom.topic is not None and self.membership.ready:
                self._publish_missing(chatroom)

    def _publish_missing(self, chatroom: ChatRoom) -> None:
        """Write ``chatroom``'s topic to Redis if none is there, and tell the other nodes."""

        def written(result: Any) -> None:
            if result == 1 and chatroom.topic is not None and self.membership.ready:
                topic, by = chatroom.topic, chatroom.topic_by or ""
                self.outbox.send(self.keys.room, TopicSet(chatroom.key, topic, by))

        self._write(chatroom, "HSETNX").addCallback(written)


def _topic_of(raw: Any) -> tuple[str, str] | None:
    """A value of the topics hash: (topic, set by), or ``None``."""
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if type(value) is list and len(value) == 2 and all(type(v) is str for v in value):
        return value[0], value[1]
    return None


def _pairs(flat: Any) -> dict[str, str]:
    """A Redis hash reply (a dict, or a flat list of fields and values) as a dict."""
    if isinstance(flat, dict):
        return {str(k): str(v) for k, v in flat.items()}
    items = list(flat or [])
    return {str(items[i]): str(items[i + 1]) for i in range(0, len(items) - 1, 2)}
