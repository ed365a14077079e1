"""The conversation as typed events: what the chat core produces and every transport renders.

The chat core never writes bytes. It makes events (a public message, a private message, a user
joining or leaving, a notice or an error for one user, an announcement for everyone) and hands
them to recipients; each transport turns them into its own form with its renderer (protocol v1
lines in :mod:`twisted_chat.wire`, WebSocket frames in :mod:`twisted_chat.web.frames`), once per
event and renderer, however many recipients share it. In the manner of Synapse's one event
representation serialised per client at the edge (``synapse/events/utils.py``), and of Twisted
words' ``IChatClient.receive``, which hands each front end a structured message.

Every event carries a message id unique in the whole cluster and for all time
(:mod:`twisted_chat.ids`), the server time in milliseconds since the epoch (UTC), and the room
it belongs to (``None`` for what belongs to no room: a private message, a reply to one user).

What the server *says* (notices and errors) is never text here: it is a :class:`Text`, a
catalogue entry (:mod:`twisted_chat.text`) and its arguments, localised when it is rendered, so
that a renderer may use the language of the moment, or an IRC numeric instead.

Events are built by an :class:`EventSource` (the clock and the id generator) and are not
changed once built (they are shared by every recipient; slotted classes rather than frozen
dataclasses only because building one is on the path of every message and a frozen dataclass
costs three times as much to build).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from twisted_chat.ids import MessageIds

#: The one room of the chat (rooms of their own come later).
DEFAULT_ROOM: Final = "general"


class Text:
    """Something the server says: the catalogue entry ``key`` with its arguments.

    Arguments are plain values, or themselves a :class:`Text` (``hasta {when}``, ``sin motivo``)
    or :class:`ByLang` (a command's help line), resolved in the same language.
    """

    __slots__ = ("args", "key")

    def __init__(self, key: str, **args: Arg) -> None:
        self.key = key
        self.args: Mapping[str, Arg] = args

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (self.key, self.args) == (other.key, other.args)

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        args = "".join(f", {name}={value!r}" for name, value in self.args.items())
        return f"Text({self.key!r}{args})"


@dataclass(frozen=True, slots=True)
class ByLang:
    """A piece of text given in every language (``{"es": ..., "en": ...}``): help lines."""

    texts: Mapping[str, str]


#: What a :class:`Text` argument may be.
Arg = str | int | float | Text | ByLang


@dataclass(slots=True, eq=False)
class Event:
    """What every event has: its id, its time (ms since the epoch, UTC), its room."""

    id: str
    time: int
    room: str | None


@dataclass(slots=True, eq=False)
class Public(Event):
    """``sender`` said ``text`` to the room (``notice``: as an IRC ``NOTICE``, which IRC
    clients never answer automatically; the other transports show it as any message;
    ``irc``: sent by an IRC client, in one IRC line, which IRC readers get as one line, cut if
    the sender's source makes it too long, as IRC servers do, where a longer text is split)."""

    sender: str
    text: str
    notice: bool = False
    irc: bool = False
    #: The sender's IRCv3 client-only tags (``+typing``...: names start with ``+``), for
    #: IRC readers with ``message-tags`` alone; ``None`` (nearly always): none.
    tags: dict[str, str] | None = None


@dataclass(slots=True, eq=False)
class Private(Event):
    """``sender`` said ``text`` to ``recipient`` alone (the sender gets it back as an echo;
    ``notice``: as an IRC ``NOTICE``; ``irc``: as :class:`Public`'s)."""

    sender: str
    recipient: str
    text: str
    notice: bool = False
    irc: bool = False
    #: As :attr:`Public.tags`.
    tags: dict[str, str] | None = None


@dataclass(slots=True, eq=False)
class Tagged(Event):
    """IRCv3 ``TAGMSG``: ``sender``'s client-only ``tags`` (``+typing``...) with no text, to
    its room (``room``) or to ``recipient`` alone. Only IRC readers with ``message-tags`` get
    it: never another transport, never kept in a history."""

    sender: str
    recipient: str | None
    tags: dict[str, str]


@dataclass(slots=True, eq=False)
class Joined(Event):
    """``nick`` joined the room: by logging in to the chat, or (``place``: the room's name as
    shown) by moving there from another room."""

    nick: str
    place: str | None = None


@dataclass(slots=True, eq=False)
class Left(Event):
    """``nick`` left the room: by leaving the chat, or (``place``: the room's name as shown) by
    moving to another room (``reason``: what an IRC user's ``PART`` said, shown on IRC), or
    sent out of it by ``by`` (the room's operator or a server operator: an IRC ``KICK``, with
    its ``reason``)."""

    nick: str
    place: str | None = None
    reason: str | None = None
    by: str | None = None


@dataclass(slots=True, eq=False)
class Topic(Event):
    """``nick`` set the topic of the room (``place``: its name as shown) to ``topic``."""

    nick: str
    topic: str
    place: str


@dataclass(slots=True, eq=False)
class Renamed(Event):
    """The user ``old`` is called ``new`` from now on (``/nick``, IRC's ``NICK``): told to
    the user and once to everyone sharing a room with it (``room`` is ``None``: it belongs to
    every room the user is in)."""

    old: str
    new: str


@dataclass(slots=True, eq=False)
class Replayed(Event):
    """A stored message shown again, with its own id and time: a public message of the room's
    history (replay, ``/historial``, ``/buscar``), or a recado (``recado``) for its reader."""

    sender: str
    text: str
    recado: bool = False


@dataclass(slots=True, eq=False)
class Notice(Event):
    """The server tells something (a ``* `` line in protocol v1): a reply, or news for all."""

    text: Text


@dataclass(slots=True, eq=False)
class Error(Event):
    """The server refuses something (a ``! `` line in protocol v1)."""

    text: Text


class Renderer(Protocol):
    """A transport's form of events (protocol v1 lines, WebSocket frames, ...): what one
    recipient of that transport is written, ready to go out."""

    def render(self, event: Event) -> bytes:
        """``event`` as its recipients see it."""

    def render_echo(self, event: Private) -> bytes:
        """A private message as its sender sees it."""


class Clock(Protocol):
    """What an :class:`EventSource` needs of a reactor: the time."""

    def seconds(self) -> float:
        """Now, in POSIX seconds."""


def _real_ms() -> int:
    """Now in milliseconds since the epoch, from the system clock."""
    return time.time_ns() // 1_000_000


class EventSource:
    """Builds events stamped with a new id and the current time.

    Building an event is on the path of every message, so each builder makes its id and time
    inline (the id generator's prefix and counter, and the clock's ``seconds``, are kept here
    as they are: a method call less for each)."""

    __slots__ = ("_count", "_ms", "_prefix", "_seconds", "clock", "ids")

    def __init__(self, clock: Clock, ids: MessageIds | None = None) -> None:
        self.clock = clock
        self.ids = ids = ids or MessageIds()
        self._seconds = clock.seconds
        self._prefix = ids.prefix
        self._count = ids.counter
        #: Now in ms: straight from ``time.time_ns`` when the clock is the real one (a float
        #: multiplication less on every message), else from the clock (tests' ``Clock``).
        self._ms = _real_ms if clock.seconds is time.time else self.now_ms

    def now_ms(self) -> int:
        """The current time in milliseconds since the epoch."""
        return int(self._seconds() * 1000)

    def public(self, room: str, sender: str, text: str) -> Public:
        """A public message (the hot path: kept to one id, one time, one object)."""
        return Public(
            self._prefix + hex(next(self._count)),
            self._ms(),
            room,
            sender,
            text,
        )

    def private(self, sender: str, recipient: str, text: str) -> Private:
        """A private message."""
        return Private(
            self._prefix + hex(next(self._count)),
            self._ms(),
            None,
            sender,
            recipient,
            text,
        )

    def tagged(
        self, room: str | None, sender: str, recipient: str | None, tags: dict[str, str]
    ) -> Tagged:
        """A ``TAGMSG`` to ``room`` or to ``recipient``."""
        return Tagged(
            self._prefix + hex(next(self._count)), self._ms(), room, sender, recipient, tags
        )

    def joined(self, room: str, nick: str, place: str | None = None) -> Joined:
        """``nick`` joined ``room`` (``place``: moved there from another room, shown so)."""
        return Joined(self._prefix + hex(next(self._count)), self._ms(), room, nick, place)

    def left(self, room: str, nick: str, place: str | None = None) -> Left:
        """``nick`` left ``room`` (``place``: moved to another room, shown so)."""
        return Left(self._prefix + hex(next(self._count)), self._ms(), room, nick, place)

    def topic(self, room: str, nick: str, topic: str, place: str) -> Topic:
        """``nick`` set the topic of ``room`` (shown as ``place``) to ``topic``."""
        return Topic(self._prefix + hex(next(self._count)), self._ms(), room, nick, topic, place)

    def renamed(self, old: str, new: str) -> Renamed:
        """The user ``old`` is called ``new`` from now on."""
        return Renamed(self._prefix + hex(next(self._count)), self._ms(), None, old, new)

    def replayed(
        self, message_id: str, time: int, room: str | None, sender: str, text: str
    ) -> Replayed:
        """A stored public message of ``room`` shown again (its own id and time)."""
        return Replayed(message_id, time, room, sender, text)

    def recado(self, message_id: str, time: int, sender: str, text: str) -> Replayed:
        """A recado from ``sender`` (its own id and time), for its reader."""
        return Replayed(message_id, time, None, sender, text, True)

    def notice(self, key: str, /, **args: Arg) -> Notice:
        """A notice saying the catalogue entry ``key`` with ``args``."""
        return Notice(
            self._prefix + hex(next(self._count)),
            self._ms(),
            None,
            Text(key, **args),
        )

    def error(self, key: str, /, **args: Arg) -> Error:
        """An error saying the catalogue entry ``key`` with ``args``."""
        return Error(
            self._prefix + hex(next(self._count)),
            self._ms(),
            None,
            Text(key, **args),
        )

    def notice_of(self, text: Text, room: str | None = None) -> Notice:
        """A notice saying ``text`` (to ``room``, if it is the room's news)."""
        return Notice(self._prefix + hex(next(self._count)), self._ms(), room, text)

    def error_of(self, text: Text) -> Error:
        """An error saying ``text``."""
        return Error(self._prefix + hex(next(self._count)), self._ms(), None, text)
