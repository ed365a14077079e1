"""The room: who is in it, and delivery of its events to them.

Nothing here knows about sockets, wire formats or SQL, in the manner of
``twisted.words.service``: the room keeps its members grouped by their transport's renderer
(:class:`~twisted_chat.events.Renderer`) and delivers an event by rendering it once per renderer
and handing the same bytes to every member of that renderer (the hot path of a chat server:
nothing per recipient but the write). A member is reached through the small :class:`Member`
interface; anyone the chat can address, local or not, through the smaller :class:`Recipient`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from twisted.internet import defer
from twisted.logger import Logger

from twisted_chat import nicknames
from twisted_chat.bans import Ban
from twisted_chat.events import DEFAULT_ROOM, Event, Private, Public, Renderer, Text
from twisted_chat.notices import NoticeGathering


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


class Claim(enum.Enum):
    """The answer to :meth:`Room.claim`."""

    OK = "ok"  # the nickname is this login's until it leaves
    TAKEN = "taken"  # someone holds it (in a cluster: possibly on another node)
    UNAVAILABLE = "unavailable"  # no nickname can be claimed right now (cluster outage)


class Room:
    """The registry of logged-in users, keyed by :func:`twisted_chat.nicknames.key`.

    One recipient failing never stops a delivery to the others: a member whose ``send``
    raises is logged and aborted, and leaves the room through the normal disconnect path.

    This room holds one process's users. A clustered room
    (:class:`twisted_chat.cluster.room.ClusterRoom`) keeps the same interface for a chat spread
    over several processes; the chat core cannot tell them apart.
    """

    log = Logger()

    def __init__(self, name: str = DEFAULT_ROOM, gathering: NoticeGathering | None = None) -> None:
        #: The room's name (the room of every event it delivers).
        self.name = name
        self._users: dict[str, Member] = {}
        # The members by renderer, each an insertion-ordered set: a broadcast renders once
        # per renderer (a handful: one per transport) and writes the same bytes to each member.
        self._groups: dict[Renderer, dict[Member, None]] = {}
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

    def __len__(self) -> int:
        return len(self._users)

    def __contains__(self, nickname: str) -> bool:
        return nicknames.key(nickname) in self._users

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

    def add(self, member: Member, nickname: str) -> bool:
        """Register ``member`` as ``nickname``; ``False`` if the nickname is taken."""
        nick_key = nicknames.key(nickname)
        if nick_key in self._users:
            return False
        self._users[nick_key] = member
        group = self._groups.get(member.renderer)
        if group is None:
            group = self._groups[member.renderer] = {}
        group[member] = None
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
        """Take the member of ``nick_key`` out of the room, whatever its nickname says now."""
        member = self._users.pop(nick_key, None)
        if member is not None:
            group = self._groups.get(member.renderer)
            if group is not None:
                group.pop(member, None)
        return member

    # -- delivery ---------------------------------------------------------------------------

    def broadcast(self, event: Event, exclude: Member | None = None) -> int:
        """Deliver ``event`` to every member except ``exclude``: rendered once per renderer.

        Returns the number of members it was handed to.
        """
        if self.has_notices:
            self.flush_notices()
        count = 0
        for renderer, group in list(self._groups.items()):
            if group:
                count += self._write(group, renderer.render(event), exclude)
        self.deliveries += count
        return count

    def say(self, event: Public, sender: Member) -> None:
        """``sender`` said ``event`` to the room: every other member gets it (a clustered room
        also publishes it to the other nodes)."""
        self.broadcast(event, exclude=sender)

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
        """Tell every member but ``joined`` the join or leave ``event``.

        With a :class:`~twisted_chat.notices.NoticeGathering`, the notices of a login storm
        are gathered and written together soon after (one write per recipient for all of them,
        instead of one per join: N logins at once cost N writes, not N squared). Each recipient
        still gets one notice per join and leave, in order, and only those that happened while
        it was in the room. Pending notices are always written before any other message.
        """
        gathering = self.gathering
        if gathering is None:
            self.broadcast(event, exclude=joined)
            return
        gathering.add(event, joined)
        self.has_notices = True

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
        delivered = 0
        for renderer, group in list(self._groups.items()):
            if not group:
                continue
            rendered = _Tails([renderer.render(event) for event in events])
            for member in list(group):
                data = rendered.after(joined.get(member))
                if not data:
                    continue
                try:
                    member.send(data)
                except Exception:
                    self._delivery_failed(member)
                else:
                    delivered += 1
        self.deliveries += delivered

    # -- moderation (operators' commands) ---------------------------------------------------

    def kick(self, nickname: str, reason: str, by: str) -> bool:
        """Disconnect the user ``nickname`` (cause ``kicked``) with an error naming ``by`` and
        ``reason``; ``False`` if nobody of that nickname is connected.

        A clustered room reaches the node that holds the user."""
        return self.kick_local(nicknames.key(nickname), reason, by)

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
