"""Doubles for the unit tests: a real :class:`ChatProtocol` on a ``StringTransport``, no sockets.

:class:`Client` is one test connection: a protocol built by the real
:class:`~twisted_chat.tcp.ChatTCPFactory`, connected to a :class:`RecordingTransport` whose peer
address the test chooses, fed bytes with ``dataReceived``; :meth:`Client.received` returns the
lines the server wrote since the last call; :class:`Clients` opens them from fresh addresses and
ports. Time comes from a ``Clock`` set to :data:`EPOCH`.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any, cast

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IPushProducer
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from twisted_chat.assembly import Chat
from twisted_chat.tcp import ChatProtocol, ChatTCPFactory

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


class Client:
    """One test connection from ``host``: a real ``ChatProtocol`` on a recording transport."""

    def __init__(self, factory: ChatTCPFactory, host: str, port: int) -> None:
        address = peer_address(host, port)
        self.transport = RecordingTransport(peerAddress=address)
        self.protocol: ChatProtocol = factory.buildProtocol(address)
        self.protocol.makeConnection(self.transport)

    def send(self, data: str | bytes) -> None:
        """Deliver ``data`` (UTF-8 encoded if text) as one TCP chunk."""
        self.protocol.dataReceived(data.encode("utf-8") if isinstance(data, str) else data)

    def send_bytewise(self, data: bytes) -> None:
        """Deliver ``data`` one byte per TCP chunk."""
        for i in range(len(data)):
            self.protocol.dataReceived(data[i : i + 1])

    def received(self) -> list[str]:
        """The lines written since the last call, decoded; each must end in CRLF."""
        data = self.transport.value()
        self.transport.clear()
        if not data:
            return []
        if not data.endswith(CRLF):
            raise AssertionError(f"server output does not end in CRLF: {data!r}")
        lines = data[: -len(CRLF)].split(CRLF)
        for line in lines:
            if b"\r" in line or b"\n" in line:
                raise AssertionError(f"bare CR or LF in server output: {data!r}")
        return [line.decode("utf-8") for line in lines]

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

    def connect(self, factory: ChatTCPFactory, host: str | None = None) -> Client:
        """A new connection to ``factory`` from ``host`` (its prompt not read yet)."""
        if host is None:
            host = f"198.51.100.{next(self._hosts)}"
        client = Client(factory, host, next(self._ports))
        self.append(client)
        return client

    def drain(self) -> None:
        """Forget what every connection has received so far."""
        for client in self:
            client.received()


def tcp_factory(chat: Chat) -> ChatTCPFactory:
    """The TCP transport's factory for ``chat``'s server (what ``--port`` listens with)."""
    return ChatTCPFactory(chat.server, chat.lines)
