"""The direct-write fast path: one ``send`` when nothing is pending, Twisted's buffer otherwise.

Real sockets on loopback. Partial writes are forced with a tiny server-side send buffer and a
client that does not read for a while; every line must then arrive complete and in order.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
import pytest_twisted

from tests.support.chatclient import ChatServer
from tests.support.waits import sleep

pytestmark = pytest.mark.timeout(60, method="thread")


@pytest_twisted.ensureDeferred
async def test_idle_connection_is_written_directly(server: ChatServer) -> None:
    ana = await server.login("ana")
    bob = await server.login("bob")
    await ana.line()  # bob's join notice
    proto = server.protocol_of("ana")
    transport: Any = proto.transport
    calls: list[bytes] = []
    original = transport.write

    def spy(data: bytes) -> None:
        calls.append(data)
        original(data)

    transport.write = spy
    for i in range(20):
        bob.say(f"hola {i}")
    assert await ana.lines(20) == [f"<bob> hola {i}" for i in range(20)]
    assert calls == []  # every line went straight to the socket


@pytest_twisted.ensureDeferred
async def test_partial_writes_keep_every_line_whole_and_in_order(server: ChatServer) -> None:
    ana = await server.login("ana")
    bob = await server.login("bob")
    await ana.line()
    proto = server.protocol_of("ana")
    transport: Any = proto.transport
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
    payload = "x" * 700
    for i in range(count):
        bob.say(f"{i:04d} {payload}")
    # Wait (bounded) until the server has queued output in Twisted's buffer for ana.
    for _ in range(200):
        if buffered:
            break
        await sleep(0.01)
    assert buffered, "the tiny send buffer never filled: no partial write happened"
    reading.resumeProducing()
    lines = await ana.lines(count)
    assert lines == [f"<bob> {i:04d} {payload}" for i in range(count)]
