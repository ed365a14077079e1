"""The chat room: who is logged in, and delivery of public and private messages.

Nothing here knows about sockets or SQL, in the manner of ``twisted.words.service``: connections
are reached through the small :class:`ChatSession` interface, and every outgoing line is encoded
once by :mod:`twisted_chat.wire` and handed as bytes to each recipient.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from twisted.internet import defer
from twisted.logger import Logger

from twisted_chat import nicknames, wire
from twisted_chat.bans import Ban
from twisted_chat.text import Catalogue


class ChatSession(Protocol):
    """What the chat needs from one connection (implemented by the protocol)."""

    #: The logged-in nickname, or ``None`` while at the nickname prompt (set by the chat core).
    nickname: str | None

    @property
    def host(self) -> str:
        """The client's address (for per-address limits and logs)."""

    @property
    def closing(self) -> bool:
        """Whether the connection is closing or closed (deliveries are dropped)."""

    def logged_in(self, nickname: str) -> None:
        """The chat accepted ``nickname`` for this session (sets :attr:`nickname`)."""

    def hold(self) -> None:
        """Stop processing this client's lines until :meth:`release` (an async check runs)."""

    def release(self) -> None:
        """Process held lines again."""

    def deliver(self, data: bytes) -> None:
        """Queue ``data`` (one or more complete, encoded server lines) for the client."""

    def close(self) -> None:
        """Close the connection once what was delivered has been written."""

    def abort(self) -> None:
        """Drop the connection at once, discarding pending output."""

    def disconnect(self, cause: str, text: str | None = None) -> None:
        """End the connection for ``cause`` (counted in the server's stats), after one
        ``! TEXT`` line if given."""


class Claim(enum.Enum):
    """The answer to :meth:`Room.claim`."""

    OK = "ok"  # the nickname is this login's until it leaves
    TAKEN = "taken"  # someone holds it (in a cluster: possibly on another node)
    UNAVAILABLE = "unavailable"  # no nickname can be claimed right now (cluster outage)


