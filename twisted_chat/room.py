"""The rooms: who is in the chat and in each room, and delivery of their events to them.

Nothing here knows about sockets, wire formats or SQL, in the manner of
``twisted.words.service``: :class:`Room` is the registry of everyone logged in and of the
chat's rooms (:class:`ChatRoom`, protocol v1.1); each keeps its members grouped by their
transport's renderer (:class:`~twisted_chat.events.Renderer`) and delivers an event by rendering
it once per renderer and handing the same bytes to every member of that renderer (the hot path
of a chat server: nothing per recipient but the write). A member is reached through the small
:class:`Member` interface; anyone the chat can address, local or not, through the smaller
:class:`Recipient`.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from twisted.internet import defer
from twisted.logger import Logger

from twisted_chat import nicknames, roomnames
from twisted_chat.bans import Ban
from twisted_chat.events import (
    DEFAULT_ROOM,
    Event,
    Private,
    Public,
    Renamed,
    Renderer,
    Replayed,
    Text,
)
from twisted_chat.notices import NoticeGathering
from twisted_chat.roomnames import DEFAULT_MAX_ROOMS
from twisted_chat.userinfo import UserInfo


class Recipient(Protocol):
    """Someone the chat can send an event to: a member of this node, or a user elsewhere."""

    #: The nickname, or ``None`` while not logged in.
    nickname: str | None

    def deliver(self, event: Event) -> None:
        """Send ``event`` to this user (rendered for them, or carried to their node)."""


class Member(Recipient, Protocol):
    """A connection of this process in the room (implemented by
    :class:`~twisted_chat.session.Session`)."""

    @property
    def renderer(self) -> Renderer:
        """How this member's transport writes events."""

    @property
    def host(self) -> str:
        """The client's address (for bans)."""

    def send(self, data: bytes) -> None:
        """Write ``data``, already rendered by :attr:`renderer`."""

    def close(self) -> None:
        """Close the connection once what was delivered has been written."""

    def abort(self) -> None:
        """Drop the connection at once (its delivery failed)."""

    def disconnect(self, cause: str, text: Text | None = None) -> None:
        """End the connection for ``cause`` (counted in the server's stats), after one error
        saying ``text`` if given."""


class ChatSession(Member, Protocol):
    """What the chat core needs from one connection of this process (implemented by
    :class:`~twisted_chat.session.Session`): a member, and the control of its session."""

    #: Why the user leaves the chat, in its own words (an IRC ``QUIT``'s reason; ``None`` or
    #: empty: it said nothing), shown to those who shared a room with it.
    quit_reason: str | None

    @property
    def closing(self) -> bool:
        """Whether the connection is closing or closed (deliveries are dropped)."""

    def logged_in(self, nickname: str) -> None:
        """The chat accepted ``nickname`` for this session (sets :attr:`nickname`)."""

    def hold(self) -> None:
        """Stop processing this client's lines until :meth:`release` (an async check runs)."""

    def release(self) -> None:
        """Process held lines again."""

    def deliver_all(self, events: Sequence[Event]) -> None:
        """Send ``events`` (the lines of one reply) together."""

    def echo(self, event: Private) -> None:
        """Send the sender's copy of its private message ``event``."""


class HistoryHooks(Protocol):
    """What a clustered room tells the rooms' history (:class:`twisted_chat.history.History`)
    of what happened on other nodes; one process's room never calls it."""

    def heard(self, event: Public) -> None:
        """A public message said on another node (and stored there) reached this node."""

    def forgotten(self, nick_key: str) -> None:
        """Every stored message of ``nick_key`` was erased on another node."""

    def missed(self, room_key: str | None) -> None:
        """This node may have missed public messages of ``room_key`` (``None``: of every
        room) said on other nodes: read them from the storage again."""


class RecadoHooks(Protocol):
    """What a clustered room hands the recados (:class:`twisted_chat.recados.Recados`) from
    other nodes."""

    def arrived(self, recipient: str, recado: Replayed) -> None:
        """A recado stored on another node for ``recipient``, a user of this node: deliver
        it now (and answer its sender)."""


class Claim(enum.Enum):
    """The answer to :meth:`Room.claim`."""

    OK = "ok"  # the nickname is this login's until it leaves
    TAKEN = "taken"  # someone holds it (in a cluster: possibly on another node)
    UNAVAILABLE = "unavailable"  # no nickname can be claimed right now (cluster outage)


