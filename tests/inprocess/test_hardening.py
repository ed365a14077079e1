"""Hardening features over real loopback TCP: SendQ, input limits, connection limits, TLS.

Each test starts the server in-process exactly as ``twistd chat`` builds it
(:func:`tests.support.chatclient.start_server`) on 127.0.0.1 and talks to it over real sockets:
Twisted clients (:class:`~tests.support.chatclient.ChatClient`) and, where a test needs a socket
that does not read, plain non-blocking sockets polled from the reactor (:class:`RawClient`). Every
wait is bounded, every load loop is bounded in count and in time, and each test fails if the feature
it covers (issue 3, points 1, 2, 4 and 8) were missing.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import endpoints, ssl

from tests.support.chatclient import VISIT_LINE, ChatClient, ChatServer, start_server
from tests.support.expected import (
    BAD_UTF8,
    CONTROL,
    IDLE_TIMEOUT,
    LOGIN_TIMEOUT,
    NICK_INVALID,
    PONG,
    PROMPT,
    RETENTION,
    SERVER_FULL,
    STRIKES,
    TOO_LONG,
    TOO_MANY_FROM_IP,
    joined,
    left,
    username,
    welcome,
)
from tests.support.tls import make_certificate
from tests.support.waits import TIMEOUT, get_reactor, sleep, wait, wait_until
from twisted_chat.tcp import ChatProtocol
from twisted_chat.text import SPANISH

pytestmark = pytest.mark.timeout(90, method="thread")

T = SPANISH

# -- what the tests send (what the server says is in tests/support/expected.py) -----------------

#: The three kinds of bad line (over-long, invalid UTF-8, control characters), as sent.
BAD_LINES = (b"\xff\xfe no es utf-8\r\n", b"x" * 2000 + b"\r\n", b"hola \x1b[31mrojo\r\n")


# -- helpers -------------------------------------------------------------------------------------


async def closed_with(client: ChatClient) -> list[str]:
    """Wait (bounded) until the server closes ``client``; return the lines it had not read."""
    await client.wait_closed()
    return client.unread


class RawClient:
    """A plain non-blocking client socket, polled from the reactor (no Twisted transport).

    It reads only when asked to, so it can play a client that never reads. ``rcvbuf`` is set
    before connecting (so the TCP window is small from the start); ``bind`` picks the local
    address.
    """

    def __init__(self, name: str, *, rcvbuf: int | None = None, bind: str | None = None) -> None:
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if bind is not None:
            self.sock.bind((bind, 0))
        self.buffer = b""
        self.lines: list[str] = []
        self.local_port = 0

    def connect(self, port: int) -> None:
        """Connect to the server (the kernel completes a loopback connect without the reactor)."""
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setblocking(False)
        self.local_port = self.sock.getsockname()[1]

    def send(self, data: bytes) -> None:
        """Send ``data`` (small writes only: the socket is non-blocking)."""
        sent = self.sock.send(data)
        assert sent == len(data), f"{self.name}: short send {sent}/{len(data)}"

    def say(self, text: str) -> None:
        """Send one CRLF-terminated UTF-8 line."""
        self.send(text.encode("utf-8") + b"\r\n")

    def _take_lines(self) -> None:
        *complete, self.buffer = self.buffer.split(b"\r\n")
        self.lines.extend(raw.decode("utf-8") for raw in complete)

    def read_some(self, size: int = 65536) -> bytes | None:
        """One ``recv`` of at most ``size`` bytes; ``None`` if nothing is there yet.

        Returns ``b""`` at EOF; raises ``ConnectionResetError`` on a RST.
        """
        try:
            data = self.sock.recv(size)
        except BlockingIOError:
            return None
        self.buffer += data
        self._take_lines()
        return data

    async def line(self, timeout: float = TIMEOUT) -> str:
        """The next complete server line (bounded)."""
        deadline = time.monotonic() + timeout
        while not self.lines:
            data = self.read_some()
            if data == b"":
                raise AssertionError(f"{self.name}: closed by the server; {self.buffer!r}")
            if data is None:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name}: no line within {timeout}s")
                await sleep(0.005)
        return self.lines.pop(0)

    async def login(self, nick: str) -> None:
        """Read the prompt, send ``nick``, read the welcome, retention and visit lines (nothing
        was said before any of these logins: no replay)."""
        assert await self.line() == PROMPT
        self.say(nick)
        assert await self.line() == welcome(nick)
        assert await self.line() == RETENTION
        assert VISIT_LINE.fullmatch(await self.line())

    async def until_closed(
        self, timeout: float = TIMEOUT, chunk: int = 65536, pause: float = 0.0
    ) -> str:
        """Read (and discard) until the server closes; ``"eof"`` or ``"reset"``. Bounded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.read_some(chunk)
            except ConnectionResetError:
                return "reset"
            except OSError as e:
                if e.errno == errno.ECONNRESET:
                    return "reset"
                raise
            if data == b"":
                return "eof"
            self.lines.clear()
            if data is None or pause:
                await sleep(pause or 0.005)
        raise AssertionError(f"{self.name}: the server did not close within {timeout}s")

    def close(self) -> None:
        """Close with a RST (``SO_LINGER`` 0), so no TIME_WAIT is left behind."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


async def close_raw(server: ChatServer, *raws: RawClient) -> None:
    """Close raw clients and wait (bounded) until the server has dropped each of them."""
    for raw in raws:
        raw.close()
    for raw in raws:
        side = server._observer.by_peer_port.get(raw.local_port)
        if side is not None and not side.closed:
            await wait(side.lost, f"the server to drop {raw.name}")


class OutputWatch:
    """Measures the bytes a server connection's transport holds in user space.

    Wraps the server transport's ``write`` (an instance attribute, behaviour unchanged) and after
    each write measures Twisted's own buffers (``dataBuffer`` past ``offset``, plus the list
    buffer), independently of the server's SendQ accounting; :attr:`peak` is the largest so far.
    """

    def __init__(self, proto: ChatProtocol) -> None:
        transport: Any = proto.transport
        self._transport = transport
        self.peak = 0
        write = transport.write

        def measured_write(data: bytes) -> None:
            """The transport's own ``write``, then a measurement."""
            write(data)
            self.peak = max(self.peak, self.held())

        transport.write = measured_write

    def held(self) -> int:
        """Bytes written to the transport and not yet handed to the kernel."""
        t = self._transport
        return int(len(t.dataBuffer) - t.offset + t._tempDataLen)


