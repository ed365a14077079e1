"""Listening behind a load balancer that speaks the PROXY protocol (``--port haproxy:...``).

Twisted's own ``haproxy:`` endpoint (``twisted.protocols.haproxy``) connects the wrapped
protocol as soon as the TCP connection is made, before the PROXY header has arrived: a
protocol that looks at ``getPeer()`` in ``connectionMade``, as ours does to count connections
per address, sees the balancer's address. :class:`ProxiedConnection` hands the connection to
the chat only once the header has been read, so every per-address limit and log sees the
client's address. A connection that sends no valid header within :data:`HEADER_TIMEOUT`
seconds is closed, and so is one whose first bytes are not a PROXY header.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IDelayedCall, IStreamServerEndpoint
from twisted.protocols.haproxy._exceptions import InvalidProxyHeader
from twisted.protocols.haproxy._v1parser import V1Parser
from twisted.protocols.haproxy._v2parser import V2Parser
from twisted.protocols.haproxy._wrapper import HAProxyProtocolWrapper, HAProxyWrappingFactory
from twisted.protocols.policies import ProtocolWrapper
from twisted.python.failure import Failure

#: Seconds a connection may take to send its PROXY header.
HEADER_TIMEOUT = 10.0


class ProxiedConnection(HAProxyProtocolWrapper):
    """A PROXY-protocol connection whose chat protocol starts after the header."""

    _started = False
    _timer: IDelayedCall | None = None
    _pending = b""

    def makeConnection(self, transport: Any) -> None:
        """Accept the TCP connection; the chat protocol is connected by :meth:`dataReceived`."""
        from twisted.internet import reactor

        self._started = False
        self._pending = b""
        self._timer = reactor.callLater(HEADER_TIMEOUT, self._no_header)
        # ProtocolWrapper.makeConnection, without connecting the wrapped protocol yet.
        saved = self.wrappedProtocol
        self.wrappedProtocol = _Nothing()  # type: ignore[assignment]
        try:
            ProtocolWrapper.makeConnection(self, transport)
        finally:
            self.wrappedProtocol = saved

    def dataReceived(self, data: bytes) -> None:
        """Read the header; then connect the chat protocol and pass it what follows."""
        if self._started:
            self.wrappedProtocol.dataReceived(data)
            return
        data = self._pending + data
        parser = self._parser
        if parser is None:
            if len(data) < 16 and _could_be_a_header(data):
                self._pending = data  # too short to tell yet
                return
            if data[:12] == V2Parser.PREFIX and ord(data[12:13]) & 0b11110000 == 0x20:
                self._parser = parser = V2Parser()
            elif data[:5] == V1Parser.PROXYSTR:
                self._parser = parser = V1Parser()
            else:
                self._refuse()
                return
        self._pending = b""
        try:
            self._proxyInfo, remaining = parser.feed(data)
        except InvalidProxyHeader:
            self._refuse()
            return
        if self._proxyInfo is None:
            return  # the header is not complete yet
        self._started = True
        self._cancel_timer()
        self.wrappedProtocol.makeConnection(self)  # type: ignore[arg-type]
        if remaining:
            self.wrappedProtocol.dataReceived(remaining)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        """Tell the chat protocol, if it was ever connected."""
        self._cancel_timer()
        if self._started:
            super().connectionLost(reason)
        else:
            self.factory.unregisterProtocol(self)

    def _no_header(self) -> None:
        self._timer = None
        if not self._started:
            self._refuse()

    def _refuse(self) -> None:
        self._cancel_timer()
        transport: Any = self.transport
        transport.abortConnection()

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None


def _could_be_a_header(data: bytes) -> bool:
    """Whether ``data`` (fewer than 16 bytes) is the start of a v1 or v2 PROXY header."""
    return V2Parser.PREFIX.startswith(data[:12]) or V1Parser.PROXYSTR.startswith(data[:5])


class _Nothing:
    """Stands in for the wrapped protocol while the header is read."""

    def makeConnection(self, transport: Any) -> None:
        """Nothing to connect yet."""


class ProxiedFactory(HAProxyWrappingFactory):
    """Wraps the chat's factory: each connection starts after its PROXY header."""

    protocol = ProxiedConnection  # type: ignore[assignment]


def proxied(endpoint: IStreamServerEndpoint) -> IStreamServerEndpoint:
    """``endpoint``, listening for connections that start with a PROXY header (v1 or v2)."""
    from twisted.internet.endpoints import _WrapperServerEndpoint

    wrapped: IStreamServerEndpoint = _WrapperServerEndpoint(endpoint, ProxiedFactory)
    return wrapped
