"""The WebSocket transport (``--web``), black-box: the real ``twistd -n chat`` process, a real
WebSocket client library (``websockets``) over loopback, and netcat-style TCP clients.

Protocol v1 without the framing (docs/PROTOCOL.md, "WebSocket"): one text message per line each
way, and every rule of the line protocol. Each test reads up to a fixed reply (``/username``) or
a bounded wait; nothing sleeps to let the server catch up.
"""

from __future__ import annotations

import os
import re
import signal
import struct
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.expected import (
    BAD_UTF8,
    CONTROL,
    FIRST_VISIT,
    NICK_INVALID,
    PROMPT,
    RETENTION,
    SENDQ,
    SHUTTING_DOWN,
    STORED_LINE,
    STRIKES,
    TOO_LONG,
    TOO_MANY_FROM_IP,
    conectados,
    joined,
    left,
    welcome,
)
from tests.support.processes import SOCKET_TIMEOUT
from tests.support.webchat import VISIT, RawWebSocket, WebChat, WebClient, tcp_login, web_chat

pytestmark = [pytest.mark.timeout(60, method="thread")]

#: WebSocket opcodes (RFC 6455, section 5.2).
TEXT, CLOSE = 0x1, 0x8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebChat]:
    """One server for the tests that change nothing but their own clients (flood control off
    so that tests may send bursts; strikes at their default)."""
    with web_chat(tmp_path_factory.mktemp("web"), "--flood-rate", "0") as chat:
        yield chat


def close_code(client: WebClient) -> int | None:
    """Wait (bounded) for the server to close ``client``; the close code it sent."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            client.line()
    received = closed.value.rcvd
    return None if received is None else received.code


# -- the transport ----------------------------------------------------------------------------


def test_lines_are_messages_both_ways_with_tcp_users(server: WebChat) -> None:
    ana = server.client()
    assert ana.line() == PROMPT  # one message, no CRLF
    ana.say("ana")
    assert ana.line() == welcome("ana")
    assert ana.line() == RETENTION
    assert ana.line() == FIRST_VISIT
    bob = server.tcp()
    tcp_login(bob, "bob")
    assert ana.line() == joined("bob")
    bob.say("hola ana")
    assert ana.line() == "<bob> hola ana"
    ana.say("  hola   bob  ")  # relayed verbatim
    assert bob.line() == "<ana>   hola   bob  "
    ana.say("#bob psst")
    assert ana.line() == "-> *bob* psst"
    assert bob.line() == "*ana* psst"
    bob.say("#ANA hi")
    assert ana.line() == "*bob* hi"
    assert bob.line() == "-> *ana* hi"
    ana.say("/listar")
    assert ana.line() == conectados("ana", "bob")
    ana.close()
    assert bob.line() == left("ana")
    bob.close()


def test_several_lines_at_once_are_several_messages(server: WebChat) -> None:
    ana = server.client()
    ana.login("ana2")
    ana.say("/ayuda")
    first = ana.line()
    assert first.startswith("* ") and "\r" not in first and "\n" not in first
    ana.sync()
    ana.close()


def test_the_1024_byte_limit_counts_utf8_bytes(server: WebChat) -> None:
    ana, bob = server.client(), server.client()
    ana.login("carmen")
    bob.login("dario")
    assert ana.line() == joined("dario")
    exactly = "ñ" * 511 + "xx"  # 1024 bytes, 513 characters
    assert len(exactly.encode()) == 1024
    ana.say(exactly)
    assert bob.line() == f"<carmen> {exactly}"
    ana.say("ñ" * 512 + "x")  # 1025 bytes
    assert ana.line() == TOO_LONG
    ana.say("sigo aquí")  # the connection stays open
    assert bob.line() == "<carmen> sigo aquí"
    ana.close()
    bob.close()


@pytest.mark.parametrize("text", ["a\x1b[31mb", "a\nb", "a\rb", "\x7f", "a\x85b"])
def test_control_characters_are_refused(server: WebChat, text: str) -> None:
    ana = server.client()
    ana.say(text)  # at the prompt: not a nickname
    assert ana.line() == PROMPT
    assert ana.line() == NICK_INVALID
    ana.say("eva")
    assert ana.line() == welcome("eva")
    assert ana.after_welcome().startswith(VISIT)
    ana.say(text)
    assert ana.line() == CONTROL
    ana.sync()
    ana.close()


def test_a_binary_message_gets_an_error_line(server: WebChat) -> None:
    ana = server.client()
    ana.login("fede")
    ana.say(b"hola")
    assert ana.line() == BAD_UTF8
    ana.sync()
    ana.close()


def too_big_disconnects(server: WebChat) -> int:
    """How many ``too_big`` disconnects the server's log summaries have counted so far."""
    return sum(
        int(n) for n in re.findall(r"disconnects in the last \S+: .*?\btoo_big=(\d+)", server.log())
    )