# == 1. SendQ =====================================================================================

#: Bounds of the load loop of the SendQ test.
SENDQ_MAX_MESSAGES = 20_000
SENDQ_MAX_SECONDS = 30.0
SENDQ_BATCH = 20


def received_at_least(client: ChatClient, count: int) -> Callable[[], bool]:
    """A condition: ``client`` has received at least ``count`` public messages from ana."""
    return lambda: sum(line.startswith("<ana> ") for line in client.received) >= count


def numbered_message(n: int, size: int = 1000) -> str:
    """A public message of exactly ``size`` UTF-8 bytes that starts with its number."""
    head = f"{n:06d} ñ€👋 "
    return head + "x" * (size - len(head.encode("utf-8")))


@pytest_twisted.ensureDeferred
async def test_sendq_disconnects_a_client_that_never_reads() -> None:
    async with await start_server("--sendq", "65536") as server:
        ana, bob = await server.login_all("ana", "bob")
        slow = RawClient("slow", rcvbuf=4096)
        try:
            slow.connect(server.port)
            await slow.login("slow")
            assert await ana.line() == joined("slow")
            assert await bob.line() == joined("slow")
            factory = server.service.factory
            slow_proto = server.protocol_of("slow")
            watch = OutputWatch(slow_proto)

            expected: list[str] = []
            started = time.monotonic()
            while slow_proto.disconnect_cause is None:
                assert len(expected) < SENDQ_MAX_MESSAGES, (
                    f"the slow client was not disconnected after {len(expected)} messages "
                    f"({len(expected) * 1000} bytes) with --sendq 65536"
                )
                assert time.monotonic() - started < SENDQ_MAX_SECONDS, (
                    f"the slow client was not disconnected within {SENDQ_MAX_SECONDS}s"
                )
                batch = [numbered_message(len(expected) + i) for i in range(SENDQ_BATCH)]
                assert all(len(m.encode("utf-8")) == 1000 for m in batch)
                ana.send(b"".join(m.encode("utf-8") + b"\r\n" for m in batch))
                expected += [f"<ana> {m}" for m in batch]
                # Delivery to the reader goes on, batch after batch, while the slow one fills up.
                await wait_until(
                    received_at_least(bob, len(expected)), f"bob to get {len(expected)} messages"
                )
            elapsed = time.monotonic() - started

            assert slow_proto.disconnect_cause == "sendq"
            await wait_until(
                lambda: slow_proto.session not in factory.connections, "slow to be dropped"
            )
            assert factory.stats["sendq"] == 1, factory.stats
            # Closed by the server (RST from abortConnection, or EOF), not by us.
            assert await slow.until_closed() in ("eof", "reset")

            # Everyone else saw it leave; the reader got every message, complete and in order.
            assert await ana.line() == left("slow")
            await wait_until(lambda: left("slow") in bob.received, "bob to see slow leave")
            lines = await bob.lines(len(bob.unread))
            assert [line for line in lines if line.startswith("<ana> ")] == expected
            assert [line for line in lines if not line.startswith("<ana> ")] == [left("slow")]
            await ana.sync()
            await bob.sync()
            assert not ana.closed and not bob.closed
            assert sorted(p.nickname or "" for p in factory.connections) == ["ana", "bob"]
            # Bounded memory: the server never held more output for the slow client than the
            # transport's 64 KiB buffer plus the 64 KiB send queue (plus one line). What else was
            # sent went into the kernel's socket buffers (autotuned up to tcp_wmem's maximum).
            assert 0 < watch.peak <= 65536 + 65536 + 2048, (watch.peak, len(expected), elapsed)
        finally:
            await close_raw(server, slow)


