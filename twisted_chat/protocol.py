"""The TCP line protocol (bytes and lines) and the factory that owns the chat's connections.

:class:`ChatProtocol` is a ``LineReceiver`` that keeps Twisted's ``sendLine`` but frames input
with its own :class:`~twisted_chat.lines.LineSplitter` (see that module for why) and hands the
lines to its :class:`~twisted_chat.session.Session`, which enforces the per-connection limits
of :class:`~twisted_chat.limits.Limits` (strikes, flood control, timeouts, the send queue) and
talks to the :class:`~twisted_chat.chat.ChatCore`. Writing is its own: straight to the socket
when nothing is pending. The :class:`WriteBatcher` tells every session (of either transport)
when to gather its output until the end of a busy reactor turn.
:class:`ChatFactory` admits the sessions of every transport (TCP and WebSocket): it enforces
the connection limits and shuts every connection down gracefully.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

from twisted.internet import defer, protocol, tcp
from twisted.internet.interfaces import IAddress, ITCPTransport
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from twisted_chat import wire
from twisted_chat.chat import ChatCore
from twisted_chat.limits import ConnectionCounter, Limits
from twisted_chat.lines import LineSplitter
from twisted_chat.session import Item, SendQueue, Session


def _direct_writes_possible(transport: object) -> bool:
    """Whether ``transport`` is a plain TCP (or Unix) socket transport of Twisted's reactor, with
    the buffer attributes the direct-write path relies on (TLS wrappers are not)."""
    return (
        isinstance(transport, tcp.Connection)
        and isinstance(getattr(transport, "socket", None), socket.socket)
        and hasattr(transport, "_tempDataLen")
        and hasattr(transport, "dataBuffer")
    )


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


class ChatProtocol(LineReceiver):
    """One TCP client connection: framing and the fast write path, over a :class:`Session`.

    The adapter of the line protocol: it splits bytes into lines for its
    :class:`~twisted_chat.session.Session` (which holds every per-connection rule) and writes
    the session's output to the socket, straight when nothing is pending.
    """

    delimiter = b"\r\n"

    def __init__(
        self, chat: ChatCore, limits: Limits | None = None, batcher: WriteBatcher | None = None
    ) -> None:
        self.chat = chat
        self.limits = limits or Limits()
        self._batcher = batcher
        self._splitter = LineSplitter(self.limits.max_line)
        # The transport with its full interface (ITCPTransport, or whatever the endpoint gave).
        self._transport: Any = None
        # The raw socket, for direct writes when the transport has nothing pending (TCP only).
        self._socket: socket.socket | None = None
        self._registered = False
        self._sendq: SendQueue | None = None
        #: The factory that admitted this connection (set by :meth:`ChatFactory.buildProtocol`).
        self.server: ChatFactory | None = None
        #: The session this connection carries (created on connect).
        self.session: Session | None = None
        self._to_session: Callable[[Collection[Item]], None] = self._not_connected

    # -- connection events ------------------------------------------------------------------

    def connectionMade(self) -> None:
        """Admit or refuse the connection, then prompt for a nickname."""
        transport: Any = self.transport
        self._transport = transport
        peer = transport.getPeer()
        host = str(getattr(peer, "host", "") or "")
        session = self.session = Session(
            self.chat, self.limits, self, host, self.server, self._batcher
        )
        self._to_session = session.lines_received
        if not session.admit():
            return
        if ITCPTransport.providedBy(transport):
            transport.setTcpNoDelay(True)
        if _direct_writes_possible(transport):
            self._socket = transport.socket
        self._sendq = session.sendq
        transport.registerProducer(session.sendq, True)
        self._registered = True
        session.start()

    def dataReceived(self, data: bytes) -> None:
        """Split ``data`` into lines and hand them to the session, in order."""
        self._to_session(self._splitter.feed(data))

    def lineReceived(self, line: bytes) -> None:
        """One line without its terminator, as ``LineReceiver`` would deliver it."""
        self._to_session((line,))

    @staticmethod
    def _not_connected(items: Collection[Item]) -> None:
        raise AssertionError("data before the connection was made")

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        """Tell the session (it leaves the room and gives back its slot)."""
        if self.session is not None:
            self.session.connection_lost()

    # -- the session's view (tests and the factory read these) -------------------------------

    @property
    def nickname(self) -> str | None:
        """The session's nickname, ``None`` at the prompt."""
        return self.session.nickname if self.session is not None else None

    @property
    def disconnect_cause(self) -> str | None:
        """Why the server ended this connection, if it did."""
        return self.session.disconnect_cause if self.session is not None else None

    @property
    def host(self) -> str:
        """The client's IP address (empty for a Unix socket)."""
        return self.session.host if self.session is not None else ""

    @property
    def closing(self) -> bool:
        """Whether the connection is closing or closed."""
        return self.session is not None and self.session.closing

    @property
    def peer(self) -> IAddress:
        """The client's address."""
        peer: IAddress = self._transport.getPeer()
        return peer

    # -- SessionTransport -------------------------------------------------------------------

    def write_lines(self, data: bytes) -> None:
        """Write ``data`` (encoded server lines) now: straight to the socket when nothing is
        pending, else buffered. (When to write, at once or at the end of a busy turn, is the
        session's choice: see :meth:`Session.deliver`.)

        The fast path: when the TCP transport has nothing pending, the bytes go to the socket
        with one ``send`` (no writability registration, no ``epoll_ctl``). Whatever the kernel
        does not take, and everything while output is pending (so the order stays exact), goes
        through Twisted's buffered ``write``, which also counts towards the send queue.
        """
        transport = self._transport
        sock = self._socket
        if sock is not None and not transport._tempDataLen and not transport.dataBuffer:
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # let Twisted's own write path notice and report the failure
            if sent == len(data):
                return
            data = data[sent:]
        transport.write(data)
        sendq = self._sendq
        if sendq is not None and sendq.paused:
            buffered = int(getattr(transport, "bufferSize", 0))
            session = self.session
            if session is not None and sendq.queued(len(data), buffered, session.limits.sendq):
                session.sendq_exceeded()

    def sendLine(self, line: bytes) -> None:
        """Send one server line (``line`` without terminator), as ``LineReceiver`` does."""
        if self.session is not None:
            self.session.deliver(line + self.delimiter)

    def close(self) -> None:
        """Close once what was written has gone out."""
        # A registered producer keeps a TLS transport from starting its shutdown.
        if self._registered:
            self._registered = False
            self._transport.unregisterProducer()
        self._transport.loseConnection()

    def abort(self) -> None:
        """Drop the connection at once, discarding pending output."""
        self._transport.abortConnection()

    def pause(self) -> None:
        """Stop reading (a password is being checked)."""
        self._transport.pauseProducing()

    def resume(self) -> None:
        """Read again."""
        self._transport.resumeProducing()