def wait_for_too_big_disconnects(server: WebChat, count: int) -> None:
    """Wait (bounded: a summary is logged every few seconds) until the log has counted ``count``."""
    deadline = time.monotonic() + 10
    while too_big_disconnects(server) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    assert too_big_disconnects(server) == count, server.log()


def read_frame(client: RawWebSocket) -> tuple[int, bytes]:
    """The next frame from the server (unmasked, as a server sends): its opcode and payload."""

    def exactly(size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = client.sock.recv(size - len(data))
            assert chunk, f"the connection ended before a whole frame came (had {data!r})"
            data += chunk
        return data

    first, second = exactly(2)
    assert not second & 0x80, "a masked frame from the server"
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", exactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", exactly(8))
    return first & 0x0F, exactly(length)


def test_a_message_past_the_buffer_cap_closes_with_1009(server: WebChat) -> None:
    before = too_big_disconnects(server)
    raw = RawWebSocket(server)
    assert read_frame(raw) == (TEXT, PROMPT.encode())
    raw.send_text("gala")
    assert read_frame(raw) == (TEXT, welcome("gala").encode())
    assert read_frame(raw) == (TEXT, RETENTION.encode())
    # The room's replay (what the module's earlier tests said), then the visit line.
    while STORED_LINE.fullmatch((frame := read_frame(raw))[1].decode()):
        assert frame[0] == TEXT
    opcode, visit = frame
    assert opcode == TEXT and visit.decode().startswith(VISIT)
    # One frame that announces 100,000 bytes, of which 17,000 come at once: more than the
    # server buffers (16 KiB past one read). Nothing more is sent, so the server has read
    # everything when it closes and no reset can swallow its last frames: the `! ` line, then
    # a close frame with 1009 (message too big).
    mask = os.urandom(4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"x" * 17_000))
    raw.sock.sendall(struct.pack("!BBQ", 0x81, 0x80 | 127, 100_000) + mask + payload)
    assert read_frame(raw) == (TEXT, TOO_LONG.encode())
    opcode, body = read_frame(raw)
    assert opcode == CLOSE, (opcode, body)
    assert struct.unpack("!H", body[:2]) == (1009,), body
    assert raw.closed_by_server(SOCKET_TIMEOUT)
    raw.close()
    # Disconnects are summarised in the log: one line per cause count within a few seconds.
    wait_for_too_big_disconnects(server, before + 1)


def test_a_client_still_sending_past_the_cap_is_cut_off(server: WebChat) -> None:
    before = too_big_disconnects(server)
    ana = server.client()
    ana.login("gala2")
    ana.say("x" * 40_000)  # over the line limit: refused, but read whole in one go
    assert ana.line() == TOO_LONG
    ana.sync()
    # More than the server buffers while the client is still sending: the server closes (the
    # `! ` line and the 1009 close frame are lost when the unread rest of the message makes the
    # kernel answer with a reset, so the server's log is the witness that it was this cap).
    with pytest.raises(ConnectionClosed) as closed:
        ana.say("x" * 300_000)
        while True:
            assert ana.line() == TOO_LONG
    received = closed.value.rcvd
    assert received is None or received.code == 1009, received
    wait_for_too_big_disconnects(server, before + 1)


def test_strikes_close_with_policy_violation(server: WebChat) -> None:
    ana = server.client()
    ana.login("hugo")
    for _ in range(10):
        ana.say("\x00")
    assert [ana.line() for _ in range(10)] == [CONTROL] * 10
    assert ana.line() == STRIKES
    assert close_code(ana) == 1008


def test_quit_closes_normally(server: WebChat) -> None:
    ana = server.client()
    ana.login("ines")
    ana.say("/salir")
    assert ana.line() == "* Hasta pronto, ines."
    assert close_code(ana) == 1000


# -- the handshake ----------------------------------------------------------------------------


def test_a_foreign_origin_is_refused(server: WebChat) -> None:
    with pytest.raises(InvalidStatus) as refused:
        server.client(origin="http://evil.example")
    assert refused.value.response.status_code == 403
    # Another port of the same host is another origin.
    with pytest.raises(InvalidStatus):
        server.client(origin=f"http://127.0.0.1:{server.web_port + 1}")