@pytest_twisted.ensureDeferred
async def test_slow_reader_gets_every_line_complete_and_in_order() -> None:
    """Partial writes: default SendQ, a small receive window, a reader that reads slowly."""
    async with await start_server() as server:
        ana, bob = await server.login_all("ana", "bob")
        slow = RawClient("lento", rcvbuf=4096)
        try:
            slow.connect(server.port)
            await slow.login("lento")
            assert await ana.line() == joined("lento")
            assert await bob.line() == joined("lento")

            # The kernel takes what it can (its send buffer is autotuned, up to megabytes):
            # send until Twisted's own buffer holds more than 64 KiB (the transport paused its
            # producer), then 100 KB more, all while lento reads nothing.
            watch = OutputWatch(server.protocol_of("lento"))
            expected: list[str] = []
            started = time.monotonic()
            extra = 5  # batches of 20 after the transport's buffer filled up
            while watch.peak <= 65536 or extra > 0:
                assert len(expected) < SENDQ_MAX_MESSAGES, len(expected)
                assert time.monotonic() - started < SENDQ_MAX_SECONDS
                if watch.peak > 65536:
                    extra -= 1
                batch = [numbered_message(len(expected) + i) for i in range(SENDQ_BATCH)]
                ana.send(b"".join(m.encode("utf-8") + b"\r\n" for m in batch))
                expected += [f"<ana> {m}" for m in batch]
                assert await bob.lines(SENDQ_BATCH) == expected[-SENDQ_BATCH:]
            count = len(expected)

            # Now read slowly: at most 4 KiB at a time, every couple of milliseconds.
            deadline = time.monotonic() + 30
            while len(slow.lines) < count:
                assert time.monotonic() < deadline, f"lento got {len(slow.lines)}/{count} lines"
                got = slow.read_some(4096)
                assert got != b"", "the server closed the slow reader"
                await sleep(0.002)
            assert slow.lines == expected  # every line complete, none lost, in order
            assert slow.buffer == b""
            slow.lines.clear()

            factory = server.service.factory
            assert factory.stats["sendq"] == 0, factory.stats
            slow.say("/username")
            assert await slow.line() == username("lento")
            await ana.sync()
            await bob.sync()
        finally:
            await close_raw(server, slow)


