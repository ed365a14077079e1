"""The TCP side of the client: the line protocol, and what a session remembers across
connections.

:class:`ChatLineProtocol` frames server lines (CRLF, or a bare LF) and writes client lines with
CRLF. :class:`ChatSession` outlives any one connection: it sends the nickname line first on every
connection, recognises the nickname the server accepted (the first ``* `` line after the prompt
that names it, docs/PROTOCOL.md "Handshake") and logs in again with it after a reconnect.
:func:`reconnecting_service` keeps a session connected with backoff.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final
from typing import Protocol as TypingProtocol

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory, connectionDone
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure

from twisted_chat.client.render import decode

#: Commands after which the server closes the connection.
QUIT_COMMANDS = frozenset({"/salir", "/quit"})
#: Longest server line accepted (a ``/listar`` of a big room is long); longer ones close.
MAX_SERVER_LINE = 4 * 1024 * 1024


class SessionUI(TypingProtocol):
    """What a session tells the user interface (the terminal, or stdout in piped mode)."""

    def connected(self, reconnected: bool) -> None:
        """A connection to the server is up; ``reconnected`` unless it is the first one."""

    def server_line(self, line: str) -> None:
        """The server sent ``line`` (decoded, without its terminator)."""

    def disconnected(self, reason: Failure) -> None:
        """The connection to the server is gone."""


def nickname_of(login_line: str) -> str:
    """The nickname in a nickname line (``NICK`` or ``NICK PASSWORD``), as the server sees it:
    stripped of spaces and tabs, first word, NFC."""
    words = login_line.strip(" \t").replace("\t", " ").split(" ", 1)
    return unicodedata.normalize("NFC", words[0])


#: The notice of a nickname change (``/nick``), in either language of the server.
_RENAMED: Final = re.compile(r"\* (\S+) (?:ahora se llama|is now known as) (\S+)\.")


def renamed_to(line: str, nickname: str) -> str | None:
    """The new nickname if ``line`` is the notice that ``nickname`` changed its nickname
    (``* ana ahora se llama anita.``), else ``None``."""
    match = _RENAMED.fullmatch(line)
    if match is None or match.group(1).casefold() != nickname.casefold():
        return None
    return match.group(2)


def is_quit(line: str) -> bool:
    """Whether ``line`` is ``/salir`` or ``/quit`` (any case, arguments ignored)."""
    words = line.split(maxsplit=1)
    return bool(words) and words[0].casefold() in QUIT_COMMANDS


class ChatLineProtocol(LineReceiver):
    """One TCP connection to the server; every event goes to its :class:`ChatSession`."""

    delimiter = b"\n"
    MAX_LENGTH = MAX_SERVER_LINE

    def __init__(self, session: ChatSession) -> None:
        self.session = session

    def connectionMade(self) -> None:
        """Tell the session (which sends the nickname line, if it has one)."""
        self.session.connection_made(self)

    def lineReceived(self, line: bytes) -> None:
        """Strip the CR of CRLF and hand the decoded line to the session."""
        if line.endswith(b"\r"):
            line = line[:-1]
        self.session.line_received(decode(line))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Tell the session."""
        self.session.connection_lost(self, reason)

    def send_line(self, text: str) -> None:
        """Write ``text`` as one CRLF-terminated UTF-8 line."""
        self.sendLine(text.encode("utf-8", errors="surrogateescape"))

    def sendLine(self, line: bytes) -> None:
        """Client lines end in CRLF (the server accepts LF too; CRLF is what telnet sends)."""
        assert self.transport is not None
        self.transport.write(line + b"\r\n")