class ChatFactory(protocol.ServerFactory):
    """Builds a :class:`ChatProtocol` per TCP connection; owns the one :class:`ChatCore`.

    It admits the sessions of every transport (the WebSocket listener shares it): it counts
    connections (``--max-clients``, ``--max-per-ip``), keeps the set of open sessions for a
    graceful shutdown, and counts disconnects by cause (``stats``).
    """

    noisy = False
    log = Logger()

    def __init__(
        self, chat: ChatCore, limits: Limits | None = None, batch_writes: bool = False
    ) -> None:
        self.chat = chat
        self.limits = limits or Limits()
        clock = chat.clock
        self.batcher = WriteBatcher(lambda f: clock.callLater(0, f)) if batch_writes else None
        if self.batcher is not None:
            chat.room.gather_output = self.batcher.gather
        self.counter = ConnectionCounter(
            self.limits.max_clients, self.limits.max_per_ip, list(self.limits.exempt)
        )
        self.connections: set[Session] = set()
        self.stats: Counter[str] = Counter()
        self.shutting_down = False
        self._all_closed: list[defer.Deferred[None]] = []

    def buildProtocol(self, addr: Any) -> ChatProtocol:
        """A protocol bound to this server's chat and limits."""
        proto = ChatProtocol(self.chat, self.limits, self.batcher)
        proto.factory = self
        proto.server = self
        return proto

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
        notice = wire.notice(self.chat.texts.shutting_down)
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
