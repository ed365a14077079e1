"""The rooms' commands (protocol v1.1): ``/salas``, ``/unirse``, ``/sala`` and ``/tema``.

A group of the command table (:class:`~twisted_chat.commands.CommandTable`), acting through the
registry of rooms (:class:`~twisted_chat.room.Room`, which in a cluster reaches every node); this
module does not know whether it is clustered. The topics of permanent rooms are kept by a
:class:`TopicKeeper` (the database, in :mod:`twisted_chat.storage.topics`), loaded at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import nicknames, roomnames
from twisted_chat.commands import command
from twisted_chat.events import Event, EventSource
from twisted_chat.lines import has_control_characters
from twisted_chat.loading import LoadedFromStorage
from twisted_chat.room import ChatRoom, ChatSession, Entered, Move, Room


class TopicStorage(Protocol):
    """Where the topics of permanent rooms are kept (implemented by
    :class:`twisted_chat.storage.topics.TopicStore`)."""

    def load_topics(self) -> Deferred[list[tuple[str, str, str]]]:
        """Every stored topic: ``(room key, topic, set by)``."""

    def save_topic(
        self, room_key: str, name: str, topic: str, set_by: str, when: datetime
    ) -> Deferred[None]:
        """Store the topic of the room ``room_key`` (idempotent)."""


class TopicKeeper(LoadedFromStorage[list[tuple[str, str, str]]]):
    """The topics of the permanent rooms: loaded at start-up (with backoff while the database
    is down; the chat does not wait for them), stored when they change."""

    log = Logger()
    what = "room topics"
    blocks_logins = False

    def __init__(self, storage: TopicStorage, room: Room, clock: IReactorTime) -> None:
        super().__init__(clock, stored=True)
        self._storage = storage
        self._room = room

    def _read(self) -> Deferred[list[tuple[str, str, str]]]:
        return self._storage.load_topics()

    def _take(self, value: list[tuple[str, str, str]]) -> int:
        count = 0
        for room_key, topic, set_by in value:
            chatroom = self._room.rooms.get(room_key)
            # A topic set since start-up wins; a room no longer permanent keeps none.
            if chatroom is not None and chatroom.permanent and chatroom.topic is None:
                self._room.stored_topic(chatroom, topic, set_by)
                count += 1
        return count

    def _retake(self, value: list[tuple[str, str, str]]) -> None:
        self._take(value)

    def save(self, chatroom: ChatRoom) -> None:
        """Store the topic ``chatroom`` has now (an outage is logged by the store, once)."""
        if chatroom.topic is None:
            return
        when = datetime.fromtimestamp(self._clock.seconds(), tz=UTC)
        saved = self._storage.save_topic(
            chatroom.key, chatroom.name, chatroom.topic, chatroom.topic_by or "", when
        )
        saved.addErrback(self._not_saved, chatroom.key)

    def _not_saved(self, failure: Failure, room_key: str) -> None:
        self.log.warn("topic of {room} not stored: {error}", room=room_key, error=failure.value)


class RoomCommands:
    """The commands of rooms, for every logged-in user."""

    log = Logger()

    def __init__(
        self,
        room: Room,
        events: EventSource,
        is_operator: Callable[[ChatSession], bool] | None = None,
        topics: TopicKeeper | None = None,
    ) -> None:
        #: Called with a session and the room it moved to, once it was shown the room (the
        #: room's history replay, when history is kept).
        self.after_enter: Callable[[ChatSession, ChatRoom], object] | None = None
        self.room = room
        self.events = events
        #: Whether a session is a server operator's.
        self.is_operator: Callable[[ChatSession], bool] = is_operator or (lambda _: False)
        #: Where the topics of permanent rooms are stored (``None``: nowhere).
        self.topics = topics

    # -- the commands -----------------------------------------------------------------------

    @command("salas", "rooms", es="muestra las salas", en="list the rooms")
    def salas(self, session: ChatSession, args: str) -> None:
        """``* Salas (N): general (12), juegos (3)``: every room, sorted by casefold name, but
        the secret ones (IRC's ``+s``) the user is not in."""
        room = self.room
        rooms = [r for r in room.room_list() if not r.secret or room.visible_to(r, session)]
        listed = ", ".join(f"{r.name} ({len(r)})" for r in rooms)
        session.deliver(self.events.notice("salas", count=len(rooms), rooms=listed))

    @command(
        "unirse",
        "join",
        es="te lleva a la sala SALA (la crea si no existe)",
        en="move to the room ROOM (created if it does not exist)",
        usage=("SALA", "ROOM"),
    )
    def unirse(self, session: ChatSession, args: str) -> None:
        """Leave the current room and enter another one, then show it (room and topic lines)."""
        name = roomnames.normalize(args)
        if not name:
            session.deliver(self.events.error("room_usage"))
            return
        if not roomnames.is_valid(name):
            session.deliver(self.events.error("room_invalid", room=name))
            return
        entering = self.room.enter(session, name)
        held = not entering.called
        if held:
            session.hold()  # a clustered room asks who creates the room first

        def entered(move: Move) -> None:
            if not session.closing:
                self._entered(session, move)
            if held:
                session.release()

        def failed(failure: Failure) -> None:
            self.log.failure("entering the room {room} failed", failure, room=name)
            if held:
                session.release()

        entering.addCallbacks(entered, failed)

    def _entered(self, session: ChatSession, move: Move) -> None:
        """Tell the rooms concerned, then show the mover where it is."""
        if move.entered is Entered.FULL or move.room is None:
            session.deliver(self.events.error("rooms_full", max=self.room.max_rooms))
            return
        chatroom = move.room
        nickname = session.nickname or ""
        if move.left is not None:
            left = move.left
            self.room.announce(self.events.left(left.key, nickname, left.name))
            self.room.announce(
                self.events.joined(chatroom.key, nickname, chatroom.name), joined=session
            )
        lines = self.room_lines(chatroom)
        session.deliver_all(lines if chatroom.topic is not None else lines[:1])
        if self.after_enter is not None and move.left is not None:
            self.after_enter(session, chatroom)

    @command("sala", "room", es="muestra tu sala y su tema", en="show your room and its topic")
    def sala(self, session: ChatSession, args: str) -> None:
        """The room line and the topic line of the user's room."""
        session.deliver_all(self.room_lines(self.room.room_of(session)))

    @command(
        "tema",
        "topic",
        es="muestra el tema de tu sala; con TEXTO, lo cambia",
        en="show your room's topic; with TEXT, set it",
        usage=("[TEXTO]", "[TEXT]"),
    )
    def tema(self, session: ChatSession, args: str) -> None:
        """Show the topic, or set it (the room's operator or a server operator; in a
        permanent room, a server operator only)."""
        chatroom = self.room.room_of(session)
        topic = args.strip(" \t")
        if not topic:
            session.deliver(self._topic_line(chatroom))
            return
        refusal = self.set_topic(session, chatroom, topic)
        if refusal is not None:
            session.deliver(refusal)

    def set_topic(self, session: ChatSession, chatroom: ChatRoom, topic: str) -> Event | None:
        """Set the topic of ``chatroom`` to ``topic`` (not blank) for ``session`` and tell the
        room, or the error saying why it may not (``/tema``, and IRC's ``TOPIC``)."""
        refusal = self._topic_refusal(session, chatroom, topic)
        if refusal is not None:
            return refusal
        nickname = session.nickname or ""
        self.room.set_topic(chatroom, topic, nickname)
        self.log.info(
            "topic of {room} set by {nick}: {topic}", room=chatroom.key, nick=nickname, topic=topic
        )
        self.room.broadcast_room(self.events.topic(chatroom.key, nickname, topic, chatroom.name))
        if chatroom.permanent and self.topics is not None:
            self.topics.save(chatroom)
        return None

    def _topic_refusal(self, session: ChatSession, chatroom: ChatRoom, topic: str) -> Event | None:
        """Why ``session`` may not set the topic ``topic`` of ``chatroom``, or ``None``."""
        if len(topic) > roomnames.MAX_TOPIC_LENGTH:
            return self.events.error(
                "topic_too_long", length=len(topic), max=roomnames.MAX_TOPIC_LENGTH
            )
        if has_control_characters(topic):
            return self.events.error("topic_control")
        if self.is_operator(session):
            return None
        if chatroom.permanent:
            return self.events.error("topic_denied_permanent", room=chatroom.name)
        if chatroom.operator is None or chatroom.operator != _key_of(session):
            return self.events.error("topic_denied", room=chatroom.name)
        return None

    def _not_saved(self, failure: Failure, room_key: str) -> None:
        # The store logs outages itself, once; the topic holds in memory meanwhile.
        self.log.debug("topic of {room} not stored: {error}", room=room_key, error=failure.value)

    # -- what the commands show -------------------------------------------------------------

    def room_lines(self, chatroom: ChatRoom) -> list[Event]:
        """``* Sala juegos (3): @ana, Bob, carol`` and the topic line."""
        events = self.events
        names = chatroom.nicknames()
        room_line = events.notice(
            "sala", room=chatroom.name, count=len(names), nicks=", ".join(names)
        )
        return [room_line, self._topic_line(chatroom)]

    def _topic_line(self, chatroom: ChatRoom) -> Event:
        if chatroom.topic is None:
            return self.events.notice("no_topic", room=chatroom.name)
        return self.events.notice("tema", topic=chatroom.topic)


def _key_of(session: ChatSession) -> str:
    return nicknames.key(session.nickname or "")