class ChatSession:
    """The client's state across connections: the login line and the accepted nickname."""

    log = Logger()

    def __init__(self, ui: SessionUI, login_line: str | None = None) -> None:
        self.ui = ui
        #: The nickname line sent first on each connection (``--nick``, or the accepted one).
        self.login_line = login_line
        #: The nickname the server accepted, once it has (kept across reconnects).
        self.nickname: str | None = None
        #: Whether the current connection is past the handshake.
        self.logged_in = False
        #: The user asked to quit: the next disconnect is the end, not a reason to reconnect.
        self.quitting = False
        self.protocol: ChatLineProtocol | None = None
        self.connections = 0
        self._pending: str | None = None
        self._lines_this_connection = 0

    # -- from the protocol ------------------------------------------------------------------

    def connection_made(self, protocol: ChatLineProtocol) -> None:
        """A new connection: log in with the remembered nickname line, if any."""
        self.protocol = protocol
        self.connections += 1
        self.logged_in = False
        self._pending = None
        self._lines_this_connection = 0
        self.ui.connected(self.connections > 1)
        if self.login_line is not None:
            self._send_login(self.login_line)

    def line_received(self, line: str) -> None:
        """Watch the handshake for the welcome, then pass the line on to the UI."""
        self._lines_this_connection += 1
        if self._pending is not None and self._lines_this_connection > 1:
            self._check_login(line)
        elif self.logged_in and self.nickname is not None and line.startswith("* "):
            self._check_rename(line, self.nickname)
        self.ui.server_line(line)

    def connection_lost(self, protocol: ChatLineProtocol, reason: Failure) -> None:
        """The connection is gone; tell the UI."""
        if protocol is not self.protocol:
            return
        self.protocol = None
        self.logged_in = False
        self._pending = None
        self.ui.disconnected(reason)

    # -- from the user ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a connection is up."""
        return self.protocol is not None

    def send(self, text: str) -> bool:
        """Send one line the user typed; False if there is no connection to send it on.

        Before the handshake is over the line is a nickname attempt; ``/salir`` after it means
        the coming disconnect is the end.
        """
        if self.protocol is None:
            return False
        if not self.logged_in:
            self._send_login(text)
            return True
        if is_quit(text):
            self.quitting = True
        self.protocol.send_line(text)
        return True

    def _send_login(self, line: str) -> None:
        assert self.protocol is not None
        self._pending = line
        self.protocol.send_line(line)

    def _check_login(self, line: str) -> None:
        assert self._pending is not None
        if line.startswith("! "):
            self._pending = None  # rejected; the user's next line is another attempt
        elif line.startswith("* "):
            nick = nickname_of(self._pending)
            if nick and nick.casefold() in line.casefold():
                self.logged_in = True
                self.nickname = nick
                self.login_line = self._pending
                self.log.info("logged in as {nick}", nick=nick)
            self._pending = None

    def _check_rename(self, line: str, nickname: str) -> None:
        """Follow our own nickname change: the prompt shows the new nickname, and a reconnect
        logs in with it (with the password of the login line only for a change of case: a
        password is its account's, and the account is the old nickname's)."""
        new = renamed_to(line, nickname)
        if new is None:
            return
        self.nickname = new
        words = (self.login_line or "").strip(" \t").replace("\t", " ").split(" ", 1)
        if len(words) == 2 and new.casefold() == words[0].casefold():
            self.login_line = f"{new} {words[1]}"
        else:
            self.login_line = new
        self.log.info("now known as {nick}", nick=new)

    def quit(self) -> None:
        """The user is leaving: send ``/salir`` if logged in, else just close."""
        self.quitting = True
        if self.protocol is None:
            return
        if self.logged_in:
            self.protocol.send_line("/salir")
        else:
            self._close(self.protocol)

    def close(self) -> None:
        """Close the connection now (quitting)."""
        self.quitting = True
        if self.protocol is not None:
            self._close(self.protocol)

    @staticmethod
    def _close(protocol: ChatLineProtocol) -> None:
        assert protocol.transport is not None
        protocol.transport.loseConnection()


class ChatClientFactory(Factory):
    """Builds one :class:`ChatLineProtocol` per connection, all for one session."""

    def __init__(self, session: ChatSession) -> None:
        self.session = session

    def buildProtocol(self, addr: object) -> ChatLineProtocol:
        """A protocol bound to the session."""
        return ChatLineProtocol(self.session)


def reconnecting_service(
    endpoint: IStreamClientEndpoint, session: ChatSession, clock: IReactorTime
) -> ClientService:
    """A service that keeps ``session`` connected: exponential backoff from 0.5 s, doubling, at
    most 15 s, plus up to 1 s of jitter between attempts."""
    return ClientService(
        endpoint,
        ChatClientFactory(session),
        retryPolicy=backoffPolicy(initialDelay=0.5, maxDelay=15.0, factor=2.0),
        clock=clock,
    )
