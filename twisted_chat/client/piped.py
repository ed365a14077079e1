"""Piped mode, when standard input is not a terminal: the client as a plain script tool.

Each stdin line is sent as it is; each server line is written to stdout as received (no colour,
no prompt; control characters escaped only when stdout is a terminal). The process exits 0 when
the server closes the connection (after ``/salir``) and 1, with a message on stderr, if it cannot
connect or the connection breaks. After stdin ends the client keeps reading until the server
closes, at most ``linger`` seconds, then closes itself.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from twisted.internet import stdio
from twisted.internet.base import DelayedCall
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHalfCloseableProtocol, IStreamClientEndpoint
from twisted.internet.protocol import connectionDone
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_chat.client import render
from twisted_chat.client.connection import ChatClientFactory, ChatLineProtocol, ChatSession

#: Default longest wait, once stdin has ended, for the server to close the connection.
LINGER = 5.0
#: Longest wait for stdout to drain at the end.
FLUSH_TIMEOUT = 5.0
#: Longest stdin line passed on (the server's own limit is 1024 bytes; it answers longer ones).
MAX_STDIN_LINE = 1024 * 1024


@implementer(IHalfCloseableProtocol)
class StdinLines(LineReceiver):
    """Standard input and output: stdin lines to the client, which writes to stdout."""

    delimiter = b"\n"
    MAX_LENGTH = MAX_STDIN_LINE

    def __init__(self, client: PipedClient) -> None:
        self.client = client

    def lineReceived(self, line: bytes) -> None:
        """One stdin line (its CR, if any, stripped), sent verbatim."""
        self.client.stdin_line(line.removesuffix(b"\r"))

    def readConnectionLost(self) -> None:
        """Stdin ended: send a last unterminated line, if any, and wait for the server."""
        if self._buffer:
            rest, self._buffer = self._buffer, b""
            self.lineReceived(rest)
        self.client.stdin_ended()

    def writeConnectionLost(self) -> None:
        """Stdout closed (a reader went away): nothing more to do."""
        self.client.session.close()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Stdio is closed: the client may stop."""
        self.client.stdio_closed()


class PipedClient:
    """The session's UI on plain stdin/stdout."""

    def __init__(
        self,
        reactor: Any,
        endpoint: IStreamClientEndpoint,
        address: str,
        login_line: str | None,
        *,
        escape_output: bool,
        linger: float = LINGER,
        stderr: TextIO | None = None,
    ) -> None:
        self.reactor = reactor
        self.endpoint = endpoint
        self.address = address
        self.escape_output = escape_output
        self.linger = linger
        self.stderr = stderr if stderr is not None else sys.stderr
        self.session = ChatSession(self, login_line)
        self.exit_code = 0
        self.stdio: Any = None
        self._linger_call: DelayedCall | None = None
        self._stopping = False

    def start(self) -> None:
        """Connect; stdin is read only once the connection is up."""
        d = self.endpoint.connect(ChatClientFactory(self.session))
        d.addErrback(self._connect_failed)

    def _connect_failed(self, reason: Failure) -> None:
        self._fail(f"cannot connect to {self.address}: {reason.getErrorMessage()}")
        self.reactor.stop()

    def _fail(self, message: str) -> None:
        self.exit_code = 1
        print(f"twisted-chat-client: {message}", file=self.stderr, flush=True)

    # -- SessionUI --------------------------------------------------------------------------

    def connected(self, reconnected: bool) -> None:
        """Start reading stdin."""
        self.stdio = stdio.StandardIO(StdinLines(self))

    def server_line(self, line: str) -> None:
        """Write the line to stdout."""
        shown = render.escape(line) if self.escape_output else line
        self.stdio.write(shown.encode("utf-8", errors="surrogateescape") + b"\n")

    def disconnected(self, reason: Failure) -> None:
        """The server closed: flush stdout and exit (0 on a clean close)."""
        if not reason.check(ConnectionDone):
            self._fail(f"connection to {self.address} lost: {reason.getErrorMessage()}")
        if self._linger_call is not None and self._linger_call.active():
            self._linger_call.cancel()
        self._stopping = True
        self.stdio.loseConnection()
        self.reactor.callLater(FLUSH_TIMEOUT, self._stop)

    # -- from stdio -------------------------------------------------------------------------

    def stdin_line(self, line: bytes) -> None:
        """Send one stdin line verbatim."""
        protocol: ChatLineProtocol | None = self.session.protocol
        if protocol is not None:
            protocol.sendLine(line)

    def stdin_ended(self) -> None:
        """No more input: the server has ``linger`` seconds to close the connection."""
        if self.session.connected:
            self._linger_call = self.reactor.callLater(self.linger, self.session.close)

    def stdio_closed(self) -> None:
        """Stdout is flushed and closed; if the connection is gone too, stop."""
        if self._stopping:
            self._stop()
        else:
            self.session.close()

    def _stop(self) -> None:
        if self.reactor.running:
            self.reactor.stop()