# == 2. Input limits ==============================================================================


@pytest_twisted.ensureDeferred
async def test_partial_line_past_the_limit_is_not_buffered_and_said_once() -> None:
    async with await start_server() as server:
        ana, bob = await server.login_all("ana", "bob")
        proto = server.server_side(ana).protocol
        # 100 KB with no terminator, in 100 reads of 1000 bytes each.
        for _ in range(100):
            await server.send_segments(ana, [b"y" * 1000])
            # Never more than the limit (plus room for a CR) is kept by the server.
            assert proto._splitter.pending <= 1025, proto._splitter.pending
        assert await ana.line() == TOO_LONG
        assert ana.unread == []
        # The newline ends the discarded line; the next line works; nothing else was said.
        await server.send_segments(ana, [b"y" * 500 + b"\r\nhola\r\n"])
        assert await bob.line() == "<ana> hola"
        await ana.sync()
        await bob.sync()
        assert not ana.closed


@pytest_twisted.ensureDeferred
async def test_partial_line_past_the_limit_at_the_prompt() -> None:
    async with await start_server() as server:
        client = await server.connect("ana")
        assert await client.line() == PROMPT
        proto = server.server_side(client).protocol
        for _ in range(100):
            await server.send_segments(client, [b"z" * 1000])
            assert proto._splitter.pending <= 1025
        assert await client.line() == TOO_LONG
        client.send(b"\nana\r\n")
        await client.login("ana", prompt=False)
        await client.sync()


@pytest_twisted.ensureDeferred
async def test_strikes_before_login_disconnect() -> None:
    async with await start_server("--max-strikes", "3") as server:
        client = await server.connect()
        assert await client.line() == PROMPT
        client.send(b"".join(BAD_LINES))
        # Before login a line with control characters is an invalid nickname (one `! ` line).
        assert await closed_with(client) == [BAD_UTF8, TOO_LONG, NICK_INVALID, STRIKES]
        await server.server_closed(client)
        assert server.service.factory.stats["strikes"] == 1


@pytest_twisted.ensureDeferred
async def test_strikes_after_login_disconnect_and_others_see_it() -> None:
    async with await start_server("--max-strikes", "3") as server:
        ana, bob = await server.login_all("ana", "bob")
        ana.send(b"".join(BAD_LINES))
        assert await closed_with(ana) == [BAD_UTF8, TOO_LONG, CONTROL, STRIKES]
        assert await bob.line() == left("ana")
        await bob.sync()
        assert server.service.factory.stats["strikes"] == 1


@pytest_twisted.ensureDeferred
async def test_a_good_line_resets_the_strikes() -> None:
    async with await start_server("--max-strikes", "3") as server:
        ana, bob = await server.login_all("ana", "bob")
        ana.send(BAD_LINES[0] + BAD_LINES[1] + b"hola\r\n" + BAD_LINES[2] + BAD_LINES[0])
        assert await ana.lines(4) == [BAD_UTF8, TOO_LONG, CONTROL, BAD_UTF8]
        assert await bob.line() == "<ana> hola"
        await ana.sync()  # still connected, and /username is a good line too: count reset
        ana.send(BAD_LINES[1] + BAD_LINES[2])
        assert await ana.lines(2) == [TOO_LONG, CONTROL]
        await ana.sync()
        ana.send(BAD_LINES[0] + BAD_LINES[1] + BAD_LINES[2])
        assert await closed_with(ana) == [BAD_UTF8, TOO_LONG, CONTROL, STRIKES]
        assert await bob.line() == left("ana")


