"""The WebSocket transport (``--web``), black-box: the real ``twistd -n chat`` process, a real
WebSocket client library (``websockets``) over loopback, and netcat-style TCP clients.

Protocol v1 without the framing (docs/PROTOCOL.md, "WebSocket"): one text message per line each
way, and every rule of the line protocol. Each test reads up to a fixed reply (``/username``) or
a bounded wait; nothing sleeps to let the server catch up.
"""

from __future__ import annotations

import re
import signal
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
    SENDQ,
    SHUTTING_DOWN,
    STRIKES,
    TOO_LONG,
    TOO_MANY_FROM_IP,
    conectados,
    joined,
    left,
    welcome,
)
from tests.support.webchat import VISIT, RawWebSocket, WebChat, WebClient, tcp_login, web_chat

pytestmark = [pytest.mark.timeout(60, method="thread")]


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
    assert ana.line().startswith(VISIT)
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


def test_a_message_past_the_buffer_cap_closes_with_1009(server: WebChat) -> None:
    ana = server.client()
    ana.login("gala")
    ana.say("x" * 40_000)  # over the line limit: refused, but read whole in one go
    assert ana.line() == TOO_LONG
    ana.sync()
    # More than the server buffers (16 KiB past one read): the connection is closed with
    # 1009 after the `! ` line. Both are lost when the client is still sending as the server
    # closes (the unread rest of the message makes the kernel answer with a reset), so the
    # server's log is the witness.
    with pytest.raises(ConnectionClosed) as closed:
        ana.say("x" * 300_000)
        while True:
            assert ana.line() == TOO_LONG
    assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
    # Disconnects are summarised in the log: one line per cause count within a few seconds.
    deadline = time.monotonic() + 10
    while "too_big=" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert re.search(r"disconnects in the last \S+: .*too_big=1", server.log()), server.log()


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
