"""Real-TCP test helpers: a line-collecting chat client and an in-process server.

:func:`start_server` builds the server exactly as ``twistd chat`` does (``Options`` parsed from a
command line, then ``makeService``), listening on an ephemeral loopback port, with an SQLite file
in a temporary directory unless another ``--db`` is given. :class:`ChatClient` talks to it over a
real socket and collects each server line; every wait is bounded by
:data:`tests.support.waits.TIMEOUT`.

The server's :class:`~twisted_chat.tcp.ChatTCPFactory` is wrapped, its behaviour unchanged, so
that a test can wait until the server has *read* a segment (:meth:`ChatServer.send_segments`),
which is how the framing tests prove that a line really arrived in several reads, and so that
teardown can wait for the server side of every connection to be gone.
"""

from __future__ import annotations

import re
import shutil
import socket
import struct
import tempfile
import unicodedata
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from twisted.internet import defer, endpoints
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure

from tests.support.expected import MISSED_LINE, RETENTION_ANY, STORED_LINE, VISIT_ANY
from tests.support.waits import DB_TIMEOUT, TIMEOUT, get_reactor, wait, wait_until
from twisted_chat.service import ChatService
from twisted_chat.tap import Options, makeService
from twisted_chat.tcp import ChatProtocol, ChatTCPFactory
from twisted_chat.text import Catalogue

#: The visit line that ends a login's lines (see :meth:`ChatClient.after_welcome`).
VISIT_LINE = VISIT_ANY
#: The retention line right after the welcome (protocol v1.1, history).
RETENTION_LINE = RETENTION_ANY


def nfc(text: str) -> str:
    """``text`` in Unicode NFC, as the server normalises nicknames."""
    return unicodedata.normalize("NFC", text)


