"""What nodes tell each other: one small frozen class per cluster event, with its name and its
JSON form, in the manner of Synapse's ``synapse/replication/tcp/commands.py``.

Every event has a :attr:`~ClusterEvent.NAME` (the first element of its JSON form) and explicit
:meth:`~ClusterEvent.to_wire` and :meth:`~ClusterEvent.from_wire`; :data:`EVENTS` maps names to
classes. ``from_wire`` checks the type of every field: anything else is an :class:`EventError`,
which the receiver logs (sparingly) and drops. Where an event belongs, and what it does on the
node that receives it, is said by :mod:`twisted_chat.cluster.handler`.

Chat events cross nodes as themselves: a public message, a private message and an operator's
announcement carry the chat event (:mod:`twisted_chat.events`) with its id, time and room, and
each node renders it for its own users (an announcement as its catalogue key and arguments, in
the node's own language). The JSON forms (``KEY`` is a nickname's NFC + casefold key)::

    ["pub", ID, TIME, ROOM, SENDER, TEXT]               a public message (ROOM a string)
    ["priv", ID, TIME, ROOM, SENDER, TEXT, RECIPIENT]   a private message (ROOM null)
    ["notice", ID, TIME, ROOM, CATALOGUE_KEY, {NAME: VALUE}]   an announcement to everyone
    ["tell", NICKNAME, ID, TIME, CATALOGUE_KEY, {NAME: VALUE}]  a notice to one user
    ["recado", ID, TIME, SENDER, RECIPIENT, TEXT]       a stored recado, to deliver at once
    ["forget", KEY]                                     KEY's stored messages were erased
    ["join", KEY, NICKNAME, VERSION] / ["leave", KEY, VERSION]
    ["room", KEY, ROOM_NAME, OPERATOR, VERSION]        a user moved to a room (OPERATOR: bool)
    ["rooms", KEY, [ROOM_NAME...], OPERATOR_OF, VERSION, {OPTION: VALUE}]
                                                        a user's rooms now (an IRC user's)
    ["nick", OLD_KEY, NEW_KEY, ID, TIME, OLD, NEW, VERSION]   a user changed its nickname
    ["topic", ROOM_KEY, TOPIC, BY]
    ["modes", ROOM_KEY, SECRET, MODERATED, [VOICED_KEY...], BY, CHANGE]   a room's modes now
    ["account", KEY, PASSWORD_HASH]
    ["kick", KEY, REASON, BY]
    ["uinfo", KEY, {INFO}, VERSION]                     a user's info now (real name, away...)
    ["roomkick", KEY, ROOM_KEY, REASON, BY]             KEY sent out of a room (IRC KICK)
    ["mute", KEY, UNTIL_MS]                             UNTIL_MS 0 lifts the mute
    ["ban", "nick"|"net", TARGET, REASON, BY, CREATED, EXPIRES]   POSIX seconds; EXPIRES 0: never
    ["unban", "nick"|"net", TARGET]
    ["bye", VERSION] / ["hello", VERSION]

TIME is milliseconds since the epoch (UTC); VERSION the sender's membership version (see
:mod:`twisted_chat.cluster.presence`).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Self

from twisted_chat.bans import Ban, BanKind
from twisted_chat.events import Notice, Private, Public, Renamed, Replayed, Text
from twisted_chat.userinfo import UserInfo


class EventError(ValueError):
    """A cluster event that is not well formed."""


class ClusterEvent:
    """What every cluster event has: its :attr:`NAME` and its JSON form."""

    __slots__ = ()

    #: The event's name on the wire (the first element of its JSON form).
    NAME: ClassVar[str]

    def to_wire(self) -> list[Any]:
        """The event's JSON form (a list starting with :attr:`NAME`)."""
        raise NotImplementedError

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """The event of the JSON form ``raw`` (whose first element is :attr:`NAME`); raise
        :class:`EventError` if a field is missing or of the wrong type."""
        raise NotImplementedError


def _fields(raw: list[Any], count: int) -> list[Any]:
    """``raw``'s fields after the name, checked to be ``count``."""
    if len(raw) != count + 1:
        raise EventError(f"{raw[0]!r} takes {count} fields: {raw[1:]!r}")
    return raw[1:]


