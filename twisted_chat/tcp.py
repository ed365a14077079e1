"""The TCP transport of protocol v1: bytes in, lines out, and the one socket writer.

:class:`ChatProtocol` is a plain ``Protocol``: it frames input with its own
:class:`~twisted_chat.lines.LineSplitter` (see that module for why Twisted's ``LineReceiver``
is not used) and hands the lines to its :class:`~twisted_chat.session.Session`, which holds
every per-connection rule (strikes, flood control, timeouts, the send queue) and talks to the
chat core. Events reach it rendered as v1 lines by the :class:`~twisted_chat.wire.LineRenderer`
shared by every TCP connection. :class:`ChatTCPFactory` builds one per connection for the
:class:`~twisted_chat.server.ChatServer` that admits them.

:class:`SocketWriter` writes a session's output to its socket: straight to it when nothing is
pending. It is the writer of every transport that runs over a socket of Twisted's: the TCP one
here, and the WebSocket adapter (:mod:`twisted_chat.web.protocol`), whose frames go to the
same kind of socket.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Collection
from typing import Any

from twisted.internet import protocol, tcp
from twisted.internet.interfaces import IAddress, ITCPTransport
from twisted.python.failure import Failure

from twisted_chat.events import Renderer
from twisted_chat.lines import LineSplitter
from twisted_chat.server import ChatServer
from twisted_chat.session import Item, SendQueue, Session
from twisted_chat.wire import LineRenderer


def _direct_writes_possible(transport: object) -> bool:
    """Whether ``transport`` is a plain TCP (or Unix) socket transport of Twisted's reactor, with
    the buffer attributes the direct-write path relies on (TLS wrappers are not, nor is a
    socket that ``startTLS`` turned to TLS)."""
    return (
        isinstance(transport, tcp.Connection)
        and not getattr(transport, "TLS", False)
        and isinstance(getattr(transport, "socket", None), socket.socket)
        and hasattr(transport, "_tempDataLen")
        and hasattr(transport, "dataBuffer")
    )


class SocketWriter:
    """Writes a session's output to the socket under its transport: one ``send`` when nothing
    is pending, Twisted's buffered ``write`` otherwise, and the send-queue count.

    A mixin of the transport adapters (as a base class it costs nothing per write): the adapter
    calls :meth:`_init_writer` in its constructor, sets :attr:`session`, and calls
    :meth:`_start_writing` once the session is admitted. Until then, and for a transport whose
    socket cannot be written directly (TLS, a PROXY-protocol wrapper), every write goes through
    Twisted.
    """

    #: The socket's transport (TCP, TLS, or whatever the endpoint gave).
    _transport: Any
    #: The raw socket, for direct writes when the transport has nothing pending (TCP only).
    _socket: socket.socket | None
    #: The session's send-queue watch, registered as the transport's producer.
    _sendq: SendQueue | None
    #: The session whose output this writes.
    session: Session | None

    def _init_writer(self, transport: Any) -> None:
        """Write to ``transport`` (``None``: not connected yet), through Twisted for now."""
        self._transport = transport
        self._socket = None
        self._sendq = None

    def _start_writing(self, session: Session) -> None:
        """Write ``session``'s output from now on: watch its send queue (registered as the
        transport's producer) and write straight to the socket when that is possible."""
        transport = self._transport
        if _direct_writes_possible(transport):
            self._socket = transport.socket
        self._sendq = session.sendq
        transport.registerProducer(session.sendq, True)

    def write_lines(self, data: bytes) -> None:
        """Write ``data`` (rendered events) now: straight to the socket when nothing is
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


class ChatProtocol(SocketWriter, protocol.Protocol):
    """One TCP client connection: framing and the fast write path, over a :class:`Session`.

    The adapter of the line protocol: it splits bytes into lines for its
    :class:`~twisted_chat.session.Session` (which holds every per-connection rule) and writes
    the session's output to the socket, straight when nothing is pending.
    """

    kind = "tcp"

    def __init__(self, server: ChatServer, renderer: Renderer) -> None:
        #: The server that admits this connection.
        self.server = server
        self._renderer = renderer
        self._splitter = LineSplitter(server.limits.max_line)
        self._init_writer(None)
        self._registered = False
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
        session = self.session = self.server.open_session(self, host, self._renderer)
        self._to_session = session.lines_received
        if not session.admit():
            return
        if ITCPTransport.providedBy(transport):
            transport.setTcpNoDelay(True)
        self._start_writing(session)
        self._registered = True
        session.start()

    def dataReceived(self, data: bytes) -> None:
        """Split ``data`` into lines and hand them to the session, in order."""
        self._to_session(self._splitter.feed(data))

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


class ChatTCPFactory(protocol.ServerFactory):
    """Builds a :class:`ChatProtocol` per TCP connection of ``server``; every connection's
    events are rendered as v1 lines by one shared ``renderer``."""

    noisy = False

    def __init__(self, server: ChatServer, renderer: LineRenderer) -> None:
        self.server = server
        self.renderer = renderer

    def buildProtocol(self, addr: Any) -> ChatProtocol:
        """A protocol for one new connection."""
        proto = ChatProtocol(self.server, self.renderer)
        proto.factory = self
        return proto