class ChatRoom:
    """One room of the chat: its members, its operator, its topic and its modes.

    ``users`` holds every member of the room (nick key -> nickname), in a cluster also those of
    other nodes; ``groups`` this process's members by renderer, for delivery. The modes
    (``secret``, ``moderated``, ``voiced``) are set by the room's operator (IRC's ``MODE``,
    docs/IRC.md "Channel modes") and last as long as the room.
    """

    __slots__ = (
        "groups",
        "key",
        "moderated",
        "name",
        "operator",
        "permanent",
        "secret",
        "topic",
        "topic_by",
        "users",
        "voiced",
    )

    def __init__(self, name: str, permanent: bool = False) -> None:
        #: The room's name as its creator spelled it (or as configured).
        self.name = name
        #: Its identity (:func:`twisted_chat.roomnames.key`): the ``room`` of its events.
        self.key = roomnames.key(name)
        #: Whether it exists while empty (``--room`` and the default room; topics stored).
        self.permanent = permanent
        #: Every member: nick key -> nickname.
        self.users: dict[str, str] = {}
        #: This process's members by renderer, each an insertion-ordered set.
        self.groups: dict[Renderer, dict[Member, None]] = {}
        #: The nick key of the room's operator (its creator, while connected), if any.
        self.operator: str | None = None
        #: The topic and who set it, if any.
        self.topic: str | None = None
        self.topic_by: str | None = None
        #: Secret (IRC ``+s``): shown to its members only (``/salas``, ``LIST``, ``WHO``,
        #: ``WHOIS``, ``NAMES``).
        self.secret = False
        #: Moderated (IRC ``+m``): only its operator, server operators and voiced members speak.
        self.moderated = False
        #: The nick keys of its voiced members (IRC ``+v``), members all.
        self.voiced: set[str] = set()

    def __len__(self) -> int:
        return len(self.users)

    def modes(self) -> str:
        """Its flag modes as IRC writes them (``+`` and the letters): ``n`` and ``t`` always
        (members only speak, the operator sets the topic), ``m`` and ``s`` when set."""
        return "+" + ("m" if self.moderated else "") + "nt" + ("s" if self.secret else "")

    def may_speak(self, nick_key: str) -> bool:
        """Whether the member ``nick_key`` may speak here as far as ``+m`` goes (server
        operators are the caller's to let through)."""
        return not self.moderated or nick_key == self.operator or nick_key in self.voiced

    def nicknames(self) -> list[str]:
        """The members' nicknames sorted by casefold, the operator's marked ``@``."""
        users = self.users
        operator = self.operator
        return [("@" if k == operator else "") + users[k] for k in sorted(users)]


class Entered(enum.Enum):
    """What :meth:`Room.enter` did."""

    MOVED = "moved"  # left the old room, joined the other one
    CREATED = "created"  # ... which it created (and is the operator of)
    ALREADY = "already"  # it is the member's room already: nothing changed
    FULL = "full"  # the room does not exist and no more may be created


@dataclass(frozen=True)
class Move:
    """The answer to :meth:`Room.enter`: what happened, and the rooms concerned."""

    entered: Entered
    #: The room the member is in now (``None`` when it could not be created).
    room: ChatRoom | None
    #: The room it left, when it moved.
    left: ChatRoom | None = None


