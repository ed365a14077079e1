"""The per-connection protocol (bytes and lines) and the factory that owns the chat.

:class:`ChatProtocol` is a ``LineReceiver`` that keeps Twisted's ``sendLine`` but frames input
with its own :class:`~twisted_chat.lines.LineSplitter` (see that module for why), decodes each
line separately and hands text to the :class:`~twisted_chat.chat.ChatCore`.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import protocol
from twisted.internet.interfaces import IAddress, ITCPTransport
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from twisted_chat import wire
from twisted_chat.chat import ChatCore
from twisted_chat.lines import MAX_LINE_LENGTH, TOO_LONG, LineSplitter


class ChatProtocol(LineReceiver):
    """One client connection: framing, UTF-8 decoding, and delivery of server lines."""

    delimiter = b"\r\n"
    MAX_LENGTH = MAX_LINE_LENGTH
    log = Logger()

    def __init__(self, chat: ChatCore, max_line_length: int = MAX_LINE_LENGTH) -> None:
        self.chat = chat
        self.nickname: str | None = None
        self._splitter = LineSplitter(max_line_length)
        self._closing = False
        # The transport with its full interface (ITCPTransport, or whatever the endpoint gave).
        self._transport: Any = None

    # -- connection events ------------------------------------------------------------------

    def connectionMade(self) -> None:
        """Disable Nagle (chat lines are small and latency matters) and prompt for a nickname."""
        self._transport = self.transport
        if ITCPTransport.providedBy(self._transport):
            self._transport.setTcpNoDelay(True)
        self.chat.connected(self)

    def dataReceived(self, data: bytes) -> None:
        """Split ``data`` into lines; stop as soon as the connection is closing."""
        for line in self._splitter.feed(data):
            if self._closing:
                break
            if line is TOO_LONG:
                self.deliver(
                    wire.error(
                        self.chat.texts.line_too_long.format(limit=self._splitter.max_length)
                    )
                )
            else:
                assert isinstance(line, bytes)
                self.lineReceived(line)

    def lineReceived(self, line: bytes) -> None:
        """Decode one line on its own and pass it to the chat; bad UTF-8 gets a ``! `` line."""
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            self.deliver(wire.error(self.chat.texts.bad_utf8))
            return
        self.chat.line_received(self, text)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        """Leave the room (if logged in)."""
        self._closing = True
        self.chat.disconnected(self)

    # -- ChatSession ------------------------------------------------------------------------

    def deliver(self, data: bytes) -> None:
        """Write already-encoded server line(s); ignored once the connection is closing."""
        if not self._closing:
            self._transport.write(data)

    def sendLine(self, line: bytes) -> None:
        """Send one server line (``line`` without terminator), as ``LineReceiver`` does."""
        self.deliver(line + self.delimiter)

    def close(self) -> None:
        """Close after flushing what was delivered; later input and output are dropped."""
        if not self._closing:
            self._closing = True
            self._transport.loseConnection()

    def abort(self) -> None:
        """Drop the connection at once."""
        self._closing = True
        self._transport.abortConnection()

    @property
    def peer(self) -> IAddress:
        """The client's address."""
        peer: IAddress = self._transport.getPeer()
        return peer


class ChatFactory(protocol.ServerFactory):
    """Builds a :class:`ChatProtocol` per connection; owns the one :class:`ChatCore`."""

    protocol = ChatProtocol
    noisy = False

    def __init__(self, chat: ChatCore) -> None:
        self.chat = chat

    def buildProtocol(self, addr: Any) -> ChatProtocol:
        """A protocol bound to this server's chat."""
        proto = ChatProtocol(self.chat)
        proto.factory = self
        return proto