class ChatClient(Protocol):
    """A client connection that splits server lines on CRLF, decodes them and queues them."""

    def __init__(self, name: str, texts: Catalogue) -> None:
        self.name = name
        self.texts = texts
        self.nickname: str | None = None
        #: The stored lines replayed at its last login (protocol v1.1, history).
        self.replayed: list[str] = []
        #: Every line received so far, in order (read or not).
        self.received: list[str] = []
        self.lost: defer.Deferred[None] = defer.Deferred()
        self.closed = False
        self.close_reason: Failure | None = None
        self._unread: deque[str] = deque()
        self._buffer = b""
        self._waiter: defer.Deferred[None] | None = None
        self._transport: Any = None
        #: The client's own port (the server's peer port for this connection), once connected.
        self.local_port = 0

    def __repr__(self) -> str:
        return f"<ChatClient {self.name} nick={self.nickname!r}>"

    # -- Protocol ---------------------------------------------------------------------------

    def connectionMade(self) -> None:
        """Send every write at once (no Nagle), so separate writes leave as separate segments."""
        self._transport = self.transport
        self._transport.setTcpNoDelay(True)
        self.local_port = self._transport.getHost().port

    def dataReceived(self, data: bytes) -> None:
        """Queue each complete CRLF-terminated line, decoded as UTF-8."""
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\r\n")
        for raw in lines:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = f"<server sent invalid UTF-8: {raw!r}>"
            self.received.append(text)
            self._unread.append(text)
        if lines:
            self._wake()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Remember that the connection is gone and wake any reader."""
        self.closed = True
        self.close_reason = reason
        self._wake()
        self.lost.callback(None)

    def _wake(self) -> None:
        if self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            waiter.callback(None)

    # -- reading ----------------------------------------------------------------------------

    @property
    def unread(self) -> list[str]:
        """Lines received and not read yet."""
        return list(self._unread)

    async def line(self, timeout: float = TIMEOUT) -> str:
        """The next server line; fail if none arrives within ``timeout`` or the server closed."""
        while not self._unread:
            if self.closed:
                raise AssertionError(
                    f"{self}: connection closed with no further line "
                    f"(unterminated bytes {self._buffer!r})"
                )
            self._waiter = defer.Deferred()
            await wait(
                self._waiter, f"a line for {self} (received so far: {self.received})", timeout
            )
        return self._unread.popleft()

    async def lines(self, count: int) -> list[str]:
        """The next ``count`` server lines."""
        return [await self.line() for _ in range(count)]

    async def expect(self, pattern: str | re.Pattern[str]) -> str:
        """The next line, which must start with ``pattern`` (a str) or fully match it (a regex)."""
        got = await self.line()
        if isinstance(pattern, str):
            assert got.startswith(pattern), (
                f"{self}: expected a line starting {pattern!r}, got {got!r}"
            )
        else:
            assert pattern.fullmatch(got), f"{self}: expected {pattern.pattern!r}, got {got!r}"
        return got

    async def wait_closed(self) -> None:
        """Wait until the connection is closed (by the server or by us)."""
        if not self.closed:
            await wait(self.lost, f"{self} to be disconnected")

    # -- writing ----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Write raw bytes."""
        self._transport.write(data)

    def say(self, text: str) -> None:
        """Write ``text`` as one CRLF-terminated UTF-8 line."""
        self.send(text.encode("utf-8") + b"\r\n")

    # -- conversations ----------------------------------------------------------------------

    async def login(self, nick: str, *, prompt: bool = True) -> list[str]:
        """Read the prompt (unless ``prompt`` is false), send ``nick``, read the welcome lines.

        Returns the welcome line and the visit line (first visit or previous connection time)
        that ends the lines of a login on a server with a database (:meth:`after_welcome`).
        """
        if prompt:
            assert await self.line() == f"* {self.texts.prompt}"
        self.say(nick)
        expected = nfc(nick.strip(" \t"))
        welcome = await self.line()
        assert welcome == f"* {self.texts.welcome.format(nick=expected)}", welcome
        self.nickname = expected
        return [welcome, await self.after_welcome()]

    async def after_welcome(self) -> str:
        """Read the lines a login gets after its welcome line, and return the visit line.

        They are (protocol v1.1) the retention line, the room's history replay (stored lines,
        kept in :attr:`replayed`; a password login's may end with the line about more messages
        since it left), then the visit line (first visit, or the previous connection's time).
        """
        retention = await self.line()
        assert RETENTION_LINE.fullmatch(retention), (
            f"{self}: expected the retention line, got {retention!r}"
        )
        self.replayed = []
        line = await self.line()
        while STORED_LINE.fullmatch(line) or MISSED_LINE.fullmatch(line):
            self.replayed.append(line)
            line = await self.line()
        assert VISIT_LINE.fullmatch(line), f"{self}: expected the visit line, got {line!r}"
        return line

    async def sync(self) -> None:
        """Barrier: ``/username`` and its fixed reply, which must be the very next line.

        Proves that every earlier line of ours was processed and that nothing else was queued for
        us before the reply.
        """
        assert self.nickname is not None, "sync() needs a logged-in client"
        self.say("/username")
        assert await self.line() == f"* {self.texts.username.format(nick=self.nickname)}"

    # -- leaving ----------------------------------------------------------------------------

    def half_close(self) -> None:
        """Send FIN (``shutdown(SHUT_WR)``) and keep reading."""
        self._transport.loseWriteConnection()

    def reset(self) -> None:
        """Close with ``SO_LINGER`` 0, so that the server gets a RST instead of a FIN."""
        handle = self._transport.getHandle()
        handle.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._transport.abortConnection()

    def close(self) -> None:
        """Close the connection in the ordinary way (FIN after pending writes)."""
        self._transport.loseConnection()

    def abort(self) -> None:
        """Drop the connection at once (test teardown)."""
        if not self.closed and self._transport is not None:
            self._transport.abortConnection()


@dataclass
class ServerSide:
    """What the server did with one connection: the chunks it read, and whether it is gone."""

    protocol: ChatProtocol
    chunks: list[bytes] = field(default_factory=list)
    lost: defer.Deferred[None] = field(default_factory=defer.Deferred)
    closed: bool = False
    _chunk_waiter: defer.Deferred[bytes] | None = None

    def next_chunk(self) -> defer.Deferred[bytes]:
        """Fires with the next chunk the server reads, after the server has processed it."""
        assert self._chunk_waiter is None, "one chunk waiter at a time"
        self._chunk_waiter = defer.Deferred()
        return self._chunk_waiter

    def chunk_read(self, data: bytes) -> None:
        """The server read ``data`` (called after its own ``dataReceived``)."""
        self.chunks.append(data)
        if self._chunk_waiter is not None:
            waiter, self._chunk_waiter = self._chunk_waiter, None
            waiter.callback(data)

    def gone(self) -> None:
        """The server's side of the connection is closed."""
        self.closed = True
        self.lost.callback(None)