@pytest_twisted.ensureDeferred
async def test_logging_in_resets_the_strikes_counted_at_the_prompt() -> None:
    async with await start_server("--max-strikes", "3") as server:
        client = await server.connect("carol")
        assert await client.line() == PROMPT
        client.send(BAD_LINES[0] + BAD_LINES[1] + b"carol\r\n")
        assert await client.lines(2) == [BAD_UTF8, TOO_LONG]
        await client.login("carol", prompt=False)
        client.send(BAD_LINES[2] + BAD_LINES[0])
        assert await client.lines(2) == [CONTROL, BAD_UTF8]
        await client.sync()
        client.send(BAD_LINES[0] * 3)
        assert await closed_with(client) == [BAD_UTF8, BAD_UTF8, BAD_UTF8, STRIKES]


@pytest_twisted.ensureDeferred
async def test_max_strikes_zero_never_disconnects() -> None:
    async with await start_server("--max-strikes", "0") as server:
        (ana,) = await server.login_all("ana")
        ana.send(b"".join(BAD_LINES) * 10)
        assert await ana.lines(30) == [BAD_UTF8, TOO_LONG, CONTROL] * 10
        await ana.sync()


# == 4. Connection limits and timeouts ============================================================


@pytest_twisted.ensureDeferred
async def test_max_per_ip_refuses_the_third_connection_from_one_address() -> None:
    async with await start_server("--max-per-ip", "2", "--exempt", "none") as server:
        factory = server.service.factory
        first = await server.connect("first")
        second = await server.connect("second")
        assert await first.line() == PROMPT
        assert await second.line() == PROMPT
        third = await server.connect("third")
        assert await closed_with(third) == [TOO_MANY_FROM_IP]
        assert third.received == [TOO_MANY_FROM_IP]

        # Another loopback address has its own count.
        other1 = await server.connect("other1", bind="127.0.0.2")
        other2 = await server.connect("other2", bind="127.0.0.2")
        assert await other1.line() == PROMPT
        assert await other2.line() == PROMPT
        await other1.login("otro", prompt=False)
        other3 = await server.connect("other3", bind="127.0.0.2")
        assert await closed_with(other3) == [TOO_MANY_FROM_IP]

        # A closed connection gives its slot back.
        first.close()
        await server.server_closed(first)
        fourth = await server.connect("fourth")
        assert await fourth.line() == PROMPT
        await fourth.login("cuarto", prompt=False)
        await second.login("segundo", prompt=False)

        assert factory.stats["refused_per_ip"] == 2, factory.stats
        assert factory.counter.total == len(factory.connections) == 4
        assert factory.counter.hosts() == 2


@pytest_twisted.ensureDeferred
async def test_loopback_is_exempt_by_default() -> None:
    async with await start_server() as server:  # --max-per-ip 16, loopback exempt
        clients = [await server.connect(f"c{i}") for i in range(20)]
        for client in clients:
            assert await client.line() == PROMPT
        await clients[-1].login("ultimo", prompt=False)
        await clients[-1].sync()
        assert not any(client.closed for client in clients)
        factory = server.service.factory
        assert factory.counter.total == 20
        assert factory.stats["refused_per_ip"] == 0


@pytest_twisted.ensureDeferred
async def test_exempt_network_replaces_the_default() -> None:
    args = ("--max-per-ip", "1", "--exempt", "none", "--exempt", "127.0.0.2/32")
    async with await start_server(*args) as server:
        exempt = [await server.connect(f"e{i}", bind="127.0.0.2") for i in range(3)]
        for client in exempt:
            assert await client.line() == PROMPT
        one = await server.connect("one")
        assert await one.line() == PROMPT
        two = await server.connect("two")
        assert await closed_with(two) == [TOO_MANY_FROM_IP]


