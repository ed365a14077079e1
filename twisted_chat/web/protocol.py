"""The WebSocket transport: protocol v1 without the framing, over ``twisted.web.websocket``.

Each text message from the client is one line; each server line is one text message, without
its CRLF. :class:`ChatWebSocket` is a thin adapter, like the TCP ``ChatProtocol``: every
per-connection rule lives in its :class:`~twisted_chat.session.Session`; this module only turns
messages into lines, writes the frames that the :class:`~twisted_chat.web.frames.FrameRenderer`
built (once per event, for every WebSocket recipient) to the socket with the TCP transport's
writer (:class:`~twisted_chat.tcp.SocketWriter`: one ``send`` when nothing is pending), and adds
what only a WebSocket has: keepalive pings with a timeout, and a hard cap on the size of one
message (a message over the 1024-byte line limit is refused like an over-long line; past
:data:`MAX_MESSAGE` bytes the connection is closed, so that a client cannot make the server
buffer without bound).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure
from twisted.web.server import Request
from twisted.web.websocket import WebSocketTransport

from twisted_chat.events import Text
from twisted_chat.lines import TOO_LONG
from twisted_chat.server import ChatServer
from twisted_chat.session import NOT_TEXT, Item, Session
from twisted_chat.tcp import SocketWriter
from twisted_chat.web.frames import FrameRenderer

#: The most the server buffers of one message: bytes received since the last complete message
#: (frame headers and control frames included). Past it the connection is closed with 1009.
MAX_MESSAGE = 16 * 1024
#: Seconds between keepalive pings (``--web-ping``); a client that has not answered one by the
#: next is disconnected.
DEFAULT_PING_INTERVAL = 30.0

#: WebSocket close codes by the session's disconnect cause (RFC 6455, section 7.4.1); 1000
#: (normal) for the others.
CLOSE_CODES = {
    "shutdown": 1001,  # going away
    "too_big": 1009,  # message too big
    "strikes": 1008,  # policy violation
    "flood": 1008,
    "sendq": 1008,
    "login_timeout": 1008,
    "idle_timeout": 1008,
    "ping_timeout": 1008,
}


class ChatWebSocket(SocketWriter):
    """One browser (or other WebSocket client): messages in and out, over a :class:`Session`.

    Implements ``twisted.web.websocket.WebSocketProtocol`` towards Twisted and
    :class:`~twisted_chat.session.SessionTransport` towards the session; its output is written
    by :class:`~twisted_chat.tcp.SocketWriter`, as a TCP connection's is.
    """

    kind = "websocket"

    def __init__(
        self,
        server: ChatServer,
        renderer: FrameRenderer,
        request: Request,
        keepalive: Keepalive | None,
    ) -> None:
        self.server = server
        self._renderer = renderer
        self._max_line = server.limits.max_line
        self._keepalive = keepalive
        # The keepalive's slot of this socket, while it is pinged.
        self._keepalive_slot: int | None = None
        address: Any = request.getClientAddress()
        self._host = str(getattr(address, "host", "") or "")
        # The HTTP channel, until the upgrade is done.
        self._channel: Any = request.channel
        # The socket's transport (TCP or TLS) under the WebSocket framing: the frames the
        # renderer built are written to it as they are.
        self._init_writer(request.channel.transport)
        self._ws: WebSocketTransport | None = None
        # The WebSocket wire protocol's parser of the bytes read (once the upgrade started).
        self._deliver: Callable[[bytes], object] = self._nowhere
        #: The session this WebSocket carries (once open).
        self.session: Session | None = None
        self._to_session: Callable[[tuple[Item]], None] = self._not_ready
        self._unread = 0
        self._pong_due = False
        self._closed = False

    # -- WebSocketProtocol ------------------------------------------------------------------

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        """The upgrade is under way: keep the transport; from now on the socket's bytes come to
        :meth:`dataReceived` (counted, then parsed by the WebSocket wire protocol)."""
        self._ws = transport
        drop_client_handshake_wait(transport)
        channel, self._channel = self._channel, None
        # The HTTP channel's idle timer stops once it is a WebSocket: the keepalive pings
        # watch the connection instead.
        channel.setTimeout(None)
        # The upgrade pointed the channel's dataReceived (and connectionLost) at the wire
        # protocol: that is where the bytes go after we counted them.
        self._deliver = channel.dataReceived
        if not bypass_http_channel(channel, self):
            channel.dataReceived = self.dataReceived  # the channel stays in the path

    def negotiationFinished(self) -> None:
        """The WebSocket is open: admit the session and prompt for a nickname."""
        session = self.server.open_session(self, self._host, self._renderer)
        self.session = session
        if not session.admit():
            return
        self._to_session = session.lines_received
        # The socket's producer was the HTTP channel; now it is the send-queue watch.
        self._transport.unregisterProducer()
        self._start_writing(session)
        if self._keepalive is not None:
            self._keepalive_slot = self._keepalive.add(self)
        session.start()

    def textMessageReceived(self, message: str) -> None:
        """One client line."""
        self._unread = 0
        data = message.encode("utf-8")
        self._to_session((TOO_LONG if len(data) > self._max_line else data,))

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        """A binary message: not a line of text (refused with one ``! `` line)."""
        self._unread = 0
        self._to_session((NOT_TEXT,))

    def pongReceived(self, payload: bytes) -> None:
        """The client answered a keepalive ping."""
        self._unread = 0
        self._pong_due = False

    def connectionLost(self, reason: Failure) -> None:
        """Tell the session (it leaves the room and gives back its slot). Called by the
        socket's transport once the HTTP channel is bypassed, else through the wire protocol."""
        self._closed = True
        if self._keepalive is not None and self._keepalive_slot is not None:
            self._keepalive.discard(self, self._keepalive_slot)
            self._keepalive_slot = None
        if self.session is not None:
            self.session.connection_lost()

    @staticmethod
    def _not_ready(items: tuple[Item]) -> None:
        """Messages before the session started, or after it was refused: dropped."""

    @staticmethod
    def _nowhere(data: bytes) -> None:
        """Bytes before the upgrade: none reach here (the HTTP channel reads them)."""

    # -- the socket's protocol, once upgraded ---------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """Bytes from the socket: counted towards :data:`MAX_MESSAGE`, then parsed by the wire
        protocol (which calls the message methods above)."""
        if self._closed:
            return
        self._unread += len(data)
        self._deliver(data)
        if self._unread > MAX_MESSAGE and not self._closed:
            self._too_big()

    # -- keepalive and the message cap --------------------------------------------------------

    def keepalive(self) -> None:
        """The keepalive's turn (every ``--web-ping`` seconds): a ping, or the end of a client
        that has not answered the previous one."""
        session = self.session
        if self._closed or session is None or session.closing or self._ws is None:
            return
        if self._pong_due:
            session.disconnect("ping_timeout", Text("idle_timeout"))
            return
        self._pong_due = True
        self._ws.ping(b"keepalive")

    def _too_big(self) -> None:
        session = self.session
        self._closed = True  # nothing more is read
        if session is None:
            self.abort()
            return
        session.disconnect("too_big", Text("line_too_long", limit=self._max_line))

    # -- SessionTransport -------------------------------------------------------------------

    def close(self) -> None:
        """Send a close frame (its code says why) and close once the output has gone."""
        ws = self._ws
        if ws is None:
            self._transport.loseConnection()
            return
        session = self.session
        cause = session.disconnect_cause if session is not None else None
        # A registered producer keeps a TLS transport from starting its shutdown.
        self._transport.unregisterProducer()
        try:
            ws.loseConnection(CLOSE_CODES.get(cause or "", 1000))
        except Exception:  # the closing handshake had begun already
            self._transport.loseConnection()

    def abort(self) -> None:
        """Drop the connection at once."""
        self._closed = True
        self._transport.abortConnection()

    def pause(self) -> None:
        """Stop reading (a password is being checked)."""
        self._transport.pauseProducing()

    def resume(self) -> None:
        """Read again."""
        self._transport.resumeProducing()


def bypass_http_channel(channel: Any, protocol: Any) -> bool:
    """Make ``protocol`` the receiver of the upgraded connection's bytes in place of Twisted's
    HTTP channel, so that the channel (its parser state and buffers) and the upgrade's
    ``Request`` (its headers, arguments, body buffer, addresses: in all about 3.7 KiB per
    connection) are freed at once; ``False`` (nothing changed) when the connection is not
    built as this expects.

    Twisted's upgrade (``HTTPChannel._protocolUpgradeForWebsockets``) leaves the channel in
    the path as a relay: it points the channel's ``dataReceived`` and ``connectionLost`` at
    the WebSocket wire protocol, and the socket's transport keeps calling the channel through
    the ``_GenericHTTPChannelProtocol`` that wraps it. Nothing else of the channel is used
    after the upgrade: its idle timer is off while a request is handled (and the adapter
    cancels it as well), its producer role ends when the adapter registers the send-queue
    watch, and no second request follows an upgrade. So the relay is cut where the wrapper
    is held: the socket transport's ``protocol`` (plain TCP, ``tcp.Connection``), or a
    wrapping transport's ``wrappedProtocol`` (TLS's ``TLSMemoryBIOProtocol``, the PROXY
    protocol's wrapper, both ``ProtocolWrapper``). Either then calls ``dataReceived(data)`` and
    ``connectionLost(reason)`` on ``protocol``, as it did on the wrapper. (The wire protocol's
    own ``connectionLost``, no longer in that path, only passes the call on to the adapter,
    plus a client's rejected handshake, which a server never has.)

    The channel's list of requests, which holds the upgrade's ``Request`` (unfinished: a
    WebSocket's request never is), is emptied: the request and the channel point at each
    other, and that cycle would otherwise wait for the garbage collector (run seldom with the
    server's thresholds) while the next connections allocate afresh. Nothing reads the list
    after an upgrade: the channel left line mode for good, and its ``connectionLost`` (which
    would tell the requests) is the wire protocol's since the upgrade.

    The wrapper is recognised by its ``_channel`` attribute being ``channel``: if Twisted ever
    builds the connection otherwise, no holder matches and the channel stays (the connection
    works as before, only larger). ``tests/test_websocket_adapter.py`` checks the hand-over,
    and that the channel and request are freed by reference counting alone, on Twisted's real
    channel, so a change in Twisted shows there first.
    """
    transport = channel.transport
    for name in ("protocol", "wrappedProtocol"):
        wrapper = getattr(transport, name, None)
        if wrapper is not None and getattr(wrapper, "_channel", None) is channel:
            setattr(transport, name, protocol)
            requests = getattr(channel, "requests", None)
            if isinstance(requests, list):
                requests.clear()
            return True
    return False


def drop_client_handshake_wait(wire: Any) -> bool:
    """Free the ``Deferred`` that Twisted's WebSocket wire protocol keeps for a client's
    handshake (about 150 bytes per connection), on this server side where nothing fires it or
    waits for it; ``False`` (nothing changed) if it is not there as expected.

    ``_WebSocketWireProtocol.makeConnection`` makes ``_done`` on both sides. It is fired (and
    deleted) only by ``_completeConnection`` and ``_rejectConnection``, on wsproto's
    ``AcceptConnection`` and ``RejectConnection`` events, which only a client's handshake
    produces: on a server, ``WebSocketResource`` builds the wire protocol around a wsproto
    ``Connection`` that is already accepted, and such a connection emits only messages, pings,
    pongs and close events. Nothing else reads it on a server (``WebSocketClientEndpoint``
    awaits it, on a client). Only an unfired ``Deferred`` is dropped.
    """
    done = getattr(wire, "_done", None)
    if isinstance(done, Deferred) and not done.called:
        del wire._done
        return True
    return False


class KeptAlive(Protocol):
    """What :class:`Keepalive` visits (a :class:`ChatWebSocket`)."""

    def keepalive(self) -> None:
        """Ping, or end a client that has not answered the previous ping."""


class Keepalive:
    """The keepalive pings of every open WebSocket of one site, on one timer.

    Each socket is pinged every ``interval`` seconds, and disconnected by its next turn if it
    has not answered (:meth:`ChatWebSocket.keepalive`). Rather than a timer per connection (a
    ``DelayedCall`` is about 450 bytes, rescheduled at every ping), the sockets are spread over
    :attr:`SLOTS` slots and one timer visits one slot every ``interval / SLOTS`` seconds. A
    socket joins the slot visited last, so its first ping comes between ``(SLOTS - 1) /
    SLOTS`` of an interval and a whole interval after it opened, and the pings of sockets that
    opened at different times stay spread over the interval instead of coming all at once. The
    timer runs only while there is a socket to ping.
    """

    #: Slots the interval is cut into.
    SLOTS = 10

    def __init__(self, clock: IReactorTime, interval: float) -> None:
        self.clock = clock
        #: Seconds between two pings of one socket.
        self.interval = interval
        self._slots: list[dict[KeptAlive, None]] = [{} for _ in range(self.SLOTS)]
        self._next = 0  # the slot the timer visits next
        self._count = 0
        self._timer: IDelayedCall | None = None

    def __len__(self) -> int:
        """Sockets being pinged."""
        return self._count

    def add(self, socket: KeptAlive) -> int:
        """Ping ``socket`` from now on; its slot, for :meth:`discard`."""
        slot = (self._next - 1) % self.SLOTS
        self._slots[slot][socket] = None
        self._count += 1
        if self._timer is None:
            self._timer = self.clock.callLater(self.interval / self.SLOTS, self._visit)
        return slot

    def discard(self, socket: KeptAlive, slot: int) -> None:
        """Stop pinging ``socket`` (in ``slot``); the timer stops with the last one."""
        sockets = self._slots[slot]
        if socket in sockets:
            del sockets[socket]
            self._count -= 1
        if not self._count and self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None

    def _visit(self) -> None:
        """Ping (or end) every socket of the next slot."""
        self._timer = None
        sockets = self._slots[self._next]
        self._next = (self._next + 1) % self.SLOTS
        for socket in list(sockets):
            socket.keepalive()
        if self._count and self._timer is None:
            self._timer = self.clock.callLater(self.interval / self.SLOTS, self._visit)


class ChatWebSocketFactory:
    """Builds a :class:`ChatWebSocket` for each upgrade request; its sessions are admitted by
    the one :class:`~twisted_chat.server.ChatServer` that also admits TCP connections, and its
    events rendered as frames by one shared ``renderer``."""

    def __init__(
        self,
        server: ChatServer,
        renderer: FrameRenderer,
        ping_interval: float = DEFAULT_PING_INTERVAL,
    ) -> None:
        self.server = server
        self.renderer = renderer
        self.ping_interval = ping_interval
        #: The keepalive pings of this factory's sockets (``None``: ``--web-ping 0``).
        self.keepalive = Keepalive(server.chat.clock, ping_interval) if ping_interval > 0 else None

    def buildProtocol(self, request: Request) -> ChatWebSocket:
        """The protocol for one upgraded request."""
        return ChatWebSocket(self.server, self.renderer, request, self.keepalive)