class _FactoryObserver:
    """Wraps a built server's factory to see each connection's reads and its end (no changes)."""

    def __init__(self, factory: ChatTCPFactory) -> None:
        self.by_peer_port: dict[int, ServerSide] = {}
        self._accept_waiters: dict[int, defer.Deferred[ServerSide]] = {}
        build = factory.buildProtocol

        def build_observed(addr: Any) -> ChatProtocol:
            proto = build(addr)
            side = ServerSide(proto)
            self._observe(proto, side)
            self.by_peer_port[addr.port] = side
            waiter = self._accept_waiters.pop(addr.port, None)
            if waiter is not None:
                waiter.callback(side)
            return proto

        factory.buildProtocol = build_observed  # type: ignore[method-assign]

    @staticmethod
    def _observe(proto: ChatProtocol, side: ServerSide) -> None:
        data_received = proto.dataReceived
        connection_lost = proto.connectionLost

        def observed_data_received(data: bytes) -> None:
            try:
                data_received(data)
            finally:
                side.chunk_read(data)

        def observed_connection_lost(reason: Failure = connectionDone) -> None:
            try:
                connection_lost(reason)
            finally:
                side.gone()

        proto.dataReceived = observed_data_received  # type: ignore[method-assign]
        proto.connectionLost = observed_connection_lost  # type: ignore[method-assign]

    def accepted(self, peer_port: int) -> defer.Deferred[ServerSide]:
        """Fires with the server side of the connection from ``peer_port`` once accepted."""
        side = self.by_peer_port.get(peer_port)
        if side is not None:
            return defer.succeed(side)
        waiter: defer.Deferred[ServerSide] = defer.Deferred()
        self._accept_waiters[peer_port] = waiter
        return waiter


class ChatServer:
    """A running server built by ``makeService``, its clients, and their teardown."""

    def __init__(
        self, service: ChatService, port: int, db: str, directory: Path, observer: _FactoryObserver
    ) -> None:
        self.service = service
        self.port = port
        self.db = db
        self.directory = directory
        self.texts: Catalogue = service.parts.chat.language.texts
        self.clients: list[ChatClient] = []
        self._observer = observer
        self._stopped = False

    async def __aenter__(self) -> ChatServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- clients ----------------------------------------------------------------------------

    async def connect(
        self,
        name: str | None = None,
        *,
        bind: str | None = None,
        endpoint: IStreamClientEndpoint | None = None,
    ) -> ChatClient:
        """A new client connected to the server (prompt not read yet), once the server accepted.

        ``bind`` picks the client's local address; ``endpoint`` replaces the plain TCP one to the
        server's first listener (e.g. a TLS endpoint to another listener).
        """
        client = ChatClient(name or f"client{len(self.clients) + 1}", self.texts)
        if endpoint is None:
            bind_address = (bind, 0) if bind is not None else None
            endpoint = endpoints.TCP4ClientEndpoint(
                get_reactor(), "127.0.0.1", self.port, timeout=5, bindAddress=bind_address
            )
        await wait(endpoints.connectProtocol(endpoint, client), f"{client.name} to connect")
        self.clients.append(client)
        await wait(self._observer.accepted(client.local_port), f"the server to accept {client}")
        return client

    async def login(self, nick: str) -> ChatClient:
        """A new client logged in as ``nick`` (welcome and visit lines read)."""
        client = await self.connect(nick)
        await client.login(nick)
        return client

    async def login_all(self, *nicks: str) -> list[ChatClient]:
        """Log in ``nicks`` one after the other; each earlier client reads each join notice."""
        clients: list[ChatClient] = []
        for nick in nicks:
            client = await self.login(nick)
            for earlier in clients:
                assert await earlier.line() == f"* {self.texts.joined.format(nick=nfc(nick))}"
            clients.append(client)
        return clients

    def server_side(self, client: ChatClient) -> ServerSide:
        """The server's side of ``client``'s connection."""
        return self._observer.by_peer_port[client.local_port]

    def protocol_of(self, nick: str) -> ChatProtocol:
        """The server's protocol for the logged-in user ``nick``."""
        for session in self.service.factory.connections:
            if session.nickname == nick:
                assert isinstance(session.transport, ChatProtocol), session.transport
                return session.transport
        raise AssertionError(f"{nick} is not connected")

    async def send_segments(self, client: ChatClient, segments: Iterable[bytes]) -> None:
        """Send each segment and wait until the server has read and processed exactly it.

        Fails if the server read a segment merged with another or cut in pieces, so a test using
        this really exercises a line arriving in several reads (or several lines in one read).
        """
        side = self.server_side(client)
        for segment in segments:
            chunk = side.next_chunk()
            client.send(segment)
            got = await wait(chunk, f"the server to read {segment[:40]!r} from {client}")
            assert got == segment, f"the server read {got!r}, not the segment {segment!r}"

    async def send_bytewise(self, client: ChatClient, data: bytes) -> None:
        """Send ``data`` one byte per segment, each read by the server on its own."""
        await self.send_segments(client, [data[i : i + 1] for i in range(len(data))])

    async def server_closed(self, client: ChatClient) -> None:
        """Wait until the server has finished with ``client``'s connection (leave processed)."""
        side = self.server_side(client)
        if not side.closed:
            await wait(side.lost, f"the server to drop {client}")

    # -- teardown ---------------------------------------------------------------------------

    async def stop(self) -> None:
        """Drop every client, wait for both ends of each connection, stop the service."""
        if self._stopped:
            return
        self._stopped = True
        try:
            for client in self.clients:
                client.abort()
            for client in self.clients:
                await client.wait_closed()
            for side in list(self._observer.by_peer_port.values()):
                if not side.closed:
                    await wait(side.lost, "the server side of a connection to close")
        finally:
            await wait(defer.maybeDeferred(self.service.stopService), "the service to stop", 15)
            shutil.rmtree(self.directory, ignore_errors=True)


