"""The unit tests' doubles of a connection, no sockets: one fake client and one fake session.

:class:`Client` is one test connection: the real TCP adapter, a
:class:`~twisted_chat.tcp.ChatProtocol` built by the real :class:`~twisted_chat.tcp.ChatTCPFactory`,
connected to a :class:`RecordingTransport` (a ``StringTransport`` that also keeps each write)
whose peer address the test chooses, fed bytes with ``dataReceived``; :meth:`Client.received`
returns the lines the server wrote since the last call. :class:`Clients` opens them from fresh
addresses and ports. A connection of the WebSocket's kind (``Clients.connect(..., frames=...)``)
is the same adapter counted as ``websocket`` and written the
:class:`~twisted_chat.web.frames.FrameRenderer`'s frames, which :meth:`Client.received` decodes
back into lines: what the session and the room do for a WebSocket member, without the HTTP
upgrade, the pings and the message cap of :class:`~twisted_chat.web.protocol.ChatWebSocket`
(tested end to end in ``tests/e2e/test_websocket.py``).

:class:`FakeSession` is a :class:`~twisted_chat.room.ChatSession` with no transport at all, for
tests of the chat core alone: it records what it is delivered (rendered as v1 lines) and every
control call, and keeps recording after it was closed.

Time comes from a ``Clock`` set to :data:`EPOCH`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPushProducer
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from twisted_chat.assembly import Chat
from twisted_chat.events import Event, Private, Renderer, Text
from twisted_chat.tcp import ChatProtocol, ChatTCPFactory
from twisted_chat.text import SPANISH, Language
from twisted_chat.web.frames import FrameRenderer
from twisted_chat.wire import LineRenderer

#: The time of every unit test's clock: 2026-11-24T08:30:00Z.
EPOCH = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)

#: The line terminator of the wire protocol.
CRLF = b"\r\n"

#: The peer host of a bare ``StringTransport()`` (neither loopback nor otherwise exempt).
DEFAULT_PEER_HOST = "192.168.1.1"


def peer_address(host: str, port: int) -> IPv4Address | IPv6Address:
    """A TCP peer address for ``host`` (IPv6 if it contains a colon)."""
    if ":" in host:
        return IPv6Address("TCP", host, port)
    return IPv4Address("TCP", host, port)


class WriteFailed(Exception):
    """Raised by a :class:`RecordingTransport` told to fail."""


class RecordingTransport(StringTransport):
    """A ``StringTransport`` that also keeps each object written, and can be made to fail."""

    def __init__(self, peerAddress: IPv4Address | IPv6Address | None = None) -> None:
        super().__init__(peerAddress=peerAddress)
        self.writes: list[bytes] = []
        self.fail_writes = False

    def write(self, data: bytes) -> None:
        """Record ``data`` (the object itself), or raise if told to fail."""
        if self.fail_writes:
            raise WriteFailed("the client's socket is broken")
        self.writes.append(data)
        super().write(data)


class WebSocketKind(ChatProtocol):
    """The TCP adapter in the WebSocket's place: counted as a ``websocket`` connection, its
    events rendered by the :class:`~twisted_chat.web.frames.FrameRenderer` it is given (lines
    still come in as CRLF-terminated bytes)."""

    kind = "websocket"


def decode_lines(data: bytes) -> list[str]:
    """The v1 lines of ``data``; it must end in CRLF and hold no bare CR or LF."""
    if not data:
        return []
    if not data.endswith(CRLF):
        raise AssertionError(f"server output does not end in CRLF: {data!r}")
    lines = data[: -len(CRLF)].split(CRLF)
    for line in lines:
        if b"\r" in line or b"\n" in line:
            raise AssertionError(f"bare CR or LF in server output: {data!r}")
    return [line.decode("utf-8") for line in lines]


def decode_frames(data: bytes) -> list[str]:
    """The lines carried by ``data``, a run of whole WebSocket text frames as the server sends
    them (unmasked, unfragmented, one line each without its CRLF)."""
    lines: list[str] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 2 or data[offset] != 0x81 or data[offset + 1] & 0x80:
            raise AssertionError(f"not an unmasked text frame at {offset}: {data!r}")
        size, start = data[offset + 1], offset + 2
        if size == 126:
            size, start = int.from_bytes(data[start : start + 2], "big"), start + 2
        elif size == 127:
            size, start = int.from_bytes(data[start : start + 8], "big"), start + 8
        payload = data[start : start + size]
        if len(payload) != size:
            raise AssertionError(f"a frame cut short at {offset}: {data!r}")
        if b"\r" in payload or b"\n" in payload:
            raise AssertionError(f"CR or LF in a frame: {data!r}")
        lines.append(payload.decode("utf-8"))
        offset = start + size
    return lines


class Client:
    """One test connection from ``host``: a real ``ChatProtocol`` on a recording transport
    (with ``frames``, one of the WebSocket's kind: see :class:`WebSocketKind`)."""

    def __init__(
        self,
        factory: ChatTCPFactory,
        host: str,
        port: int,
        *,
        frames: FrameRenderer | None = None,
    ) -> None:
        address = peer_address(host, port)
        self.transport = RecordingTransport(peerAddress=address)
        if frames is None:
            self.protocol: ChatProtocol = factory.buildProtocol(address)
        else:
            self.protocol = WebSocketKind(factory.server, frames)
        self._decode = decode_lines if frames is None else decode_frames
        self.protocol.makeConnection(self.transport)

    def send(self, data: str | bytes) -> None:
        """Deliver ``data`` (UTF-8 encoded if text) as one TCP chunk."""
        self.protocol.dataReceived(data.encode("utf-8") if isinstance(data, str) else data)

    def send_bytewise(self, data: bytes) -> None:
        """Deliver ``data`` one byte per TCP chunk."""
        for i in range(len(data)):
            self.protocol.dataReceived(data[i : i + 1])

    def received(self) -> list[str]:
        """The lines written since the last call, decoded: CRLF-terminated lines (each must end
        in CRLF), or for a connection of the WebSocket's kind one line per text frame."""
        data = self.transport.value()
        self.transport.clear()
        return self._decode(data)

    def lose(self, reason: Exception | None = None) -> None:
        """The connection is gone, as the reactor reports it (by default ``ConnectionDone``:
        a clean close or FIN)."""
        self.protocol.connectionLost(Failure(reason or ConnectionDone()))

    @property
    def producer(self) -> IPushProducer:
        """The streaming producer the protocol registered on its transport."""
        producer: Any = self.transport.producer
        if producer is None:
            raise AssertionError("the protocol registered no producer on its transport")
        return cast(IPushProducer, producer)

    @property
    def closing(self) -> bool:
        """Whether the server asked the transport to close (``loseConnection`` or abort)."""
        return bool(self.transport.disconnecting)

    @property
    def aborted(self) -> bool:
        """Whether the server aborted the transport (``abortConnection``)."""
        return bool(self.transport.disconnected)


class Clients(list[Client]):
    """The connections a unit test opened, in order; each comes from a fresh port and, unless the
    test picks its host, from a fresh address in 198.51.100.0/24 (TEST-NET-2)."""

    def __init__(self) -> None:
        super().__init__()
        self._ports = itertools.count(40000)
        self._hosts = itertools.count(1)

    def connect(
        self,
        factory: ChatTCPFactory,
        host: str | None = None,
        *,
        frames: FrameRenderer | None = None,
    ) -> Client:
        """A new connection to ``factory``'s server from ``host`` (its prompt not read yet); with
        ``frames`` (the chat's :attr:`~twisted_chat.assembly.Chat.frames`), one of the
        WebSocket's kind."""
        if host is None:
            host = f"198.51.100.{next(self._hosts)}"
        client = Client(factory, host, next(self._ports), frames=frames)
        self.append(client)
        return client

    def drain(self) -> None:
        """Forget what every connection has received so far."""
        for client in self:
            client.received()


def tcp_factory(chat: Chat) -> ChatTCPFactory:
    """The TCP transport's factory for ``chat``'s server (what ``--port`` listens with)."""
    return ChatTCPFactory(chat.server, chat.lines)


class FakeSession:
    """A :class:`~twisted_chat.room.ChatSession` without a transport, for the chat core alone.

    Whatever it is delivered (``deliver``, ``deliver_all``, ``echo``) it renders with its
    ``renderer`` (v1 lines, Spanish, unless given another) into :attr:`delivered`, with what it is
    ``send``-t as it is. Each control call (``logged_in``, ``hold``, ``release``, ``close``,
    ``abort``, ``disconnect``) is appended to :attr:`calls` and also leaves its mark
    (:attr:`nickname`, :attr:`held`, :attr:`closed`, :attr:`aborted`, :attr:`cause`). It never
    starts :attr:`closing` by itself and keeps recording after it was closed, so that a test sees
    whatever the core still sends a session that left.
    """

    def __init__(self, renderer: Renderer | None = None, host: str = "192.0.2.1") -> None:
        self.nickname: str | None = None
        self.renderer: Renderer = renderer or LineRenderer(Language(SPANISH))
        self.host = host
        #: Every event delivered, rendered, and every ``send``, in order.
        self.delivered: list[bytes] = []
        #: The control calls, in order: ``("hold",)``, ``("disconnect", cause)``, ...
        self.calls: list[tuple[str, ...]] = []
        self.closing = False
        self.quit_reason: str | None = None
        self.held = False
        self.closed = False
        self.aborted = False
        #: The cause of the last ``disconnect``, if any.
        self.cause: str | None = None

    def logged_in(self, nickname: str) -> None:
        """Record the nickname."""
        self.calls.append(("logged_in", nickname))
        self.nickname = nickname

    def hold(self) -> None:
        """Record the hold."""
        self.calls.append(("hold",))
        self.held = True

    def release(self) -> None:
        """Record the release."""
        self.calls.append(("release",))
        self.held = False

    def deliver(self, event: Event) -> None:
        """Record ``event``, rendered."""
        self.delivered.append(self.renderer.render(event))

    def deliver_all(self, events: Sequence[Event]) -> None:
        """Record ``events``, rendered."""
        self.delivered.extend(self.renderer.render(event) for event in events)

    def echo(self, event: Private) -> None:
        """Record the sender's copy of ``event``, rendered."""
        self.delivered.append(self.renderer.render_echo(event))

    def send(self, data: bytes) -> None:
        """Record ``data`` (rendered already)."""
        self.delivered.append(data)

    def close(self) -> None:
        """Record the close."""
        self.calls.append(("close",))
        self.closed = True

    def abort(self) -> None:
        """Record the abort."""
        self.calls.append(("abort",))
        self.aborted = True

    def disconnect(self, cause: str, text: Text | None = None) -> None:
        """Record the close and its cause."""
        self.calls.append(("disconnect", cause))
        self.closed = True
        self.cause = cause
