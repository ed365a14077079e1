"""The WebSocket transport on real sockets, in one reactor: what a transport double cannot show.

The in-process server of :mod:`tests.chatclient` with a ``--web`` listener (plain TCP, or TLS
with a certificate made for the test), WebSocket clients built on wsproto's client side that
read and write lines as :class:`~tests.chatclient.ChatClient` does, and TCP users beside them.

- Over plain TCP, after the upgrade the socket's transport (``tcp.Server``) hands its bytes to
  the adapter, and frames go out through the direct-write fast path (no Twisted ``write``);
  when the kernel takes only part of a write, every frame still arrives whole and in order.
- Over TLS, the TLS wrapper hands its bytes to the adapter, and frames go out through TLS.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import endpoints, ssl

from tests.support.chatclient import ChatServer, start_server
from tests.support.tls import make_certificate
from tests.support.waits import get_reactor, sleep
from tests.support.webclient import web_client, web_port
from twisted_chat.web.protocol import ChatWebSocket

pytestmark = pytest.mark.timeout(60, method="thread")


def adapter_of(server: ChatServer, nick: str) -> ChatWebSocket:
    """The server's adapter of the logged-in WebSocket user ``nick``."""
    for session in server.service.factory.connections:
        if session.nickname == nick:
            assert isinstance(session.transport, ChatWebSocket), session.transport
            return session.transport
    raise AssertionError(f"{nick} is not connected")


@pytest_twisted.ensureDeferred
async def test_frames_go_straight_to_the_socket() -> None:
    async with await start_server("--web", "tcp:0:interface=127.0.0.1") as server:
        ana = await web_client(server, "ana")
        await ana.login("ana")
        bob = await server.login("bob")
        assert await ana.line() == f"* {server.texts.joined.format(nick='bob')}"
        adapter = adapter_of(server, "ana")
        transport: Any = adapter._transport
        assert transport.protocol is adapter  # the socket hands its bytes to the adapter
        assert adapter._socket is transport.socket
        calls: list[bytes] = []
        original = transport.write

        def spy(data: bytes) -> None:
            calls.append(data)
            original(data)

        transport.write = spy
        for i in range(20):
            bob.say(f"hola {i}")
        assert await ana.lines(20) == [f"<bob> hola {i}" for i in range(20)]
        assert calls == []  # every frame went straight to the socket
        ana.say("hola bob")  # and the other way, through the adapter
        assert await bob.line() == "<ana> hola bob"


@pytest_twisted.ensureDeferred
async def test_partial_writes_keep_every_frame_whole_and_in_order() -> None:
    async with await start_server("--web", "tcp:0:interface=127.0.0.1") as server:
        ana = await web_client(server, "ana")
        await ana.login("ana")
        bob = await server.login("bob")
        await ana.line()
        transport: Any = adapter_of(server, "ana")._transport
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        reading: Any = ana.transport
        reading.pauseProducing()  # ana stops reading: the kernel buffers fill up
        buffered: list[int] = []
        original = transport.write

        def spy(data: bytes) -> None:
            buffered.append(len(data))
            original(data)

        transport.write = spy
        count = 300
        payload = "x" * 700  # frames with a 16-bit length
        for i in range(count):
            bob.say(f"{i:04d} {payload}")
        for _ in range(200):  # bounded: until the server queued output in Twisted's buffer
            if buffered:
                break
            await sleep(0.01)
        assert buffered, "the tiny send buffer never filled: no partial write happened"
        reading.resumeProducing()
        assert await ana.lines(count) == [f"<bob> {i:04d} {payload}" for i in range(count)]


@pytest_twisted.ensureDeferred
async def test_a_tls_websocket_is_handed_over_and_written_through_tls(tmp_path: Path) -> None:
    key, cert = make_certificate(tmp_path)
    tls = f"ssl:0:privateKey={key}:certKey={cert}:interface=127.0.0.1"
    async with await start_server("--web", tls) as server:
        trust = ssl.Certificate.loadPEM(cert.read_bytes())
        options = ssl.optionsForClientTLS("localhost", trustRoot=trust)
        endpoint = endpoints.SSL4ClientEndpoint(
            get_reactor(), "127.0.0.1", web_port(server), options, timeout=5
        )
        ana = await web_client(server, "ana", endpoint)
        await ana.login("ana")
        bob = await server.login("bob")
        assert await ana.line() == f"* {server.texts.joined.format(nick='bob')}"
        adapter = adapter_of(server, "ana")
        assert adapter._socket is None  # no direct writes under TLS
        assert adapter._transport.wrappedProtocol is adapter  # TLS hands its bytes over
        bob.say("hola por wss ñ")
        assert await ana.line() == "<bob> hola por wss ñ"
        ana.say("y de vuelta")
        assert await bob.line() == "<ana> y de vuelta"
        ana.say("/salir")
        await ana.wait_closed()