def test_the_page_is_served_with_a_strict_policy(server: WebChat) -> None:
    with urllib.request.urlopen(server.url, timeout=5) as response:
        page = response.read().decode()
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'id="log"' in page and 'id="line"' in page and 'id="users"' in page
    assert '<html lang="es">' in page
    assert "<script>" not in page and "http" not in page.replace("http-equiv", "")
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in policy
    for name in ("chat.js", "chat.css", "favicon.svg"):
        with urllib.request.urlopen(server.url + name, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Security-Policy"] == policy


def test_allowed_origins_and_english(tmp_path: Path) -> None:
    with web_chat(tmp_path, "--web-origin", "https://chat.example.org", "--lang", "en") as chat:
        client = chat.client(origin="https://chat.example.org")
        assert client.line() == "* Welcome to twisted-chat. Choose a nickname:"
        client.close()
        with pytest.raises(InvalidStatus):
            chat.client(origin="https://example.org")
        with urllib.request.urlopen(chat.url, timeout=5) as response:
            assert '<html lang="en">' in response.read().decode()


# -- limits shared with the TCP transport ---------------------------------------------------------


def test_per_address_limit_counts_both_transports(tmp_path: Path) -> None:
    with web_chat(tmp_path, "--max-per-ip", "1", "--exempt", "none") as chat:
        deadline = time.monotonic() + 5
        while True:  # until the start-up probe's connection is gone on the server's side too
            tcp = chat.tcp()
            if tcp.line() == PROMPT:
                break
            tcp.close()
            assert time.monotonic() < deadline, "the start-up probe's slot was never given back"
            time.sleep(0.05)
        refused = chat.client()
        assert refused.line() == TOO_MANY_FROM_IP
        close_code(refused)
        tcp.close()


def test_login_timeout(tmp_path: Path) -> None:
    with web_chat(tmp_path, "--login-timeout", "1") as chat:
        ana = chat.client()
        assert ana.line() == PROMPT
        assert ana.line() == "! No has elegido nickname a tiempo: desconectado."
        assert close_code(ana) == 1008


def test_flood_control(tmp_path: Path) -> None:
    with web_chat(tmp_path) as chat:
        ana = chat.client()
        ana.login("ana")
        for i in range(25):
            ana.say(f"mensaje {i}")
        assert ana.line() == "! Vas demasiado rápido: se descartan líneas (máximo 10 por segundo)."


def test_a_client_that_never_reads_is_dropped_by_the_send_queue(tmp_path: Path) -> None:
    with web_chat(
        tmp_path, "--sendq", "65536", "--flood-rate", "0", "--log-level", "debug"
    ) as chat:
        slow = RawWebSocket(chat, rcvbuf=4096)
        slow.send_text("slow")  # then never reads again
        ana = chat.tcp()
        tcp_login(ana, "ana")
        message = "x" * 1000
        started = time.monotonic()
        seen: list[str] = []
        while time.monotonic() - started < 30:
            ana.say("\r\n".join([message] * 20))
            ana.say("/username")
            while (line := ana.line()) != "* Tu nickname es ana.":
                seen.append(line)
            if "* slow ha salido del chat." in seen:
                break
        assert "* slow ha salido del chat." in seen, "the reader that never reads was not dropped"
        assert slow.closed_by_server(timeout=5)
        assert "disconnecting slow (sendq)" in chat.log()
        ana.close()
    assert SENDQ.startswith("! ")


def test_a_client_that_never_answers_pings_is_dropped(tmp_path: Path) -> None:
    with web_chat(tmp_path, "--web-ping", "0.5", "--log-level", "debug") as chat:
        mute = RawWebSocket(chat)
        mute.send_text("mudo")
        alive = chat.client()  # the library answers pings by itself
        alive.login("viva")
        started = time.monotonic()
        assert alive.line() == left("mudo")  # within two ping intervals and the notice delay
        assert time.monotonic() - started < 5
        alive.sync()  # still connected: it answered every ping
        assert mute.closed_by_server(timeout=5)
        assert "disconnecting mudo (ping_timeout)" in chat.log()
        alive.close()


def test_shutdown_tells_websocket_clients_and_closes_going_away(tmp_path: Path) -> None:
    with web_chat(tmp_path) as chat:
        ana = chat.client()
        ana.login("ana")
        at_prompt = chat.client()
        assert at_prompt.line() == PROMPT
        chat.process.send_signal(signal.SIGTERM)
        assert ana.line() == SHUTTING_DOWN
        assert close_code(ana) == 1001
        assert at_prompt.line() == SHUTTING_DOWN
        assert close_code(at_prompt) == 1001
        assert chat.process.wait(timeout=10) == 0
