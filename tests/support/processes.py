"""The real ``twistd -n chat`` process, talked to with plain blocking sockets.

:func:`twistd_chat` starts ``twistd -n --pidfile= chat`` (so that several can run in one
directory) on a free loopback port, waits until it serves the prompt, and kills that process,
and only that one, if it is still running at the end. :class:`LineSocket` is the blocking client
socket, reading CRLF-terminated lines (the cluster tests' :class:`tests.support.cluster.Client`
is one that also knows the cluster's probes); every read and connect is bounded by
:data:`SOCKET_TIMEOUT`.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.expected import (
    MISSED_LINE,
    NICK_INVALID,
    PROMPT,
    RETENTION_ANY,
    STARTING_UP,
    STORED_LINE,
    VISIT_ANY,
    welcome,
)
from twisted_chat.text import CATALOGUES

#: The ``twistd`` of the virtualenv running the tests.
TWISTD = Path(sys.executable).parent / "twistd"
#: Longest wait for the server to accept connections after it was started.
STARTUP_TIMEOUT = 20.0
#: Longest wait for one line or one connection, in seconds.
SOCKET_TIMEOUT = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LineSocket:
    """A blocking client socket with a timeout, reading CRLF-terminated UTF-8 lines."""

    def __init__(self, port: int, *, source: str | None = None, preamble: bytes = b"") -> None:
        """Connect to 127.0.0.1:``port``, from address ``source`` if given, and send
        ``preamble`` first if given (a PROXY protocol header, say)."""
        self.sock = socket.create_connection(
            ("127.0.0.1", port),
            timeout=SOCKET_TIMEOUT,
            source_address=(source, 0) if source is not None else None,
        )
        self.buffer = b""
        #: The stored lines replayed at the last login (:meth:`after_welcome`).
        self.replayed: list[str] = []
        #: The visit line of the last login (first visit, or the previous connection's time).
        self.visit = ""
        # Lines read ahead (by after_welcome), in order, for the next reads.
        self._ahead: list[str] = []
        if preamble:
            self.sock.sendall(preamble)

    def line(self) -> str:
        """The next server line (fails on timeout or if the server closes first)."""
        if self._ahead:
            return self._ahead.pop(0)
        while b"\r\n" not in self.buffer:
            data = self.sock.recv(4096)
            if not data:
                raise AssertionError(f"server closed the connection; unread {self.buffer!r}")
            self.buffer += data
        raw, self.buffer = self.buffer.split(b"\r\n", 1)
        return raw.decode("utf-8")

    def say(self, text: str) -> None:
        """Send one CRLF-terminated line."""
        self.sock.sendall(text.encode("utf-8") + b"\r\n")

    def login(self, nick: str) -> None:
        """Read the prompt, send ``nick``, read the welcome line (not what follows it)."""
        assert self.line() == PROMPT
        self.say(nick)
        assert self.line() == welcome(nick)

    def after_welcome(self) -> str:
        """Read the lines a login gets after its welcome, and return its visit line.

        They are (protocol v1.1) the retention line, which must come next; the room's replay
        (stored lines, and a password login's line about more messages since it left), kept in
        :attr:`replayed`; then the visit line (first visit, or the previous connection's time),
        also kept in :attr:`visit`, which waits for the database. Join and leave notices that
        arrive meanwhile (other users logging in, or another node's) are kept, in order, for
        the next reads; any other line fails.
        """
        replayed, ahead, line = read_after_welcome(self.line)
        self.replayed = replayed
        self.visit = line
        self._ahead = ahead + self._ahead
        return line

    def assert_closed_by_server(self) -> None:
        """Nothing more to read, and the server closed the connection."""
        assert self.buffer == b"" and not self._ahead, (self.buffer, self._ahead)
        assert self.sock.recv(4096) == b""

    def rest(self) -> list[str]:
        """Every line left until the server closes the connection with EOF (bounded).

        A RST instead of EOF fails the test (``ConnectionResetError``).
        """
        while data := self.sock.recv(4096):
            self.buffer += data
        assert self.buffer.endswith(b"\r\n") or not self.buffer, self.buffer
        lines = [raw.decode("utf-8") for raw in self.buffer.split(b"\r\n")[:-1]]
        self.buffer = b""
        ahead, self._ahead = self._ahead, []
        return ahead + lines

    def line_within(self, timeout: float) -> str:
        """The next line (see :meth:`line`), waiting at most ``timeout`` seconds for it."""
        self.sock.settimeout(timeout)
        try:
            return self.line()
        finally:
            self.sock.settimeout(SOCKET_TIMEOUT)

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()

    def reset(self) -> None:
        """Close with ``SO_LINGER`` 0: the server gets a RST instead of a FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


def read_after_welcome(line: Callable[[], str]) -> tuple[list[str], list[str], str]:
    """Read, with ``line``, the lines a login gets after its welcome (protocol v1.1): the
    retention line, which must come next, the room's replay and the visit line, which waits for
    the database. Returns the replayed lines, the join and leave notices that came meanwhile
    (in order), and the visit line; any other line fails."""
    retention = line()
    assert RETENTION_ANY.fullmatch(retention), f"expected the retention line: {retention!r}"
    replayed: list[str] = []
    ahead: list[str] = []
    while True:
        got = line()
        if STORED_LINE.fullmatch(got) or MISSED_LINE.fullmatch(got):
            replayed.append(got)
        elif is_presence(got):
            ahead.append(got)
        else:
            break
    assert VISIT_ANY.fullmatch(got), f"expected the visit line: {got!r} (after {ahead})"
    return replayed, ahead, got


def is_presence(line: str) -> bool:
    """Whether ``line`` is a join or leave notice (of anyone)."""
    endings = (" se ha unido al chat.", " ha salido del chat.")
    return line.startswith("* ") and line.endswith(endings)


@dataclass
class Twistd:
    """A running ``twistd -n chat`` process."""

    process: subprocess.Popen[bytes]
    port: int
    output: Path

    def log(self) -> str:
        """Everything the process printed so far (stdout and stderr)."""
        return self.output.read_text(errors="replace")


def chat_command(port: int, db: str, *options: str, listen: str | None = None) -> list[str]:
    """The command line ``twistd -n --pidfile= chat --port ... --db DB OPTIONS...`` of a server
    listening on ``port`` of loopback (or on the endpoint ``listen``)."""
    return [
        str(TWISTD),
        "-n",
        "--pidfile=",
        "chat",
        "--port",
        listen or f"tcp:{port}:interface=127.0.0.1",
        "--db",
        db,
        *options,
    ]


#: What a probe accepts from a server started with any ``--lang``: the prompt, the
#: invalid-nickname line and the try-again line of every catalogue.
_ANY_LANGUAGE = (
    frozenset(f"* {c.prompt}" for c in CATALOGUES.values()),
    frozenset(f"! {c.nick_invalid}" for c in CATALOGUES.values()),
    frozenset(f"! {c.starting_up}" for c in CATALOGUES.values()),
)


def wait_until_serving(
    server: Twistd,
    logins: bool = True,
    *,
    preamble: bytes = b"",
    web_port: int | None = None,
    any_language: bool = False,
) -> None:
    """Poll (bounded) until the server accepts a connection and sends the prompt, and, with
    ``logins``, until it takes logins (its registered nicknames are loaded: an invalid nickname
    line gets the invalid-nickname line, not the starting-up one); fail with its log if it
    died. ``preamble`` is sent first on each probe (a PROXY protocol header, for a server
    listening behind HAProxy); ``web_port``, if given, must accept connections too; with
    ``any_language`` the lines may be in any catalogue's language (a server given ``--lang``)."""
    prompts, invalid, starting_up = (
        _ANY_LANGUAGE if any_language else ({PROMPT}, {NICK_INVALID}, {STARTING_UP})
    )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"twistd exited with {server.process.returncode}:\n{server.log()}")
        try:
            if web_port is not None:
                socket.create_connection(("127.0.0.1", web_port), timeout=SOCKET_TIMEOUT).close()
            probe = LineSocket(server.port, preamble=preamble)
        except OSError:
            time.sleep(0.1)
            continue
        try:
            prompt = probe.line()
            assert prompt in prompts, prompt  # listening, and the service is up
            if logins:
                probe.say("1")  # never a valid nickname: no login, nothing recorded
                reply = probe.line()
                if reply in starting_up:  # registered nicknames or bans not loaded yet
                    time.sleep(0.1)
                    continue
                assert reply in invalid, reply
        finally:
            probe.close()
        return
    raise AssertionError(f"twistd did not serve within {STARTUP_TIMEOUT}s:\n{server.log()}")


@contextmanager
def twistd_chat(
    directory: Path,
    db: str,
    logins: bool = True,
    extra: Sequence[str] = (),
    *,
    any_language: bool = False,
) -> Iterator[Twistd]:
    """Start ``twistd -n --pidfile= chat --db DB [EXTRA...]`` in ``directory`` (its output goes
    to ``twistd.log`` there) and wait until it serves (and, with ``logins``, takes logins: see
    :func:`wait_until_serving`; ``any_language`` for a server given ``--lang``); kill that
    process if it is still running at the end."""
    port = free_port()
    output = directory / "twistd.log"
    command = chat_command(port, db, *extra)
    with output.open("ab") as out:
        process = subprocess.Popen(command, cwd=directory, stdout=out, stderr=subprocess.STDOUT)
    server = Twistd(process, port, output)
    try:
        wait_until_serving(server, logins, any_language=any_language)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def run_twistd(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``twistd ARGS`` to completion (bounded), capturing its output."""
    return subprocess.run(
        [str(TWISTD), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def assert_refused(server: Twistd) -> None:
    """A new connection is refused: the server no longer listens."""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=SOCKET_TIMEOUT).close()
