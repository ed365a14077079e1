"""Recados (protocol v1.1): messages left for a registered nickname, delivered once.

The chat core's side of recados; nothing here knows SQL. ``/recado NICK TEXTO`` stores a recado
through a :class:`RecadoStorage` (the ``recados`` table, :mod:`twisted_chat.storage.recados`)
and answers only once it is stored; a recipient connected here gets it at once instead. At
login, after the welcome and the replay, a user logged in with a password gets their pending
recados, oldest first; they are deleted once *read*: when the connection then sends a line or
stays open :data:`READ_AFTER` seconds (one that drops before that gets them again). Deleting is
a claim only one caller wins (:meth:`RecadoStorage.take`), so a recado is delivered exactly
once even across nodes.

In a cluster, a recado for a user connected on another node is stored first, then handed to
that node (the room finds the user there and carries the recado line to it), which takes it
from the storage and delivers it at once (:meth:`Recados.arrived`), or leaves it stored if the
user has just left; that node answers the sender, wherever it is connected.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import nicknames
from twisted_chat.accounts import Accounts
from twisted_chat.commands import command
from twisted_chat.events import Event, EventSource, Notice, Replayed
from twisted_chat.lines import is_blank, split_first_word
from twisted_chat.room import ChatSession, Member, Room

#: Most recados pending from one sender to one recipient.
MAX_PER_SENDER = 10
#: Most recados pending for one recipient.
MAX_PER_RECIPIENT = 100
#: Seconds a connection stays open after its recados were shown before they count as read.
READ_AFTER = 10.0
#: Ids of recados delivered live that a login's read of the pending ones may still return
#: (kept so that it does not show them again); the oldest are dropped past this many.
MAX_LIVE_IDS = 1000


class Stored(enum.Enum):
    """What became of a recado given to :meth:`RecadoStorage.store`."""

    #: It is in the database (now, or already: the same id was stored before).
    STORED = "stored"
    #: Not stored: the sender has :data:`MAX_PER_SENDER` recados pending for this recipient.
    SENDER_LIMIT = "sender_limit"
    #: Not stored: the recipient has :data:`MAX_PER_RECIPIENT` recados pending.
    RECIPIENT_LIMIT = "recipient_limit"


@dataclass(frozen=True, slots=True)
class Recado:
    """A pending recado: its id, sender (as shown), recipient key, text and time (ms, UTC)."""

    id: str
    sender: str
    recipient_key: str
    text: str
    time: int


class RecadoStorage(Protocol):
    """Where recados wait (implemented by :class:`twisted_chat.storage.recados.RecadoStore`)."""

    def store(
        self, recado_id: str, sender: str, recipient_key: str, text: str, time: int
    ) -> defer.Deferred[Any]:
        """Store a recado unless a limit is reached; fire with a :class:`Stored` once
        committed."""

    def pending(self, recipient_key: str) -> defer.Deferred[Any]:
        """The recados waiting for ``recipient_key``, oldest first (a list of :class:`Recado`)."""

    def take(self, recado_id: str) -> defer.Deferred[Any]:
        """Delete the recado ``recado_id``: True for the one caller that deleted it."""

    def forget_sender(self, sender_key: str) -> defer.Deferred[Any]:
        """Delete every recado sent by ``sender_key``; fire with how many."""


class _Unread:
    """Recados shown to a session and not yet read (deleted once read)."""

    __slots__ = ("recados", "timer")

    def __init__(self, recados: list[Recado], timer: IDelayedCall) -> None:
        self.recados = recados
        self.timer = timer


class Recados:
    """``/recado``, and the delivery of pending recados at login."""

    log = Logger()

    def __init__(
        self,
        storage: RecadoStorage,
        room: Room,
        events: EventSource,
        accounts: Accounts | None,
        has_password: Callable[[ChatSession], bool],
    ) -> None:
        self.storage = storage
        self.room = room
        self.events = events
        self.clock: Any = events.clock
        self.accounts = accounts
        #: Whether a session logged in with its nickname's password.
        self.has_password = has_password
        #: Sessions shown recados they have not read yet (the chat core checks it per line).
        self.unread: dict[ChatSession, _Unread] = {}
        # Recados delivered live by :meth:`arrived` (ids, oldest first).
        self._live: dict[str, None] = {}

    def is_registered(self, nickname: str) -> bool:
        """Whether ``nickname`` is registered (recados are only for registered nicknames)."""
        return self.accounts is not None and self.accounts.is_registered(nickname)

    # -- the command ------------------------------------------------------------------------

    @command(
        "recado",
        "memo",
        es="deja un recado a NICK (registrado), que lo recibe al entrar",
        en="leave a memo for NICK (registered), delivered when they log in",
        usage=("NICK TEXTO", "NICK TEXT"),
    )
    def recado(self, session: ChatSession, args: str) -> None:
        """Store a recado for a registered nickname (or deliver it at once if it is connected
        here), answering only once it is stored."""
        events = self.events
        if not self.has_password(session):
            session.deliver(events.error("recado_password"))
            return
        word, text = split_first_word(args.strip(" \t"))
        if not word:
            session.deliver(events.error("recado_usage"))
            return
        nickname = nicknames.normalize(word)
        if not nicknames.is_valid(nickname):
            session.deliver(events.error("recado_bad_nick", nick=word))
            return
        recipient_key = nicknames.key(nickname)
        sender = session.nickname or ""
        if recipient_key == nicknames.key(sender):
            session.deliver(events.error("recado_self"))
            return
        if not self.is_registered(nickname):
            session.deliver(events.error("recado_unregistered", nick=nickname))
            return
        text = text.strip(" \t")
        if not text or is_blank(text):
            session.deliver(events.error("recado_empty"))
            return
        member = self.room.member(nickname)
        if member is not None:
            recado = events.recado(events.ids.next(), events.now_ms(), sender, text)
            if self.room.deliver(member, recado):
                session.deliver(events.notice("recado_delivered", nick=member.nickname or ""))
                return
        self._store(session, nickname, recipient_key, text)

    def _store(self, session: ChatSession, nickname: str, recipient_key: str, text: str) -> None:
        events = self.events
        sender = session.nickname or ""
        recado_id, time = events.ids.next(), events.now_ms()
        stored = self.storage.store(recado_id, sender, recipient_key, text, time)

        def answered(result: Stored) -> None:
            if result is Stored.STORED:
                self.log.info("recado from {sender} to {nick} stored", sender=sender, nick=nickname)
                if not self._hand_over(nickname, events.recado(recado_id, time, sender, text)):
                    session.deliver(events.notice("recado_stored", nick=nickname))
            elif result is Stored.SENDER_LIMIT:
                session.deliver(
                    events.error("recado_sender_limit", max=MAX_PER_SENDER, nick=nickname)
                )
            else:
                session.deliver(
                    events.error("recado_recipient_limit", max=MAX_PER_RECIPIENT, nick=nickname)
                )

        def failed(failure: Failure) -> None:
            self.log.info("recado from {sender} not stored: {error}", sender=sender, error=failure)
            session.deliver(events.error("recado_unavailable"))

        stored.addCallbacks(answered, failed)

    def _hand_over(self, nickname: str, line: Replayed) -> bool:
        """The recado ``line`` for ``nickname`` is stored: if ``nickname`` is connected now (on
        another node of a cluster, or here since), have its node deliver it at once and answer
        the sender (:meth:`arrived`). Whether it was handed over."""
        room = self.room
        if room.member(nickname) is not None:
            self.arrived(nickname, line)
            return True
        recipient = room.find(nickname)
        return recipient is not None and room.deliver(recipient, line)

    def arrived(self, recipient: str, recado: Replayed) -> None:
        """The recado ``recado``, stored for ``recipient``, is to be delivered at once (its
        sender's node found ``recipient`` connected here). Exactly once: it is taken from the
        storage first (a login that read it meanwhile wins instead); if ``recipient`` left in
        the meantime it is stored again, for its next login. The sender is told either way."""
        member = self.room.member(recipient)
        if member is None:
            self._tell(recado.sender, self.events.notice("recado_stored", nick=recipient))
            return
        nickname = member.nickname or recipient

        def taken(won: bool) -> None:
            if not won:
                return  # a login read it first, and told the sender
            now = self.room.member(nickname)
            if now is None:
                self._store_again(recado, nickname)
                return
            if not self._shown(now, recado.id):
                self._remember_live(recado.id)
                self.room.deliver(now, recado)
            self._tell(recado.sender, self.events.notice("recado_delivered", nick=nickname))

        def failed(failure: Failure) -> None:
            self.log.info("recado {id} not taken: {error}", id=recado.id, error=failure.value)
            self._tell(recado.sender, self.events.notice("recado_stored", nick=nickname))

        self.storage.take(recado.id).addCallbacks(taken, failed)

    def _shown(self, session: Member, recado_id: str) -> bool:
        """Whether ``session`` was shown the recado ``recado_id`` at its login (not read yet)."""
        unread = self.unread.get(session)  # type: ignore[call-overload]
        return unread is not None and any(r.id == recado_id for r in unread.recados)

    def _remember_live(self, recado_id: str) -> None:
        live = self._live
        if len(live) >= MAX_LIVE_IDS:
            for old in list(live)[: MAX_LIVE_IDS // 2]:
                del live[old]
        live[recado_id] = None

    def _store_again(self, recado: Replayed, nickname: str) -> None:
        """``nickname`` left while its recado was being taken: store it again, same id."""
        stored = self.storage.store(
            recado.id, recado.sender, nicknames.key(nickname), recado.text, recado.time
        )

        def answered(result: Stored) -> None:
            if result is Stored.STORED:
                self._tell(recado.sender, self.events.notice("recado_stored", nick=nickname))
            else:  # the limits filled up in that instant
                self.log.warn("recado {id} lost: {result}", id=recado.id, result=result)

        def failed(failure: Failure) -> None:
            self.log.warn("recado {id} lost: {error}", id=recado.id, error=failure.value)

        stored.addCallbacks(answered, failed)

    def _tell(self, nickname: str, notice: Notice) -> None:
        """``notice`` to the user ``nickname``, wherever it is connected (if it is)."""
        recipient = self.room.find(nickname)
        if recipient is not None:
            self.room.deliver(recipient, notice)

    # -- delivery ---------------------------------------------------------------------------

    def at_login(self, session: ChatSession) -> defer.Deferred[None]:
        """Show ``session`` (logged in with its password) its pending recados, oldest first."""
        if not self.has_password(session) or session in self.unread:
            return defer.succeed(None)
        nick_key = nicknames.key(session.nickname or "")

        def show(recados: list[Recado]) -> None:
            if self._live:
                recados = [r for r in recados if r.id not in self._live]
            if not recados or session.closing or session in self.unread:
                return
            events = self.events
            header = (
                events.notice("recado_header_one")
                if len(recados) == 1
                else events.notice("recados_header", count=len(recados))
            )
            lines: list[Event] = [header]
            lines += [events.recado(r.id, r.time, r.sender, r.text) for r in recados]
            session.deliver_all(lines)
            timer = self.clock.callLater(READ_AFTER, self.read, session)
            self.unread[session] = _Unread(recados, timer)

        def failed(failure: Failure) -> None:
            self.log.info("recados of {nick} not read: {error}", nick=nick_key, error=failure.value)

        return self.storage.pending(nick_key).addCallbacks(show, failed)

    def read(self, session: ChatSession) -> None:
        """``session`` read the recados it was shown (it sent a line, or stayed open
        :data:`READ_AFTER` seconds): delete them, and tell each sender still connected."""
        unread = self.unread.pop(session, None)
        if unread is None:
            return
        if unread.timer.active():
            unread.timer.cancel()
        reader = session.nickname or ""
        for recado in unread.recados:
            self.storage.take(recado.id).addCallbacks(
                lambda taken, r=recado: self._taken(taken, r, reader),
                lambda failure, r=recado: self._not_taken(failure, r),
            )

    def _taken(self, taken: bool, recado: Recado, reader: str) -> None:
        if not taken:
            return  # delivered by someone else first (another node, another connection)
        self._tell(recado.sender, self.events.notice("recado_read", nick=reader))

    def _not_taken(self, failure: Failure, recado: Recado) -> None:
        self.log.info(
            "recado {id} not deleted (delivered again at the next login): {error}",
            id=recado.id,
            error=failure.value,
        )

    def gone(self, session: ChatSession) -> None:
        """``session`` disconnected: recados it did not read stay for its next login."""
        unread = self.unread.pop(session, None)
        if unread is not None and unread.timer.active():
            unread.timer.cancel()