class Room:
    """The registry of logged-in users, keyed by :func:`twisted_chat.nicknames.key`, and of the
    chat's rooms (:class:`ChatRoom`), keyed by :func:`twisted_chat.roomnames.key`.

    A user logs in to the default room; a line-protocol user is in one room at a time
    (:meth:`enter` moves it), but the registry keeps each user's rooms as a set (an IRC user may
    be in several). Rooms other than the permanent ones (the default room and ``permanent``)
    exist while they have members, at most ``max_rooms`` at once.

    One recipient failing never stops a delivery to the others: a member whose ``send``
    raises is logged and aborted, and leaves the room through the normal disconnect path.

    This room holds one process's users. A clustered room
    (:class:`twisted_chat.cluster.room.ClusterRoom`) keeps the same interface for a chat spread
    over several processes; the chat core cannot tell them apart.
    """

    log = Logger()

    def __init__(
        self,
        name: str = DEFAULT_ROOM,
        gathering: NoticeGathering | None = None,
        permanent: Iterable[str] = (),
        max_rooms: int = DEFAULT_MAX_ROOMS,
    ) -> None:
        #: The rooms that exist, by key.
        self.rooms: dict[str, ChatRoom] = {}
        #: The default room (where a login puts a user: ``name``).
        self.default = self._permanent_room(name)
        for other in permanent:
            self._permanent_room(other)
        #: How many rooms may exist at once (permanent ones included).
        self.max_rooms = max_rooms
        #: Times a user entered a room (logins included: ``chat_room_joins_total``).
        self.room_joins = 0
        #: The most users logged in at once since the start (IRC's ``LUSERS``).
        self.most_users = 0
        self._users: dict[str, Member] = {}
        # The members by renderer, each an insertion-ordered set: a broadcast to everyone
        # renders once per renderer (a handful: one per transport) and writes the same bytes
        # to each member. Each room keeps its own members the same way.
        self._groups: dict[Renderer, dict[Member, None]] = {}
        # The rooms of each member, in the order it entered them (a set: an IRC user may be in
        # several); the last is where a line user speaks. A tuple: one small object per member.
        self._rooms_of: dict[Member, tuple[ChatRoom, ...]] = {}
        #: Join/leave notices waiting to be written together, if they are gathered.
        self.gathering = gathering
        if gathering is not None:
            gathering.flush = self.flush_notices
        #: Whether join/leave notices are waiting to be written (checked for every line).
        self.has_notices = False
        #: Muted nicknames (nick key -> until, POSIX seconds), kept while they last; empty, so
        #: false, while nobody is (checked before every message, as a plain attribute).
        self.mutes: dict[str, float] = {}
        #: Events handed to this room's members by :meth:`broadcast`, :meth:`deliver` and the
        #: gathered notices (``chat_deliveries_total``), counted once per broadcast.
        self.deliveries = 0
        #: The rooms' history, told what happens on other nodes (by a clustered room; set by
        #: :func:`twisted_chat.assembly.assemble` when history is kept).
        self.history_hooks: HistoryHooks | None = None
        #: The recados, handed those for this node's users from other nodes (likewise).
        self.recado_hooks: RecadoHooks | None = None
        #: What sends a member of this node out of a room when an operator on another node
        #: asks (a clustered room's :meth:`kick_from`): the IRC commands' ``KICK``, set by
        #: them (member, room, reason, by).
        self.room_kick: Callable[[Member, ChatRoom, str, str], None] | None = None
        #: What tells this node's members of ``chatroom`` that ``by`` changed its modes on
        #: another node (``change`` as IRC writes it): the IRC commands', set by them (a
        #: ``MODE`` line to IRC users, the chat's notice to the others); without IRC here,
        #: a clustered room tells the notice.
        self.modes_told: Callable[[ChatRoom, str, str], None] | None = None

    def __len__(self) -> int:
        return len(self._users)

    def __contains__(self, nickname: str) -> bool:
        return nicknames.key(nickname) in self._users

    def node_count(self) -> int:
        """How many nodes the chat runs on (one here; a clustered room counts those it
        knows)."""
        return 1

    def find(self, nickname: str) -> Recipient | None:
        """The user logged in as ``nickname`` (any case), if any."""
        return self._users.get(nicknames.key(nickname))

    def member(self, nickname: str) -> Member | None:
        """The member of this process logged in as ``nickname`` (any case), if any."""
        return self._users.get(nicknames.key(nickname))

    def members(self) -> list[Member]:
        """A snapshot of this process's members."""
        return list(self._users.values())

    def nicknames(self) -> list[str]:
        """Logged-in nicknames, sorted by their casefolded form."""
        return [self._users[k].nickname or "" for k in sorted(self._users)]

    def claim(self, nickname: str) -> defer.Deferred[Claim]:
        """Reserve ``nickname`` for a login about to be accepted (already fired here: one
        process's room has nothing to ask anyone; a clustered room asks the cluster)."""
        return defer.succeed(Claim.TAKEN if nickname in self else Claim.OK)

    def unclaim(self, nickname: str) -> None:
        """Give back a claim whose login did not happen after all (the client left)."""

    #: What other users may know of a member beyond its nickname and rooms (its real name,
    #: away message, account, modes), read off its session; set by the assembly.
    describe: Callable[[Member], UserInfo] | None = None

    def info_changed(self, member: Member) -> None:
        """``member``'s info (:attr:`describe`) may have changed (``AWAY``, ``MODE +i``):
        nothing to do here, where it is read off the session; a clustered room tells the
        other nodes."""

    def remote_info(self, nickname: str) -> UserInfo | None:
        """What is known of ``nickname``, a user of another node of a cluster, beyond its
        nickname and rooms: nobody here (one process has no other nodes)."""
        return None

    def add(self, member: Member, nickname: str) -> bool:
        """Register ``member`` as ``nickname``; ``False`` if the nickname is taken."""
        nick_key = nicknames.key(nickname)
        if nick_key in self._users:
            return False
        self._users[nick_key] = member
        if len(self._users) > self.most_users:
            self.most_users = len(self._users)
        group = self._groups.get(member.renderer)
        if group is None:
            group = self._groups[member.renderer] = {}
        group[member] = None
        self._rooms_of[member] = ()
        self._join(member, nick_key, nickname, self.default)
        return True

    def remove(self, member: Member) -> bool:
        """Unregister ``member``; ``False`` if it was not registered (or was replaced)."""
        nickname = member.nickname
        if nickname is None:
            return False
        nick_key = nicknames.key(nickname)
        if self._users.get(nick_key) is not member:
            return False
        self._drop(nick_key)
        return True

    def _drop(self, nick_key: str) -> Member | None:
        """Take the member of ``nick_key`` out of the chat and its rooms, whatever its nickname
        says now."""
        member = self._users.pop(nick_key, None)
        if member is not None:
            group = self._groups.get(member.renderer)
            if group is not None:
                group.pop(member, None)
            for chatroom in self._rooms_of.pop(member, ()):
                self._part(member, nick_key, chatroom)
            self.user_gone(nick_key)
        return member

    def regroup(self, member: Member, old: Renderer) -> None:
        """``member`` renders with :attr:`Member.renderer` from now on instead of ``old`` (an
        IRC client's ``CAP REQ`` after registration): pending notices go out first, as
        negotiated before, then it moves to that renderer's group in the chat and in each of
        its rooms."""
        if self.has_notices:
            self.flush_notices()
        new = member.renderer
        every = [self._groups, *(chatroom.groups for chatroom in self._rooms_of.get(member, ()))]
        for groups in every:
            group = groups.get(old)
            if group is None or member not in group:
                continue
            del group[member]
            if not group:
                del groups[old]
            target = groups.get(new)
            if target is None:
                target = groups[new] = {}
            target[member] = None

    def user_gone(self, nick_key: str) -> None:
        """The user ``nick_key`` left the chat: it is no longer the operator of any room."""
        for chatroom in self.rooms.values():
            if chatroom.operator == nick_key:
                chatroom.operator = None

    # -- nickname changes -------------------------------------------------------------------

    def claim_rename(self, member: Member, nickname: str) -> defer.Deferred[Claim]:
        """Reserve ``nickname`` for ``member``'s change to it (already fired here: taken if
        someone else holds it; a clustered room claims it and gives back the old one in one
        atomic step). The caller then calls :meth:`rename`, or :meth:`unclaim` if the
        member left meanwhile."""
        holder = self._users.get(nicknames.key(nickname))
        return defer.succeed(Claim.TAKEN if holder not in (None, member) else Claim.OK)

    def rename(self, member: Member, event: Renamed) -> bool:
        """``member`` (logged in as ``event.old``) is called ``event.new`` from now on: the
        registry, its rooms' members, the operators and the mutes follow, and the member and
        everyone of this process sharing a room with it are told ``event``, once each,
        rendered once per renderer. ``False`` (nothing done) if ``member`` is not logged in
        as ``event.old`` or someone else holds ``event.new``."""
        old_key = nicknames.key(event.old)
        new_key = nicknames.key(event.new)
        if self._users.get(old_key) is not member or self._users.get(new_key) not in (
            None,
            member,
        ):
            return False
        if self.has_notices:
            self.flush_notices()  # what happened before, under the old name, comes first
        del self._users[old_key]
        self._users[new_key] = member
        member.nickname = event.new
        self.renamed_in_rooms(old_key, new_key, event.new)
        recipients: dict[Member, None] = {member: None}
        for chatroom in self._rooms_of.get(member, ()):
            for group in chatroom.groups.values():
                recipients.update(group)
        self.tell_rename(event, recipients)
        return True

    def renamed_in_rooms(self, old_key: str, new_key: str, nickname: str) -> None:
        """The user ``old_key`` (of this process or another) is ``nickname`` (``new_key``)
        now: in every room's members and operators, and in the mutes (a mute follows the
        user to its new nickname and stays on the old one too: no way around it)."""
        for chatroom in self.rooms.values():
            users = chatroom.users
            if old_key in users:
                del users[old_key]
                users[new_key] = nickname
            if chatroom.operator == old_key:
                chatroom.operator = new_key
            if old_key in chatroom.voiced:
                chatroom.voiced.discard(old_key)
                chatroom.voiced.add(new_key)
        until = self.mutes.get(old_key)
        if until is not None and until > self.mutes.get(new_key, 0):
            self.mutes[new_key] = until

    def tell_rename(self, event: Renamed, recipients: Iterable[Member]) -> int:
        """Write ``event`` to ``recipients`` (each once), rendered once per renderer; how
        many took it."""
        by_renderer: dict[Renderer, dict[Member, None]] = {}
        for recipient in recipients:
            group = by_renderer.get(recipient.renderer)
            if group is None:
                group = by_renderer[recipient.renderer] = {}
            group[recipient] = None
        count = 0
        for renderer, group in by_renderer.items():
            count += self._write(group, renderer.render(event))
        self.deliveries += count
        return count

    # -- rooms ------------------------------------------------------------------------------

    def _permanent_room(self, name: str) -> ChatRoom:
        chatroom = self.rooms.get(roomnames.key(name))
        if chatroom is None:
            chatroom = self.rooms[roomnames.key(name)] = ChatRoom(name, permanent=True)
        chatroom.permanent = True
        return chatroom

    def room_of(self, member: Member) -> ChatRoom:
        """The room where ``member`` speaks (a line user's one room; the default room for
        someone not logged in)."""
        rooms = self._rooms_of.get(member)
        return rooms[-1] if rooms else self.default

    def rooms_of(self, member: Member) -> list[ChatRoom]:
        """Every room ``member`` is in."""
        return list(self._rooms_of.get(member, ()))

    def find_room(self, name: str) -> ChatRoom | None:
        """The room called ``name`` (any case), if it exists."""
        return self.rooms.get(roomnames.key(name))

    def room_list(self) -> list[ChatRoom]:
        """Every room, sorted by key."""
        return [self.rooms[k] for k in sorted(self.rooms)]

    def may_create(self) -> bool:
        """Whether one more room may be created now (``max_rooms``)."""
        return len(self.rooms) < self.max_rooms

    def enter(self, member: Member, name: str) -> defer.Deferred[Move]:
        """Move ``member`` (a line user: one room at a time) out of its room and into the room
        ``name`` (valid, normalised), creating it (with ``member`` as its operator) if it does
        not exist and ``max_rooms`` allows. Fires at once here; a clustered room asks the
        cluster who creates the room first.

        Join and leave notices are the caller's (it knows what to say)."""
        return defer.succeed(self.enter_now(member, name))

    def enter_now(self, member: Member, name: str, creator: bool = True) -> Move:
        """:meth:`enter`, decided here (``creator``: a new room's operator is ``member``)."""
        nick_key = nicknames.key(member.nickname or "")
        if self._users.get(nick_key) is not member:
            return Move(Entered.ALREADY, self.room_of(member))
        current = self.room_of(member)
        key = roomnames.key(name)
        if key == current.key:
            return Move(Entered.ALREADY, current)
        if self.has_notices:
            self.flush_notices()  # the notices of the old room reach it while it is there
        chatroom = self.rooms.get(key)
        entered = Entered.MOVED
        if chatroom is None:
            if not self.may_create():
                return Move(Entered.FULL, None)
            chatroom = self.rooms[key] = ChatRoom(name)
            if creator:
                chatroom.operator = nick_key
            entered = Entered.CREATED
        self._rooms_of[member] = tuple(r for r in self._rooms_of[member] if r is not current)
        self._part(member, nick_key, current)
        self._join(member, nick_key, member.nickname or "", chatroom)
        return Move(entered, chatroom, current)

    # -- several rooms at once (IRC users: twisted_chat.irc) ----------------------------------

    def join_now(self, member: Member, name: str) -> Move:
        """Put ``member`` in the room ``name`` (valid, normalised) as well as those it is in
        (an IRC ``JOIN``), creating it (with ``member`` as its operator) if it does not exist
        and ``max_rooms`` allows. ``ALREADY`` if it is in it; notices are the caller's."""
        nick_key = nicknames.key(member.nickname or "")
        key = roomnames.key(name)
        chatroom = self.rooms.get(key)
        if self._users.get(nick_key) is not member or (
            chatroom is not None and chatroom in self._rooms_of.get(member, ())
        ):
            return Move(Entered.ALREADY, chatroom)
        if self.has_notices:
            self.flush_notices()
        entered = Entered.MOVED
        if chatroom is None:
            if not self.may_create():
                return Move(Entered.FULL, None)
            chatroom = self.rooms[key] = ChatRoom(name)
            chatroom.operator = nick_key
            entered = Entered.CREATED
        self._join(member, nick_key, member.nickname or "", chatroom)
        return Move(entered, chatroom)

    def join(self, member: Member, name: str) -> defer.Deferred[Move]:
        """:meth:`join_now`, fired at once here; a clustered room asks the cluster who creates
        a new room first (as :meth:`enter` does), and tells the other nodes."""
        return defer.succeed(self.join_now(member, name))

    def part_now(
        self,
        member: Member,
        chatroom: ChatRoom,
        quiet: bool = False,
        by: str | None = None,
        reason: str | None = None,
    ) -> bool:
        """Take ``member`` out of ``chatroom`` alone (an IRC ``PART``; it stays in the chat and
        its other rooms); ``False`` if it was not in it. Notices are the caller's; a clustered
        room tells the other nodes, with ``by`` and ``reason`` (a ``KICK``'s, a ``PART``'s),
        or so that they tell nobody (``quiet``: an IRC user taken out of the default room at
        its login: the notices pending for the room are not written to it first, since it was
        never there for anyone)."""
        rooms = self._rooms_of.get(member, ())
        if chatroom not in rooms:
            return False
        if self.has_notices and not quiet:
            self.flush_notices()
        self._rooms_of[member] = tuple(r for r in rooms if r is not chatroom)
        self._part(member, nicknames.key(member.nickname or ""), chatroom)
        return True

    def send_back(self, member: Member, by: str, reason: str | None) -> Move:
        """Send ``member``, a line user, out of its room and back to the default room (an IRC
        ``KICK`` by ``by``); notices are the caller's. A clustered room tells the other nodes
        who sent it out and why."""
        return self.enter_now(member, self.default.name, creator=False)

    def _join(self, member: Member, nick_key: str, nickname: str, chatroom: ChatRoom) -> None:
        chatroom.users[nick_key] = nickname
        group = chatroom.groups.get(member.renderer)
        if group is None:
            group = chatroom.groups[member.renderer] = {}
        group[member] = None
        rooms = self._rooms_of.get(member, ())
        if chatroom not in rooms:
            self._rooms_of[member] = (*rooms, chatroom)
        self.room_joins += 1

    def _part(self, member: Member, nick_key: str, chatroom: ChatRoom) -> None:
        if chatroom.users.get(nick_key) is not None:
            del chatroom.users[nick_key]
        chatroom.voiced.discard(nick_key)
        group = chatroom.groups.get(member.renderer)
        if group is not None:
            group.pop(member, None)
        self.vacate(chatroom)

    def vacate(self, chatroom: ChatRoom) -> None:
        """Forget ``chatroom``, topic and all, if it is empty and not permanent."""
        if (
            not chatroom.users
            and not chatroom.permanent
            and self.rooms.get(chatroom.key) is chatroom
        ):
            del self.rooms[chatroom.key]

    def set_topic(self, chatroom: ChatRoom, topic: str, by: str) -> None:
        """Set the topic of ``chatroom`` (a clustered room also tells every node)."""
        chatroom.topic, chatroom.topic_by = topic, by

    def set_modes(
        self,
        chatroom: ChatRoom,
        secret: bool,
        moderated: bool,
        voiced: Iterable[str],
        by: str = "",
        change: str = "",
    ) -> None:
        """Set the modes of ``chatroom``: secret, moderated, and the nick keys voiced (members
        only); ``by`` changed them (``change``, as IRC writes it). A clustered room also tells
        every node, whose members are told by :attr:`modes_told`."""
        chatroom.secret, chatroom.moderated = secret, moderated
        chatroom.voiced = {k for k in voiced if k in chatroom.users}

    def visible_to(self, chatroom: ChatRoom, member: Member) -> bool:
        """Whether ``member`` may see that ``chatroom`` exists and who is in it: not a secret
        room's outsiders."""
        return not chatroom.secret or chatroom in self.rooms_of(member)

    def stored_topic(self, chatroom: ChatRoom, topic: str, by: str) -> None:
        """The topic of the permanent ``chatroom`` as the database kept it (read at start-up;
        a clustered room prefers the one Redis holds): taken as it is, told to nobody."""
        chatroom.topic, chatroom.topic_by = topic, by

    # -- delivery ---------------------------------------------------------------------------

    def broadcast(self, event: Event, exclude: Member | None = None) -> int:
        """Deliver ``event`` to every member except ``exclude``: rendered once per renderer.

        Returns the number of members it was handed to.
        """
        return self._broadcast(self._groups, event, exclude)

    def say(self, event: Public, sender: Member) -> None:
        """``sender`` said ``event`` to its room (``event.room``): every other member gets it
        (a clustered room also publishes it to the other nodes)."""
        self.broadcast_room(event, exclude=sender)

    def broadcast_room(self, event: Event, exclude: Member | None = None) -> int:
        """Deliver ``event`` to every member of its room (``event.room``) except ``exclude``:
        rendered once per renderer. Returns the number of members it was handed to."""
        chatroom = self.rooms.get(event.room)  # type: ignore[arg-type]
        if chatroom is None:
            if self.has_notices:
                self.flush_notices()
            return 0
        return self._broadcast(chatroom.groups, event, exclude)

    def broadcast_room_to(
        self, event: Event, reads: Callable[[Renderer], bool], exclude: Member | None = None
    ) -> int:
        """Deliver ``event`` to the members of its room whose renderer ``reads`` it (an IRC
        ``TAGMSG``, for IRC readers with ``message-tags`` alone), but ``exclude``, on this node
        only: rendered once per renderer. Returns the number of members it was handed to."""
        chatroom = self.rooms.get(event.room)  # type: ignore[arg-type]
        if chatroom is None:
            return 0
        groups = {r: g for r, g in chatroom.groups.items() if reads(r)}
        return self._broadcast(groups, event, exclude)

    def _broadcast(
        self, groups: dict[Renderer, dict[Member, None]], event: Event, exclude: Member | None
    ) -> int:
        """Deliver ``event`` to the members of ``groups`` (by renderer) but ``exclude``, after
        any pending notices: rendered once per renderer."""
        if self.has_notices:
            self.flush_notices()
        count = 0
        for renderer, group in list(groups.items()):
            if group and (data := renderer.render(event)):  # b"": not for these readers
                count += self._write(group, data, exclude)
        self.deliveries += count
        return count

    def broadcast_many(self, events: list[Event]) -> int:
        """Deliver ``events`` to every member, in order, in one write per member."""
        if self.has_notices:
            self.flush_notices()
        count = 0
        for renderer, group in list(self._groups.items()):
            if group:
                render = renderer.render
                count += self._write(group, b"".join([render(event) for event in events]))
        self.deliveries += count * len(events)
        return count

    def _write(self, group: dict[Member, None], data: bytes, exclude: Member | None = None) -> int:
        """Hand ``data`` to every member of ``group`` but ``exclude``; how many took it.

        The hot path of a chat server: one loop, nothing per recipient but the write."""
        count = 0
        for member in list(group):
            if member is not exclude:
                try:
                    member.send(data)
                except Exception:
                    self._delivery_failed(member)
                else:
                    count += 1
        return count

    def deliver(self, recipient: Recipient, event: Event) -> bool:
        """Deliver ``event`` to one user (after any pending notices); ``False`` if it failed."""
        if self.has_notices:
            self.flush_notices()
        try:
            recipient.deliver(event)
        except Exception:
            self._delivery_failed(recipient)
            return False
        self.deliveries += 1
        return True

    def _delivery_failed(self, recipient: Recipient) -> None:
        self.log.failure(
            "Delivery to {nick} failed; dropping the connection", nick=recipient.nickname
        )
        abort = getattr(recipient, "abort", None)
        if abort is not None:
            abort()

    # -- join and leave notices -------------------------------------------------------------

    def announce(self, event: Event, joined: Member | None = None) -> None:
        """Tell every member of ``event.room`` but ``joined`` the join or leave ``event``.

        With a :class:`~twisted_chat.notices.NoticeGathering`, the notices of a login storm
        are gathered and written together soon after (one write per recipient for all of them,
        instead of one per join: N logins at once cost N writes, not N squared). Each recipient
        still gets one notice per join and leave, in order, and only those that happened while
        it was in the room. Pending notices are always written before any other message.
        """
        gathering = self.gathering
        if gathering is None:
            self.broadcast_room(event, exclude=joined)
            return
        gathering.add(event, joined)
        self.has_notices = True

    def announce_departure(self, events: Sequence[Event]) -> None:
        """Tell the members of the rooms a user left the chat from that it left: ``events`` are
        its leave events, one per room it was in, and each member gets the first one of a room
        it is in, and no other (an IRC user sharing three rooms with the quitter reads one
        ``QUIT``, not three). A departure from one room is an ordinary :meth:`announce`
        (gathered in a storm); from several, each event is rendered once per renderer and
        written at once, after any pending notices."""
        if len(events) <= 1:
            for event in events:
                self.announce(event)
            return
        if self.has_notices:
            self.flush_notices()
        told: set[Member] = set()
        count = 0
        for event in events:
            chatroom = self.rooms.get(event.room)  # type: ignore[arg-type]
            if chatroom is None:
                continue
            for renderer, group in list(chatroom.groups.items()):
                fresh = {member: None for member in group if member not in told}
                if fresh:
                    told.update(fresh)
                    count += self._write(fresh, renderer.render(event))
        self.deliveries += count

    @property
    def pending_notices(self) -> int:
        """How many join/leave notices are waiting to be written."""
        return len(self.gathering) if self.gathering is not None else 0

    def flush_notices(self) -> None:
        """Write the gathered join/leave notices now."""
        self.has_notices = False
        if self.gathering is None:
            return
        events, joined = self.gathering.take()
        if not events:
            return
        # Each room's notices go to its members: the indices of each room's events, in order.
        by_room: dict[str | None, list[int]] = {}
        for index, event in enumerate(events):
            indices = by_room.get(event.room)
            if indices is None:
                by_room[event.room] = [index]
            else:
                indices.append(index)
        delivered = 0
        for room_key, indices in by_room.items():
            chatroom = self.rooms.get(room_key)  # type: ignore[arg-type]
            if chatroom is not None:
                delivered += self._flush_room(
                    chatroom, [events[i] for i in indices], indices, joined
                )
        self.deliveries += delivered

    def _flush_room(
        self,
        chatroom: ChatRoom,
        events: list[Event],
        indices: list[int],
        joined: dict[object, int],
    ) -> int:
        """Write ``events`` (of ``chatroom``; ``indices``: their places in the whole flush) to
        the room's members, each newcomer only those after its own join."""
        delivered = 0
        for renderer, group in list(chatroom.groups.items()):
            if not group:
                continue
            rendered = _Tails([renderer.render(event) for event in events])
            for member in list(group):
                start = joined.get(member)
                data = rendered.after(None if start is None else bisect_right(indices, start) - 1)
                if not data:
                    continue
                try:
                    member.send(data)
                except Exception:
                    self._delivery_failed(member)
                else:
                    delivered += 1
        return delivered

    # -- moderation (operators' commands) ---------------------------------------------------

    def kick(self, nickname: str, reason: str, by: str) -> bool:
        """Disconnect the user ``nickname`` (cause ``kicked``) with an error naming ``by`` and
        ``reason``; ``False`` if nobody of that nickname is connected.

        A clustered room reaches the node that holds the user."""
        return self.kick_local(nicknames.key(nickname), reason, by)

    def kick_from(self, nickname: str, chatroom: ChatRoom, reason: str, by: str) -> bool:
        """Send ``nickname``, a user of another node, out of ``chatroom`` (an IRC ``KICK``):
        ``False`` here, where every user is local; a clustered room asks the user's node, which
        hands it to :attr:`room_kick`."""
        return False

    def kick_local(self, nick_key: str, reason: str, by: str) -> bool:
        """Kick the member of this process whose nickname is ``nick_key`` (a clustered room's
        kick from another node); ``False`` if there is none."""
        member = self._users.get(nick_key)
        if member is None:
            return False
        member.disconnect("kicked", Text("kicked", by=by, reason=reason or Text("no_reason")))
        return True

    def mute(self, nickname: str, until: float) -> None:
        """Refuse the messages of ``nickname`` until ``until`` (POSIX seconds; 0 lifts a mute).

        A clustered room tells every node."""
        self.mute_local(nicknames.key(nickname), until)

    def mute_local(self, nick_key: str, until: float) -> None:
        """Mute the nickname ``nick_key`` in this process (a clustered room's mute from another
        node)."""
        if until > 0:
            self.mutes[nick_key] = until
        else:
            self.mutes.pop(nick_key, None)

    def muted_until(self, nickname: str, now: float) -> float | None:
        """Until when ``nickname`` is muted, or ``None`` if it is not (an expired mute is
        dropped here)."""
        if not self.mutes:
            return None
        nick_key = nicknames.key(nickname)
        until = self.mutes.get(nick_key)
        if until is None:
            return None
        if until <= now:
            del self.mutes[nick_key]
            return None
        return until

    def prune_mutes(self, now: float) -> None:
        """Forget the mutes that are over (bounded memory)."""
        for nick_key, until in list(self.mutes.items()):
            if until <= now:
                del self.mutes[nick_key]

    def ban_added(self, ban: Ban) -> list[str]:
        """A ban was created: disconnect the users of this room that it covers (cause
        ``banned``); returns their nicknames. A clustered room tells every node."""
        return self.enforce_ban(ban)

    def enforce_ban(self, ban: Ban) -> list[str]:
        """Disconnect the members of this process that ``ban`` covers; their nicknames (a
        clustered room's ban from another node)."""
        text = Text(
            "banned_now",
            by=ban.created_by,
            until=until_text(ban.expires_at),
            reason=ban.reason or Text("no_reason"),
        )
        gone: list[str] = []
        for nick_key, member in list(self._users.items()):
            if (ban.kind == "nick" and ban.target == nick_key) or (
                ban.kind == "net" and ban.covers_host(member.host)
            ):
                gone.append(member.nickname or "")
                member.disconnect("banned", text)
        return gone

    def ban_removed(self, ban: Ban) -> None:
        """A ban was lifted (nothing to do here; a clustered room tells every node)."""

    def erased(self, nick_key: str) -> None:
        """Every stored message of ``nick_key`` was erased here (``/olvidar``): a clustered room
        tells the other nodes, whose buffers drop them too."""

    def notice_all(self, event: Event) -> None:
        """``event`` (a notice) to every user of the chat (in a cluster, of every node)."""
        self.broadcast(event)


class _Tails:
    """The rendered notices of one flush, whole or from some index on, each joined once."""

    __slots__ = ("_parts", "_tails")

    def __init__(self, parts: list[bytes]) -> None:
        self._parts = parts
        self._tails: dict[int | None, bytes] = {}

    def after(self, index: int | None) -> bytes:
        """The notices after ``index`` (all of them for ``None``: a member from before)."""
        data = self._tails.get(index)
        if data is None:
            start = 0 if index is None else index + 1
            data = self._tails[index] = b"".join(self._parts[start:])
        return data


def format_time(seconds: float) -> str:
    """``seconds`` (POSIX) as the server's local ISO 8601 time, to the second, with offset."""
    return datetime.fromtimestamp(seconds, tz=UTC).astimezone().isoformat(timespec="seconds")


def until_text(expires_at: float | None) -> Text:
    """How long a ban lasts, for people: ``permanente`` or ``hasta TIME``."""
    if expires_at is None:
        return Text("permanent")
    return Text("until", when=format_time(expires_at))