class Room:
    """The registry of logged-in users, keyed by :func:`twisted_chat.nicknames.key`.

    One recipient failing never stops a delivery to the others: a session whose ``deliver``
    raises is logged and aborted, and leaves the room through the normal disconnect path.

    This room holds one process's users. A clustered room
    (:class:`twisted_chat.cluster.room.ClusterRoom`) keeps the same interface for a chat spread
    over several processes; the chat core cannot tell them apart.
    """

    log = Logger()

    def __init__(
        self, texts: Catalogue, schedule: Callable[[Callable[[], None]], object] | None = None
    ) -> None:
        self.texts = texts
        self._users: dict[str, ChatSession] = {}
        # Join/leave notices waiting to be sent together (see announce_join); only with a
        # ``schedule`` function ("run this soon": ``lambda f: reactor.callLater(0, f)``).
        self._schedule = schedule
        self._notices: list[bytes] = []
        #: Whether join/leave notices are waiting to be written (checked for every line).
        self.has_notices = False
        self._joined_at: dict[ChatSession, int] = {}
        #: Set by the server when it gathers a busy turn's output (its write batcher's
        #: ``gather``): a room that delivers many lines at once from elsewhere (a cluster
        #: node's envelope) calls it first, so each recipient gets them in one write.
        self.gather_output: Callable[[], None] | None = None
        #: Muted nicknames (nick key -> until, POSIX seconds), kept while they last; empty, so
        #: false, while nobody is (checked before every message, as a plain attribute).
        self.mutes: dict[str, float] = {}
        #: Lines handed to this room's sessions by :meth:`broadcast`, :meth:`deliver` and the
        #: gathered notices (``chat_deliveries_total``), counted once per broadcast.
        self.deliveries = 0

    def __len__(self) -> int:
        return len(self._users)

    def __contains__(self, nickname: str) -> bool:
        return nicknames.key(nickname) in self._users

    def find(self, nickname: str) -> ChatSession | None:
        """The session logged in as ``nickname`` (any case), if any."""
        return self._users.get(nicknames.key(nickname))

    def sessions(self) -> list[ChatSession]:
        """A snapshot of the logged-in sessions."""
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

    def add(self, session: ChatSession, nickname: str) -> bool:
        """Register ``session`` as ``nickname``; ``False`` if the nickname is taken."""
        nick_key = nicknames.key(nickname)
        if nick_key in self._users:
            return False
        self._users[nick_key] = session
        return True

    def remove(self, session: ChatSession) -> bool:
        """Unregister ``session``; ``False`` if it was not registered (or was replaced)."""
        nickname = session.nickname
        if nickname is None:
            return False
        nick_key = nicknames.key(nickname)
        if self._users.get(nick_key) is not session:
            return False
        del self._users[nick_key]
        return True

    def broadcast(self, data: bytes, exclude: ChatSession | None = None) -> int:
        """Deliver the encoded line(s) ``data`` to every logged-in session except ``exclude``.

        Returns the number of sessions it was handed to.
        """
        if self.has_notices:
            self.flush_notices()
        count = 0
        # The hot path of a chat server: one loop, nothing per recipient but the write.
        for session in list(self._users.values()):
            if session is not exclude:
                try:
                    session.deliver(data)
                except Exception:
                    self._delivery_failed(session)
                else:
                    count += 1
        self.deliveries += count
        return count

    def deliver(self, session: ChatSession, data: bytes) -> bool:
        """Deliver ``data`` to one session (after any pending notices); ``False`` if it failed."""
        if self.has_notices:
            self.flush_notices()
        try:  # _deliver_one, inlined: this runs for every private message
            session.deliver(data)
        except Exception:
            self._delivery_failed(session)
            return False
        self.deliveries += 1
        return True

    def _deliver_one(self, session: ChatSession, data: bytes) -> bool:
        """Deliver to one session; a session whose delivery raises is logged and dropped."""
        try:
            session.deliver(data)
        except Exception:
            self._delivery_failed(session)
            return False
        return True

    def _delivery_failed(self, session: ChatSession) -> None:
        self.log.failure(
            "Delivery to {nick} failed; dropping the connection", nick=session.nickname
        )
        session.abort()

    def announce(self, text: str, exclude: ChatSession | None = None) -> None:
        """Send a ``* `` notice to everyone logged in except ``exclude``."""
        self.broadcast(wire.notice(text), exclude)

    def announce_join(self, session: ChatSession, text: str) -> None:
        """Tell everyone but ``session`` that it joined (``text``).

        With a ``schedule`` function, the notices of a login storm are gathered and written
        together soon after (one write per recipient for all of them, instead of one per join:
        N logins at once cost N writes, not N squared). Each recipient still gets one line per
        join and leave, in order, and only those that happened while it was logged in. Pending
        notices are always written before any other message.
        """
        if self._schedule is None:
            self.announce(text, exclude=session)
            return
        self._joined_at[session] = len(self._notices)
        self._queue_notice(wire.notice(text))

    def announce_leave(self, text: str) -> None:
        """Tell everyone a user left (``text``), gathered like :meth:`announce_join`.

        Also used for any notice gathered the same way (a user of another node joined)."""
        if self._schedule is None:
            self.announce(text)
            return
        self._queue_notice(wire.notice(text))

    @property
    def pending_notices(self) -> int:
        """How many join/leave notices are waiting to be written."""
        return len(self._notices)

    def _queue_notice(self, data: bytes) -> None:
        if not self._notices and self._schedule is not None:
            self._schedule(self.flush_notices)
        self._notices.append(data)
        self.has_notices = True

    def flush_notices(self) -> None:
        """Write the gathered join/leave notices now."""
        notices = self._notices
        if not notices:
            return
        self._notices = []
        self.has_notices = False
        joined, self._joined_at = self._joined_at, {}
        everything = b"".join(notices)
        tails: dict[int, bytes] = {}
        delivered = 0
        for session in self.sessions():
            index = joined.get(session)
            if index is None:
                data = everything
            else:
                data = tails.get(index, b"")
                if index not in tails:
                    data = tails[index] = b"".join(notices[index + 1 :])
                if not data:
                    continue
            if self._deliver_one(session, data):
                delivered += 1
        self.deliveries += delivered

    def say_public(self, sender: ChatSession, text: str) -> None:
        """Relay ``text`` verbatim from ``sender`` to every other logged-in user."""
        self.broadcast(wire.public(sender.nickname or "", text), exclude=sender)

    # -- moderation (operators' commands) ---------------------------------------------------

    def kick(self, nickname: str, reason: str, by: str) -> bool:
        """Disconnect the user ``nickname`` (cause ``kicked``) with a ``! `` line naming
        ``by`` and ``reason``; ``False`` if nobody of that nickname is connected.

        A clustered room reaches the node that holds the user."""
        return self._kick_local(nicknames.key(nickname), reason, by)

    def _kick_local(self, nick_key: str, reason: str, by: str) -> bool:
        session = self._users.get(nick_key)
        if session is None:
            return False
        texts = self.texts
        session.disconnect("kicked", texts.kicked.format(by=by, reason=reason or texts.no_reason))
        return True

    def mute(self, nickname: str, until: float) -> None:
        """Refuse the messages of ``nickname`` until ``until`` (POSIX seconds; 0 lifts a mute).

        A clustered room tells every node."""
        self._mute_local(nicknames.key(nickname), until)

    def _mute_local(self, nick_key: str, until: float) -> None:
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
        return self._enforce_ban(ban)

    def _enforce_ban(self, ban: Ban) -> list[str]:
        texts = self.texts
        text = texts.banned_now.format(
            by=ban.created_by,
            until=until_text(texts, ban.expires_at),
            reason=ban.reason or texts.no_reason,
        )
        gone: list[str] = []
        for nick_key, session in list(self._users.items()):
            if (ban.kind == "nick" and ban.target == nick_key) or (
                ban.kind == "net" and ban.covers_host(session.host)
            ):
                gone.append(session.nickname or "")
                session.disconnect("banned", text)
        return gone

    def ban_removed(self, ban: Ban) -> None:
        """A ban was lifted (nothing to do here; a clustered room tells every node)."""

    def notice_all(self, text: str) -> None:
        """A ``* `` notice to every user of the chat (in a cluster, of every node)."""
        self.announce(text)


def format_time(seconds: float) -> str:
    """``seconds`` (POSIX) as the server's local ISO 8601 time, to the second, with offset."""
    return datetime.fromtimestamp(seconds, tz=UTC).astimezone().isoformat(timespec="seconds")


def until_text(texts: Catalogue, expires_at: float | None) -> str:
    """How long a ban lasts, for people: ``permanente`` or ``hasta TIME``."""
    if expires_at is None:
        return texts.permanent
    return texts.until.format(when=format_time(expires_at))
