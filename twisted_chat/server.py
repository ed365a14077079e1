"""The server that every transport's connections belong to, whatever carries them.

:class:`ChatServer` admits the sessions of every transport (TCP lines, WebSocket, ...): it
counts connections (``--max-clients``, ``--max-per-ip``), refuses banned addresses, keeps the
set of open sessions for a graceful shutdown, counts disconnects by cause (``stats``) and
applies new limits to open connections. :class:`WriteBatcher` tells every session when to
gather its output until the end of a busy reactor turn. No transport owns either: a transport
module builds a :class:`~twisted_chat.session.Session` with :meth:`ChatServer.open_session` and
adapts its own connection to it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from twisted.internet import defer
from twisted.logger import Logger

from twisted_chat.chat import ChatCore
from twisted_chat.events import Renderer
from twisted_chat.limits import ConnectionCounter, Limits
from twisted_chat.session import Session, SessionTransport


class WriteBatcher:
    """Gathers each connection's output while a reactor turn is busy and writes it once.

    A turn that handles one line (a chat at a moderate rate: each message arrives on its own)
    writes that line's output at once, one ``send`` per recipient and nothing to gather. From the
    second line of a turn on (a busy server: many lines ready at once), output is gathered
    instead: sessions add themselves on their first delivery, and at the end of the turn (a
    ``callLater(0)``, which runs after the reactor has handled every ready socket) each gets one
    write of everything it was given, so a saturated server writes many messages per system
    call.
    """

    __slots__ = ("_dirty", "_schedule", "_scheduled", "gathering")

    def __init__(self, schedule: Callable[[Callable[[], None]], object]) -> None:
        self._schedule = schedule
        self._dirty: list[Session] = []
        self._scheduled = False
        #: Whether output is being gathered until the end of this turn.
        self.gathering = False

    def gather(self) -> None:
        """Gather output from now until the end of this turn (a line has been handled)."""
        self.gathering = True
        if not self._scheduled:
            self._scheduled = True
            self._schedule(self.flush)

    def add(self, session: Session) -> None:
        """``session`` has output to write at the end of this turn."""
        self._dirty.append(session)

    def flush(self) -> None:
        """Write every pending connection's output now; the next turn starts writing at once."""
        self._scheduled = False
        self.gathering = False
        dirty, self._dirty = self._dirty, []
        for session in dirty:
            session.flush_output()


class ChatServer:
    """The connections of one chat core, from every transport: admission, counts, shutdown."""

    log = Logger()

    def __init__(
        self, chat: ChatCore, limits: Limits | None = None, batch_writes: bool = False
    ) -> None:
        self.chat = chat
        self.limits = limits or Limits()
        clock = chat.clock
        #: The per-turn output gathering shared by every session (``None``: write at once).
        self.batcher = WriteBatcher(lambda f: clock.callLater(0, f)) if batch_writes else None
        self.counter = ConnectionCounter(
            self.limits.max_clients, self.limits.max_per_ip, list(self.limits.exempt)
        )
        #: The open sessions (admitted and not gone yet).
        self.connections: set[Session] = set()
        #: Disconnects and refusals by cause.
        self.stats: Counter[str] = Counter()
        self.shutting_down = False
        self._all_closed: list[defer.Deferred[None]] = []

    def open_session(self, transport: SessionTransport, host: str, renderer: Renderer) -> Session:
        """A new session for a connection from ``host`` carried by ``transport`` (not admitted
        yet: the transport calls :meth:`Session.admit`, then :meth:`Session.start`)."""
        return Session(self.chat, self.limits, transport, host, renderer, self, self.batcher)

    def admit(self, session: Session) -> str | None:
        """Count a new connection, or say why it is refused (a catalogue entry name)."""
        if self.shutting_down:
            return "shutting_down"
        refusal = self.chat.refuse_address(session.host)
        if refusal is not None:
            self.stats[refusal] += 1
            self.chat.refusals.count(refusal)
            return refusal
        reason = self.counter.refuse_reason(session.host or None)
        if reason is not None:
            self.stats[f"refused_{reason}"] += 1
            self.chat.refusals.count(reason)
            return "server_full" if reason == "server_full" else "too_many_from_ip"
        self.counter.opened(session.host or None)
        self.connections.add(session)
        return None

    def use_limits(self, limits: Limits) -> None:
        """Apply ``limits`` (a configuration reload) to new and open connections alike."""
        self.limits = limits
        self.counter.configure(limits.max_clients, limits.max_per_ip, list(limits.exempt))
        for session in list(self.connections):
            session.use_limits(limits)

    def release(self, session: Session) -> None:
        """A connection counted by :meth:`admit` is gone."""
        self.counter.closed(session.host or None)
        self.connections.discard(session)
        self.stats[session.disconnect_cause or "client"] += 1
        if not self.connections:
            waiters, self._all_closed = self._all_closed, []
            for waiter in waiters:
                waiter.callback(None)

    def shutdown(self, timeout: float) -> defer.Deferred[None]:
        """Tell every connection the server is shutting down, close them, and fire when all
        are gone (connections still open after ``timeout`` seconds are aborted)."""
        self.shutting_down = True
        self.chat.room.flush_notices()
        notice = self.chat.events.notice("shutting_down")
        for session in list(self.connections):
            session.deliver(notice)
            session.disconnect_cause = "shutdown"
            session.close()
        if not self.connections:
            return defer.succeed(None)
        done: defer.Deferred[None] = defer.Deferred()
        self._all_closed.append(done)
        clock = self.chat.clock

        def force() -> None:
            for session in list(self.connections):
                session.abort()

        call = clock.callLater(timeout, force)

        def finished(result: None) -> None:
            if call.active():
                call.cancel()

        done.addCallback(finished)
        return done
