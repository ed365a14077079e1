"""The IRC transport (``--irc``): a third thin adapter over the chat's
:class:`~twisted_chat.session.Session`, beside the TCP line protocol and the WebSocket.

:class:`IrcProtocol` is the TCP adapter of :mod:`twisted_chat.tcp` (our own line splitter, the
socket writer with its direct ``send``) with IRC's differences: a line may carry up to
:data:`~twisted_chat.irc.message.MAX_CLIENT_TAGS` bytes of tags before its 512 bytes (the
splitter's limit is their sum; the 512 are checked when the line is parsed, ``417``), its session
is an :class:`~twisted_chat.irc.session.IrcSession` whose lines go to the IRC interpreter
(:class:`~twisted_chat.irc.commands.IrcCommands`), and a connection the server closes gets IRC's
``ERROR`` line first.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import protocol
from twisted.internet.interfaces import ITCPTransport

from twisted_chat.irc.commands import IrcCommands
from twisted_chat.irc.message import MAX_CLIENT_TAGS, MAX_LINE, format_message
from twisted_chat.irc.session import IrcSession
from twisted_chat.lines import LineSplitter
from twisted_chat.server import ChatServer
from twisted_chat.tcp import ChatProtocol


class IrcProtocol(ChatProtocol):
    """One IRC client connection over TCP (or TLS, or behind the PROXY protocol)."""

    kind = "irc"

    def __init__(self, server: ChatServer, irc: IrcCommands) -> None:
        super().__init__(server, irc.renderer_for(()))
        self.irc = irc
        # A line's tags (up to MAX_CLIENT_TAGS bytes) come on top of IRC's 512 bytes.
        self._splitter = LineSplitter(MAX_LINE + MAX_CLIENT_TAGS)

    def connectionMade(self) -> None:
        """Admit or refuse the connection; an admitted one waits for the client's first line."""
        transport: Any = self.transport
        self._transport = transport
        peer = transport.getPeer()
        host = str(getattr(peer, "host", "") or "")
        server = self.server
        session = IrcSession(
            server.chat, server.limits, self, host, self._renderer, server, server.batcher
        )
        session.init_irc(self.irc)
        self.session = session
        self._to_session = session.lines_received
        if not session.admit():
            return
        if ITCPTransport.providedBy(transport):
            transport.setTcpNoDelay(True)
        self._start_writing(session)
        self._registered = True
        session.start()

    def close(self) -> None:
        """Say ``ERROR`` (why the link closes), then close once it has gone out."""
        session = self.session
        reason = "Closing link"
        if isinstance(session, IrcSession):
            if session.quit_reason is not None:
                reason = f"Quit: {session.quit_reason}" if session.quit_reason else "Quit"
            elif session.disconnect_cause == "ping_timeout":
                reason = "Ping timeout"
            elif session.disconnect_cause is not None:
                reason = f"Closing link ({session.disconnect_cause})"
        self._transport.write(
            format_message("ERROR", (reason,), trailing=True).encode("utf-8") + b"\r\n"
        )
        super().close()


class IrcFactory(protocol.ServerFactory):
    """Builds an :class:`IrcProtocol` per connection of ``server``, all interpreted by one
    ``irc``."""

    noisy = False

    def __init__(self, server: ChatServer, irc: IrcCommands) -> None:
        self.server = server
        self.irc = irc

    def buildProtocol(self, addr: Any) -> IrcProtocol:
        """A protocol for one new connection."""
        proto = IrcProtocol(self.server, self.irc)
        proto.factory = self
        return proto