@pytest_twisted.ensureDeferred
async def test_max_clients_counts_every_connection() -> None:
    async with await start_server("--max-clients", "3") as server:
        factory = server.service.factory
        (ana,) = await server.login_all("ana")
        waiting = [await server.connect("w1"), await server.connect("w2")]
        for client in waiting:
            assert await client.line() == PROMPT
        refused = await server.connect("refused")
        assert await closed_with(refused) == [SERVER_FULL]
        elsewhere = await server.connect("elsewhere", bind="127.0.0.2")
        assert await closed_with(elsewhere) == [SERVER_FULL]
        await ana.sync()
        assert factory.counter.total == 3

        waiting[0].close()
        await server.server_closed(waiting[0])
        again = await server.connect("again")
        assert await again.line() == PROMPT
        assert factory.stats["refused_server_full"] == 2, factory.stats
        assert factory.counter.total == len(factory.connections) == 3


@pytest_twisted.ensureDeferred
async def test_login_timeout_closes_a_connection_that_never_logs_in() -> None:
    async with await start_server("--login-timeout", "0.5") as server:
        started = time.monotonic()
        silent = await server.connect("silent")
        chatty = await server.connect("chatty")  # sends lines, but never a valid nickname
        quick = await server.connect("quick")
        await quick.login("rapido")
        assert await silent.line() == PROMPT
        assert await chatty.line() == PROMPT
        tries = 0
        while not chatty.closed and tries < 40:  # bounded: at most 4 s
            chatty.say(f"{tries} no vale")
            tries += 1
            await sleep(0.1)
        assert await closed_with(silent) == [LOGIN_TIMEOUT]
        elapsed = time.monotonic() - started
        assert 0.4 <= elapsed < 5, elapsed
        await chatty.wait_closed()
        assert chatty.received[-1] == LOGIN_TIMEOUT
        assert set(chatty.received[1:-1]) <= {NICK_INVALID}
        assert tries < 20, tries  # its lines did not keep it from timing out
        # The client that logged in in time stays, past the timeout.
        await sleep(0.3)
        await quick.sync()
        await server.server_closed(silent)
        await server.server_closed(chatty)
        assert server.service.factory.stats["login_timeout"] == 2


@pytest_twisted.ensureDeferred
async def test_idle_timeout_and_ping_keepalive() -> None:
    async with await start_server("--idle-timeout", "0.5") as server:
        idle = await server.login("idle")
        logged_in = time.monotonic()  # the server started idle's timer a moment before
        closed_at: list[float] = []
        idle.lost.addCallback(lambda _: closed_at.append(time.monotonic()))
        pinger = await server.login("pinger")
        assert await idle.line() == joined("pinger")
        pongs = 0
        other: list[str] = []
        for i in range(8):  # 1.6 s in all, three times the timeout
            pinger.say("/ping")
            reply = await pinger.line()
            while reply == left("idle"):
                other.append(reply)
                reply = await pinger.line()
            assert reply == PONG, reply
            pongs += 1
            # The idle client receives lines, which does not count as activity.
            pinger.say(f"hola {i}")
            await sleep(0.2)
        rest = await closed_with(idle)
        assert rest[-1] == IDLE_TIMEOUT, rest
        assert rest[:-1] == [f"<pinger> hola {i}" for i in range(len(rest) - 1)]
        assert 1 <= len(rest) - 1 <= 4, rest  # closed after about 0.5 s, not at once
        assert 0.4 <= closed_at[0] - logged_in < 2.0, closed_at[0] - logged_in
        while not other:
            other.append(await pinger.line())
        assert other == [left("idle")]
        assert pongs == 8
        await pinger.sync()
        assert not pinger.closed
        await server.server_closed(idle)
        assert server.service.factory.stats["idle_timeout"] == 1


# == 8. TLS and several listeners =================================================================


