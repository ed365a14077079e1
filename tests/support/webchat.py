"""The real ``twistd -n chat --web`` process, and WebSocket clients to talk to it.

:func:`web_chat` starts ``twistd -n --pidfile= chat`` with a TCP port and a ``--web`` port on
loopback and kills that process (only it) if it is still running at the end. :class:`WebClient`
wraps the ``websockets`` library's blocking client (a real, independent WebSocket
implementation): every receive is bounded by :data:`~tests.support.processes.SOCKET_TIMEOUT`.
:class:`RawWebSocket` does the handshake by hand on a plain socket and then only what the test
says (for clients that never read or never answer a ping).
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from tests.support.expected import PROMPT, welcome
from tests.support.processes import (
    SOCKET_TIMEOUT,
    LineSocket,
    Twistd,
    chat_command,
    free_port,
    read_after_welcome,
    wait_until_serving,
)

#: The start of the line about the previous visit that ends a login's lines (first or not).
VISIT = ("* Es tu primera conexión.", "* Tu última conexión fue el ")


def tcp_login(client: LineSocket, nick: str) -> None:
    """:meth:`LineSocket.login`, then the lines up to the one about the previous visit (the
    retention line and the room's replay: :meth:`LineSocket.after_welcome`)."""
    client.login(nick)
    assert client.after_welcome().startswith(VISIT)


@dataclass
class WebChat(Twistd):
    """A running ``twistd -n chat`` with a line port and a web port."""

    web_port: int

    @property
    def url(self) -> str:
        """The page's URL."""
        return f"http://127.0.0.1:{self.web_port}/"

    @property
    def ws_url(self) -> str:
        """The WebSocket's URL."""
        return f"ws://127.0.0.1:{self.web_port}/ws"

    @property
    def origin(self) -> str:
        """The page's own origin."""
        return f"http://127.0.0.1:{self.web_port}"

    def client(self, origin: str | None = None) -> WebClient:
        """A WebSocket client of this server, sending the page's own ``Origin`` by default."""
        return WebClient(self, origin or self.origin)

    def tcp(self) -> LineSocket:
        """A netcat-style client of the line port."""
        return LineSocket(self.port)


@contextmanager
def web_chat(
    directory: Path, *options: str, ports: tuple[int, int] | None = None
) -> Iterator[WebChat]:
    """``twistd -n --pidfile= chat --port ... --web ... OPTIONS`` on SQLite in ``directory``,
    on free ports or on ``ports`` (line port, web port)."""
    port, web_port = ports or (free_port(), free_port())
    output = directory / f"twistd-{web_port}.log"
    command = chat_command(
        port,
        f"sqlite:{directory / 'chat.sqlite3'}",
        "--web",
        f"tcp:{web_port}:interface=127.0.0.1",
        *options,
    )
    with output.open("wb") as out:
        process = subprocess.Popen(command, cwd=directory, stdout=out, stderr=subprocess.STDOUT)
    server = WebChat(process, port, output, web_port)
    try:
        wait_until_serving(server, web_port=web_port, any_language=True)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


class WebClient:
    """A blocking WebSocket client (the ``websockets`` library) reading one line per message."""

    def __init__(self, server: WebChat, origin: str) -> None:
        self.connection: ClientConnection = connect(
            server.ws_url,
            origin=Origin(origin),
            open_timeout=SOCKET_TIMEOUT,
            close_timeout=SOCKET_TIMEOUT,
            max_size=None,  # the server's limits are under test, not the client's
        )
        self.connection.__enter__()  # closed by close(), or by the process at the end
        #: The stored lines replayed at the last login (protocol v1.1).
        self.replayed: list[str] = []
        # Lines read ahead (join and leave notices during a login), in order, for the next reads.
        self._ahead: list[str] = []

    def line(self) -> str:
        """The next server message (one line, without CRLF)."""
        if self._ahead:
            return self._ahead.pop(0)
        message = self.connection.recv(timeout=SOCKET_TIMEOUT)
        assert isinstance(message, str), f"a binary message from the server: {message!r}"
        return message

    def line_within(self, timeout: float) -> str:
        """The next server message, waiting at most ``timeout`` seconds for it (the read
        ahead first, as :meth:`line`)."""
        if self._ahead:
            return self._ahead.pop(0)
        message = self.connection.recv(timeout=timeout)
        assert isinstance(message, str), f"a binary message from the server: {message!r}"
        return message

    def say(self, text: str | bytes) -> None:
        """Send one message (text, or binary if ``bytes``)."""
        self.connection.send(text)

    def login(self, nick: str) -> None:
        """Read the prompt, send ``nick``, read the welcome line, the retention line, the room's
        replay (kept in :attr:`replayed`) and the database's line about the previous visit (the
        server is on a working SQLite: it always comes); see :func:`read_after_welcome`."""
        assert self.line() == PROMPT
        self.say(nick)
        assert self.line() == welcome(nick)
        self.after_welcome()

    def after_welcome(self) -> str:
        """The lines after a welcome up to the visit line, which it returns (the join and leave
        notices that came meanwhile are kept, in order, for the next reads)."""
        self.replayed, ahead, visit = read_after_welcome(self.line)
        assert visit.startswith(VISIT), visit
        self._ahead = ahead + self._ahead
        return visit

    def sync(self) -> None:
        """Wait until the server has handled everything sent so far (``/username`` barrier)."""
        self.say("/username")
        while not self.line().startswith("* Tu nickname es "):
            pass

    def close(self) -> None:
        """Close the WebSocket."""
        self.connection.close()


class RawWebSocket:
    """A WebSocket client written by hand: handshake, then only what the test asks for."""

    def __init__(self, server: WebChat, rcvbuf: int | None = None) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(SOCKET_TIMEOUT)
        sock.connect(("127.0.0.1", server.web_port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.web_port}\r\n"
            f"Origin: {server.origin}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(1)  # byte by byte: nothing of the first message is consumed
            assert chunk, f"closed during the handshake: {response!r}"
            response += chunk
        assert response.startswith(b"HTTP/1.1 101"), response
        self.sock = sock

    def send_text(self, text: str) -> None:
        """One masked text frame (as a client must send)."""
        payload = text.encode("utf-8")
        mask = os.urandom(4)
        if len(payload) < 126:
            header = struct.pack("!BB", 0x81, 0x80 | len(payload))
        else:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def closed_by_server(self, timeout: float) -> bool:
        """Read and discard until the server closes or resets the connection (bounded)."""
        self.sock.settimeout(timeout)
        try:
            while self.sock.recv(65536):
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()