#: Options that switch off the abuse limits (flood control, strikes) for tests of the plain
#: protocol rules, which send dozens of lines, many of them bad, at once. Only the options that
#: this server knows are passed, so these tests run before and after those limits exist.
RELAXED_LIMITS: dict[str, str] = {"flood-rate": "0", "max-strikes": "0"}


def relaxed_limits() -> list[str]:
    """The :data:`RELAXED_LIMITS` options that :class:`Options` accepts, as arguments."""
    known = {str(row[0]) for row in Options.optParameters}
    return [f"--{name}={value}" for name, value in RELAXED_LIMITS.items() if name in known]


def server_arguments(db: str, extra_args: Sequence[str] = (), relax: bool = True) -> list[str]:
    """The ``twistd chat`` command line of a test server (loopback, ephemeral port)."""
    relaxed = relaxed_limits() if relax else []
    return ["--port", "tcp:0:interface=127.0.0.1", "--db", db, *relaxed, *extra_args]


async def start_server(
    *extra_args: str, db: str | None = None, relax: bool = True, ready: bool = True
) -> ChatServer:
    """Start a server built as ``twistd chat ARGS`` builds it; ``db`` defaults to a temp SQLite.

    ``extra_args`` are more ``twistd chat`` options (``"--lang", "en"``); they come last, so
    they override the :data:`RELAXED_LIMITS` (or pass ``relax=False`` to keep every default).
    With ``ready`` (the default) it returns once the registered nicknames and the bans are
    loaded (bounded), since until then every nickname line is refused with a try-again line.
    Stop the server with :meth:`ChatServer.stop` (or ``async with await start_server() as s``).
    """
    directory = Path(tempfile.mkdtemp(prefix="chat-test-"))
    if db is None:
        db = f"sqlite:{directory / 'chat.sqlite3'}"
    options = Options()
    options.parseOptions(server_arguments(db, extra_args, relax))
    service = makeService(options)
    observer = _FactoryObserver(service.parts.tcp)
    service.startService()
    try:
        ports: list[int] = []
        for listener in service.listeners():
            assert listener.listening is not None
            await wait(listener.listening, f"the server to listen on {listener.description}")
            assert listener.port is not None, f"could not listen on {listener.description}"
            address: Any = listener.port.getHost()
            ports.append(address.port)
        accounts = service.chat.accounts
        if ready and accounts is not None:
            await wait_until(
                lambda: accounts.loaded, "the registered nicknames to load", timeout=DB_TIMEOUT
            )
        bans = service.chat.bans
        if ready and bans is not None:
            await wait_until(lambda: bans.loaded, "the bans to load", timeout=DB_TIMEOUT)
    except BaseException:
        await defer.maybeDeferred(service.stopService)
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return ChatServer(service, ports[0], db, directory, observer)