def _str(value: object) -> str:
    if type(value) is not str:
        raise EventError(f"not a string: {value!r}")
    return value


def _int(value: object) -> int:
    if type(value) is not int:  # not a bool either
        raise EventError(f"not an integer: {value!r}")
    return value


def _room(value: object) -> str | None:
    if value is not None and type(value) is not str:
        raise EventError(f"not a room: {value!r}")
    return value


# -- chat events, as themselves -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublicMessage(ClusterEvent):
    """A public message said on the origin node: every other node delivers it to its users."""

    NAME: ClassVar[str] = "pub"

    event: Public

    def to_wire(self) -> list[Any]:
        """``["pub", ID, TIME, ROOM, SENDER, TEXT]``."""
        e = self.event
        return ["pub", e.id, e.time, e.room, e.sender, e.text]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked inline: nearly every event between nodes is one of these."""
        if len(raw) == 6:
            _, id_, time, room, sender, text = raw
            if (
                type(id_) is str
                and type(time) is int
                and type(room) is str
                and type(sender) is str
                and type(text) is str
            ):
                return cls(Public(id_, time, room, sender, text))
        raise EventError(f"bad public message: {raw[1:]!r}")


@dataclass(frozen=True, slots=True)
class PrivateMessage(ClusterEvent):
    """A private message to a user of the node the event is sent to (on that node's channel)."""

    NAME: ClassVar[str] = "priv"

    event: Private

    def to_wire(self) -> list[Any]:
        """``["priv", ID, TIME, ROOM, SENDER, TEXT, RECIPIENT]``."""
        e = self.event
        return ["priv", e.id, e.time, e.room, e.sender, e.text, e.recipient]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked inline, as :meth:`PublicMessage.from_wire`."""
        if len(raw) == 7:
            _, id_, time, room, sender, text, recipient = raw
            if (
                type(id_) is str
                and type(time) is int
                and (room is None or type(room) is str)
                and type(sender) is str
                and type(text) is str
                and type(recipient) is str
            ):
                return cls(Private(id_, time, room, sender, recipient, text))
        raise EventError(f"bad private message: {raw[1:]!r}")


@dataclass(frozen=True, slots=True)
class Announcement(ClusterEvent):
    """An operator's notice to every user of the cluster (``/anunciar``).

    It crosses as its catalogue key and its text arguments, and each node says it in its own
    language; arguments that are not plain text (a nested :class:`~twisted_chat.events.Text`)
    do not cross.
    """

    NAME: ClassVar[str] = "notice"

    event: Notice

    def to_wire(self) -> list[Any]:
        """``["notice", ID, TIME, ROOM, CATALOGUE_KEY, {NAME: VALUE}]``."""
        e = self.event
        args = {name: value for name, value in e.text.args.items() if type(value) is str}
        return ["notice", e.id, e.time, e.room, e.text.key, args]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """The notice, its arguments checked to be text."""
        id_, time, room, key, args = _fields(raw, 5)
        if not isinstance(args, dict) or not all(type(v) is str for v in args.values()):
            raise EventError(f"bad notice arguments: {args!r}")
        text = Text(_str(key), **args)
        return cls(Notice(_str(id_), _int(time), _room(room), text))


@dataclass(frozen=True, slots=True)
class UserNotice(ClusterEvent):
    """A notice for one user of the node the event is sent to (``* NICK ha recibido tu
    recado.``), as its catalogue key and arguments (text or integers), said in that node's
    language."""

    NAME: ClassVar[str] = "tell"

    nickname: str
    event: Notice

    def to_wire(self) -> list[Any]:
        """``["tell", NICKNAME, ID, TIME, CATALOGUE_KEY, {NAME: VALUE}]``."""
        e = self.event
        args = {name: value for name, value in e.text.args.items() if type(value) in (str, int)}
        return ["tell", self.nickname, e.id, e.time, e.text.key, args]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """The notice, its arguments checked to be text or integers."""
        nickname, id_, time, key, args = _fields(raw, 5)
        if not isinstance(args, dict) or not all(type(v) in (str, int) for v in args.values()):
            raise EventError(f"bad notice arguments: {args!r}")
        text = Text(_str(key), **args)
        return cls(_str(nickname), Notice(_str(id_), _int(time), None, text))


@dataclass(frozen=True, slots=True)
class RecadoFor(ClusterEvent):
    """A recado stored for ``recipient``, a user of the node the event is sent to, which
    delivers it at once (see :meth:`twisted_chat.recados.Recados.arrived`)."""

    NAME: ClassVar[str] = "recado"

    recipient: str
    recado: Replayed

    def to_wire(self) -> list[Any]:
        """``["recado", ID, TIME, SENDER, RECIPIENT, TEXT]``."""
        r = self.recado
        return ["recado", r.id, r.time, r.sender, self.recipient, r.text]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        id_, time, sender, recipient, text = _fields(raw, 5)
        recado = Replayed(_str(id_), _int(time), None, _str(sender), _str(text), True)
        return cls(_str(recipient), recado)


@dataclass(frozen=True, slots=True)
class Forgotten(ClusterEvent):
    """Every stored message of ``nick_key`` was erased (``/olvidar`` on the origin node):
    every node drops them from its buffers."""

    NAME: ClassVar[str] = "forget"

    nick_key: str

    def to_wire(self) -> list[Any]:
        """``["forget", KEY]``."""
        return ["forget", self.nick_key]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        (nick_key,) = _fields(raw, 1)
        return cls(_str(nick_key))


# -- who is where ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserJoined(ClusterEvent):
    """A user logged in on the origin node, which is at membership ``version`` after it."""

    NAME: ClassVar[str] = "join"

    nick_key: str
    nickname: str
    version: int

    def to_wire(self) -> list[Any]:
        """``["join", KEY, NICKNAME, VERSION]``."""
        return ["join", self.nick_key, self.nickname, self.version]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        nick_key, nickname, version = _fields(raw, 3)
        return cls(_str(nick_key), _str(nickname), _int(version))


@dataclass(frozen=True, slots=True)
class UserLeft(ClusterEvent):
    """A user of the origin node left (or lost its nickname), at membership ``version``."""

    NAME: ClassVar[str] = "leave"

    nick_key: str
    version: int

    def to_wire(self) -> list[Any]:
        """``["leave", KEY, VERSION]``."""
        return ["leave", self.nick_key, self.version]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        nick_key, version = _fields(raw, 2)
        return cls(_str(nick_key), _int(version))


@dataclass(frozen=True, slots=True)
class RoomMoved(ClusterEvent):
    """A user of the origin node moved to the room ``name`` (spelled as the room is), which it
    created and is the operator of if ``operator``; the node is at membership ``version``
    after it. A login puts a user in the default room without this event."""

    NAME: ClassVar[str] = "room"

    nick_key: str
    name: str
    operator: bool
    version: int

    def to_wire(self) -> list[Any]:
        """``["room", KEY, ROOM_NAME, OPERATOR, VERSION]``."""
        return ["room", self.nick_key, self.name, self.operator, self.version]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        nick_key, name, operator, version = _fields(raw, 4)
        if type(operator) is not bool:
            raise EventError(f"not a boolean: {operator!r}")
        return cls(_str(nick_key), _str(name), operator, _int(version))


@dataclass(frozen=True, slots=True)
class RoomsSet(ClusterEvent):
    """A user of the origin node is in the rooms ``names`` now (an IRC user, in any number of
    rooms, after its ``JOIN``, ``PART`` or ``KICK``, or taken out of the default room at its
    login; ``""`` is the default room), and the operator of the room ``operator_of`` it just
    created (``""``: none); the node is at membership ``version`` after it.

    The options, a JSON object whose unknown names are ignored (a later release may add
    some): ``quiet`` (``true``: tell nobody), ``by`` (who sent the user out of the rooms it
    left: a ``KICK``) and ``reason`` (the ``KICK``'s or ``PART``'s).

    Added after ``room`` (which line users' moves still use): a node of an earlier release
    drops the envelope that holds it, as malformed, and catches up by reading the node's users
    hash when it sees the versions skip (docs/SCALING.md, "IRC users in the cluster")."""

    NAME: ClassVar[str] = "rooms"

    nick_key: str
    names: tuple[str, ...]
    operator_of: str
    version: int
    quiet: bool = False
    by: str | None = None
    reason: str | None = None

    def to_wire(self) -> list[Any]:
        """``["rooms", KEY, [ROOM_NAME...], OPERATOR_OF, VERSION, {OPTION: VALUE}]``."""
        options: dict[str, Any] = {}
        if self.quiet:
            options["quiet"] = True
        if self.by is not None:
            options["by"] = self.by
        if self.reason is not None:
            options["reason"] = self.reason
        return ["rooms", self.nick_key, list(self.names), self.operator_of, self.version, options]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field; options of unknown names are ignored."""
        nick_key, names, operator_of, version, options = _fields(raw, 5)
        if type(names) is not list or not all(type(n) is str for n in names):
            raise EventError(f"not a list of rooms: {names!r}")
        if not isinstance(options, dict):
            raise EventError(f"bad options: {options!r}")
        quiet = options.get("quiet", False)
        if type(quiet) is not bool:
            raise EventError(f"not a boolean: {quiet!r}")
        by, reason = options.get("by"), options.get("reason")
        for value in (by, reason):
            if value is not None and type(value) is not str:
                raise EventError(f"not a string: {value!r}")
        return cls(
            _str(nick_key),
            tuple(dict.fromkeys(names)),
            _str(operator_of),
            _int(version),
            quiet,
            by,
            reason,
        )


@dataclass(frozen=True, slots=True)
class UserInfoSet(ClusterEvent):
    """What other users may know of the user ``nick_key`` of the origin node changed (its away
    message, user modes, account or operator status; see :mod:`twisted_chat.userinfo`),
    written in its ``#u:`` field already; the node is at membership ``version`` after it.

    ``info`` is a JSON object whose unknown names are ignored (a later release may add some),
    its texts cut to their bounds. Added after ``rooms``: a node of an earlier release drops
    it as unknown, and catches up by reading the node's users hash when it sees the versions
    skip (where it ignores the ``#u:`` fields); it is published in an envelope of its own, so
    that such a node loses nothing else with it."""

    NAME: ClassVar[str] = "uinfo"

    nick_key: str
    info: UserInfo
    version: int

    def to_wire(self) -> list[Any]:
        """``["uinfo", KEY, {INFO}, VERSION]``."""
        return ["uinfo", self.nick_key, self.info.to_wire(), self.version]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field; the info leniently (:meth:`UserInfo.from_wire`)."""
        nick_key, info, version = _fields(raw, 3)
        if not isinstance(info, dict):
            raise EventError(f"bad user info: {info!r}")
        return cls(_str(nick_key), UserInfo.from_wire(info), _int(version))


@dataclass(frozen=True, slots=True)
class RoomKick(ClusterEvent):
    """To the node holding the user ``nick_key``: ``by`` (the room's operator, or a server
    operator, on the origin node) sends it out of the room ``room_key`` (an IRC ``KICK``)."""

    NAME: ClassVar[str] = "roomkick"

    nick_key: str
    room_key: str
    reason: str
    by: str

    def to_wire(self) -> list[Any]:
        """``["roomkick", KEY, ROOM_KEY, REASON, BY]``."""
        return ["roomkick", self.nick_key, self.room_key, self.reason, self.by]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        nick_key, room_key, reason, by = _fields(raw, 4)
        return cls(_str(nick_key), _str(room_key), _str(reason), _str(by))


@dataclass(frozen=True, slots=True)
class UserRenamed(ClusterEvent):
    """A user of the origin node changed its nickname (``event``: the chat's own event, its
    id and time, from ``event.old`` to ``event.new``; ``old_key`` and ``new_key`` their
    keys), claimed in Redis already; the node is at membership ``version`` after it."""

    NAME: ClassVar[str] = "nick"

    old_key: str
    new_key: str
    event: Renamed
    version: int

    def to_wire(self) -> list[Any]:
        """``["nick", OLD_KEY, NEW_KEY, ID, TIME, OLD, NEW, VERSION]``."""
        e = self.event
        return ["nick", self.old_key, self.new_key, e.id, e.time, e.old, e.new, self.version]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        old_key, new_key, id_, time, old, new, version = _fields(raw, 7)
        event = Renamed(_str(id_), _int(time), None, _str(old), _str(new))
        return cls(_str(old_key), _str(new_key), event, _int(version))


@dataclass(frozen=True, slots=True)
class TopicSet(ClusterEvent):
    """Someone (``by``) set the topic of the room ``room_key`` on the origin node (already
    written to Redis's topics hash)."""

    NAME: ClassVar[str] = "topic"

    room_key: str
    topic: str
    by: str

    def to_wire(self) -> list[Any]:
        """``["topic", ROOM_KEY, TOPIC, BY]``."""
        return ["topic", self.room_key, self.topic, self.by]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        room_key, topic, by = _fields(raw, 3)
        return cls(_str(room_key), _str(topic), _str(by))


@dataclass(frozen=True, slots=True)
class RoomModes(ClusterEvent):
    """Someone (``by``) changed the modes of the room ``room_key`` on the origin node (IRC's
    ``MODE``): what they are now (``secret``, ``moderated``, the nick keys ``voiced``) and the
    change as IRC writes it (``change``: ``+mv-s bob``), which the members are told."""

    NAME: ClassVar[str] = "modes"

    room_key: str
    secret: bool
    moderated: bool
    voiced: tuple[str, ...]
    by: str
    change: str

    def to_wire(self) -> list[Any]:
        """``["modes", ROOM_KEY, SECRET, MODERATED, [VOICED_KEY...], BY, CHANGE]``."""
        return [
            "modes",
            self.room_key,
            self.secret,
            self.moderated,
            list(self.voiced),
            self.by,
            self.change,
        ]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        room_key, secret, moderated, voiced, by, change = _fields(raw, 6)
        if type(secret) is not bool or type(moderated) is not bool:
            raise EventError(f"not booleans: {secret!r}, {moderated!r}")
        if type(voiced) is not list:
            raise EventError(f"not a list: {voiced!r}")
        keys = tuple(_str(key) for key in voiced)
        return cls(_str(room_key), secret, moderated, keys, _str(by), _str(change))


@dataclass(frozen=True, slots=True)
class Hello(ClusterEvent):
    """The origin node (re)joined the cluster at membership ``version``: read its users."""

    NAME: ClassVar[str] = "hello"

    version: int

    def to_wire(self) -> list[Any]:
        """``["hello", VERSION]``."""
        return ["hello", self.version]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        (version,) = _fields(raw, 1)
        return cls(_int(version))


@dataclass(frozen=True, slots=True)
class Bye(ClusterEvent):
    """The origin node is stopping: every user of it has left."""

    NAME: ClassVar[str] = "bye"

    version: int

    def to_wire(self) -> list[Any]:
        """``["bye", VERSION]``."""
        return ["bye", self.version]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        (version,) = _fields(raw, 1)
        return cls(_int(version))


# -- accounts and moderation ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountChanged(ClusterEvent):
    """The nickname ``nick_key`` was registered, or its password changed."""

    NAME: ClassVar[str] = "account"

    nick_key: str
    password_hash: str

    def to_wire(self) -> list[Any]:
        """``["account", KEY, PASSWORD_HASH]``."""
        return ["account", self.nick_key, self.password_hash]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        nick_key, password_hash = _fields(raw, 2)
        return cls(_str(nick_key), _str(password_hash))


@dataclass(frozen=True, slots=True)
class Kick(ClusterEvent):
    """To the node holding the user ``nick_key``: an operator (``by``) kicked it."""

    NAME: ClassVar[str] = "kick"

    nick_key: str
    reason: str
    by: str

    def to_wire(self) -> list[Any]:
        """``["kick", KEY, REASON, BY]``."""
        return ["kick", self.nick_key, self.reason, self.by]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        nick_key, reason, by = _fields(raw, 3)
        return cls(_str(nick_key), _str(reason), _str(by))


@dataclass(frozen=True, slots=True)
class Mute(ClusterEvent):
    """The user ``nick_key`` may not send messages until ``until_ms`` (0 lifts the mute)."""

    NAME: ClassVar[str] = "mute"

    nick_key: str
    until_ms: int

    @classmethod
    def of(cls, nick_key: str, until: float) -> Mute:
        """The mute of ``nick_key`` until ``until`` (POSIX seconds, 0 for none), rounded up to
        the millisecond."""
        return cls(nick_key, math.ceil(until * 1000) if until > 0 else 0)

    @property
    def until(self) -> float:
        """Until when, in POSIX seconds (0: not muted)."""
        return self.until_ms / 1000

    def to_wire(self) -> list[Any]:
        """``["mute", KEY, UNTIL_MS]``."""
        return ["mute", self.nick_key, self.until_ms]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        nick_key, until_ms = _fields(raw, 2)
        return cls(_str(nick_key), _int(until_ms))


#: The kinds of ban (see :class:`twisted_chat.bans.Ban`).
_BAN_KINDS: Final = ("nick", "net")


@dataclass(frozen=True, slots=True)
class BanAdded(ClusterEvent):
    """An operator created a ban (already stored in the database): every node applies it.

    Times are whole POSIX seconds; ``expires`` 0 is a permanent ban.
    """

    NAME: ClassVar[str] = "ban"

    kind: str
    target: str
    reason: str
    by: str
    created: int
    expires: int

    @classmethod
    def of(cls, ban: Ban) -> BanAdded:
        """The event of ``ban``."""
        expires = 0 if ban.expires_at is None else math.ceil(ban.expires_at)
        return cls(ban.kind, ban.target, ban.reason, ban.created_by, int(ban.created_at), expires)

    def ban(self) -> Ban:
        """The ban itself."""
        kind: BanKind = "nick" if self.kind == "nick" else "net"  # checked by from_wire
        expires_at = float(self.expires) if self.expires else None
        return Ban(kind, self.target, self.reason, self.by, float(self.created), expires_at)

    def to_wire(self) -> list[Any]:
        """``["ban", KIND, TARGET, REASON, BY, CREATED, EXPIRES]``."""
        return ["ban", self.kind, self.target, self.reason, self.by, self.created, self.expires]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field; the kind must be known and a network's target valid."""
        kind, target, reason, by, created, expires = _fields(raw, 6)
        if kind not in _BAN_KINDS:
            raise EventError(f"unknown kind of ban: {kind!r}")
        if kind == "net":
            try:
                ipaddress.ip_network(_str(target))
            except ValueError:
                raise EventError(f"ban of a bad network: {target!r}") from None
        return cls(kind, _str(target), _str(reason), _str(by), _int(created), _int(expires))


@dataclass(frozen=True, slots=True)
class BanLifted(ClusterEvent):
    """The ban of ``target`` was lifted."""

    NAME: ClassVar[str] = "unban"

    kind: str
    target: str

    def to_wire(self) -> list[Any]:
        """``["unban", KIND, TARGET]``."""
        return ["unban", self.kind, self.target]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Self:
        """Checked field by field."""
        kind, target = _fields(raw, 2)
        if kind not in _BAN_KINDS:
            raise EventError(f"unknown kind of ban: {kind!r}")
        return cls(kind, _str(target))


#: Every cluster event, by name.
EVENTS: Final[Mapping[str, type[ClusterEvent]]] = {
    cls.NAME: cls
    for cls in (
        PublicMessage,
        PrivateMessage,
        Announcement,
        UserNotice,
        RecadoFor,
        Forgotten,
        UserJoined,
        UserLeft,
        RoomMoved,
        RoomsSet,
        UserInfoSet,
        RoomKick,
        UserRenamed,
        TopicSet,
        RoomModes,
        Hello,
        Bye,
        AccountChanged,
        Kick,
        Mute,
        BanAdded,
        BanLifted,
    )
}


def decode(raw: object) -> ClusterEvent:
    """The event of the JSON form ``raw``; raise :class:`EventError` if it is not one."""
    if type(raw) is not list or not raw or type(raw[0]) is not str:
        raise EventError(f"bad event {raw!r}")
    cls = EVENTS.get(raw[0])
    if cls is None:
        raise EventError(f"unknown event {raw[0]!r}")
    return cls.from_wire(raw)