async def start_tls_server(directory: Path, *extra_args: str) -> tuple[ChatServer, Any, int]:
    """A server listening on plain TCP and on TLS (a certificate made in ``directory``).

    Returns the server, a client endpoint for its TLS port that trusts that certificate, and
    that port.
    """
    key, cert = make_certificate(directory)
    tls_port = f"ssl:0:privateKey={key}:certKey={cert}:interface=127.0.0.1"
    server = await start_server("--port", tls_port, *extra_args)
    listeners = server.service.listeners()
    assert len(listeners) == 2
    ports: list[int] = []
    for listener in listeners:
        assert listener.port is not None
        address: Any = listener.port.getHost()
        ports.append(address.port)
    plain_port, secure_port = ports
    assert plain_port == server.port and secure_port != plain_port
    trust = ssl.Certificate.loadPEM(cert.read_bytes())
    options = ssl.optionsForClientTLS("localhost", trustRoot=trust)
    endpoint = endpoints.SSL4ClientEndpoint(
        get_reactor(), "127.0.0.1", secure_port, options, timeout=5
    )
    return server, endpoint, secure_port


@pytest_twisted.ensureDeferred
async def test_plain_and_tls_listeners_chat_together(tmp_path: Path) -> None:
    server, endpoint, secure_port = await start_tls_server(tmp_path)
    async with server:
        ana = await server.login("ana")
        bob = await server.connect("bob", endpoint=endpoint)
        await bob.login("bob")
        assert await ana.line() == joined("bob")

        bob.say("hola por TLS ñ")
        assert await ana.line() == "<bob> hola por TLS ñ"
        ana.say("#bob en privado")
        assert await bob.line() == "*ana* en privado"
        assert await ana.line() == "-> *bob* en privado"
        bob.say("/listar")
        assert await bob.line() == f"* {T.listar.format(count=2, nicks='ana, bob')}"
        ana.say("de vuelta")
        assert await bob.line() == "<ana> de vuelta"
        await ana.sync()
        await bob.sync()

        # The TLS port really speaks TLS: a plain-text client never gets the prompt.
        raw = RawClient("plain-on-tls")
        try:
            raw.connect(secure_port)
            raw.send(b"mallory\r\n")
            assert await raw.until_closed() in ("eof", "reset")
            assert raw.lines == [] and b"Bienvenido" not in raw.buffer
        finally:
            await close_raw(server, raw)

        # The TLS client leaves (closing from its side); the plain one sees it.
        bob.close()
        await bob.wait_closed()
        assert await ana.line() == left("bob")
        await ana.sync()


@pytest_twisted.ensureDeferred
async def test_tls_salir_closes_the_connection(tmp_path: Path) -> None:
    """BUG: a server-side close never completes over TLS.

    ``ChatProtocol`` registers its ``SendQueue`` as a streaming producer and never unregisters
    it; Twisted's TLS transport (``TLSMemoryBIOProtocol.loseConnection``) does not start the TLS
    shutdown while a producer is registered (as ``ITransport.loseConnection`` documents). Plain
    TCP closes anyway, so only TLS clients are affected: after ``/salir`` the connection stays
    open and the user stays in the room.
    """
    server, endpoint, _ = await start_tls_server(tmp_path)
    async with server:
        ana = await server.login("ana")
        bob = await server.connect("bob", endpoint=endpoint)
        await bob.login("bob")
        assert await ana.line() == joined("bob")
        bob.say("/salir")
        assert await bob.line() == f"* {T.salir.format(nick='bob')}"
        await bob.wait_closed()  # fails: the server never closes the TLS connection
        assert await ana.line() == left("bob")


@pytest_twisted.ensureDeferred
async def test_tls_login_timeout_closes_the_connection(tmp_path: Path) -> None:
    """BUG (same cause as above): a TLS connection that never logs in gets the ``! `` line but
    is never closed, so it keeps its slot (``--max-clients``, ``--max-per-ip``) forever."""
    server, endpoint, _ = await start_tls_server(tmp_path, "--login-timeout", "0.5")
    async with server:
        silent = await server.connect("silent", endpoint=endpoint)
        assert await silent.line() == PROMPT
        assert await silent.line(timeout=5) == LOGIN_TIMEOUT
        await silent.wait_closed()  # fails: the connection stays open
        await server.server_closed(silent)
        assert server.service.factory.counter.total == 0
