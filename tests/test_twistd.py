"""Black-box tests of the real ``twistd -n chat`` process, talked to with plain blocking sockets.

Each test starts its own ``twistd`` (``--pidfile=`` so that several can run in one directory) on a
free loopback port, and stops only that process.
"""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The ``twistd`` of the virtualenv running the tests.
TWISTD = Path(sys.executable).parent / "twistd"
#: Longest wait for the server to accept connections after it was started.
STARTUP_TIMEOUT = 20.0
#: Longest wait for one line or one connection, in seconds.
SOCKET_TIMEOUT = 5.0


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LineSocket:
    """A blocking client socket with a timeout, reading CRLF-terminated UTF-8 lines."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
        self.buffer = b""

    def line(self) -> str:
        """The next server line (fails on timeout or if the server closes first)."""
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

    def assert_closed_by_server(self) -> None:
        """Nothing more to read, and the server closed the connection."""
        assert self.buffer == b""
        assert self.sock.recv(4096) == b""

    def rest(self) -> list[str]:
        """Every line left until the server closes the connection (bounded by the timeout)."""
        while data := self.sock.recv(4096):
            self.buffer += data
        assert self.buffer.endswith(b"\r\n") or not self.buffer, self.buffer
        lines = [raw.decode("utf-8") for raw in self.buffer.split(b"\r\n")[:-1]]
        self.buffer = b""
        return lines

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


@dataclass
class Twistd:
    """A running ``twistd -n chat`` process."""

    process: subprocess.Popen[bytes]
    port: int
    database: Path
    output: Path

    def log(self) -> str:
        """Everything the process printed so far (stdout and stderr)."""
        return self.output.read_text(errors="replace")


def wait_until_listening(server: Twistd) -> None:
    """Poll (bounded) until the server accepts a connection; fail with its log if it died."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"twistd exited with {server.process.returncode}:\n{server.log()}")
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
        except OSError:
            time.sleep(0.1)
        else:
            return
    raise AssertionError(f"twistd did not listen within {STARTUP_TIMEOUT}s:\n{server.log()}")


@contextmanager
def twistd_chat(directory: Path) -> Iterator[Twistd]:
    """Start ``twistd -n --pidfile= chat`` on SQLite in ``directory``; kill it if still running."""
    port = free_port()
    database = directory / "chat.sqlite3"
    output = directory / "twistd.log"
    command = [
        str(TWISTD),
        "-n",
        "--pidfile=",
        "chat",
        "--port",
        f"tcp:{port}:interface=127.0.0.1",
        "--db",
        f"sqlite:{database}",
    ]
    with output.open("wb") as out:
        process = subprocess.Popen(command, cwd=directory, stdout=out, stderr=subprocess.STDOUT)
    server = Twistd(process, port, database, output)
    try:
        wait_until_listening(server)
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


def test_twistd_chat_session_then_sigterm(tmp_path: Path) -> None:
    with twistd_chat(tmp_path) as server:
        ana = LineSocket(server.port)
        assert ana.line() == "* Bienvenido a twisted-chat. Elige un nickname:"
        ana.say("ana")
        assert ana.line() == "* Bienvenido, ana. Escribe /ayuda para ver los comandos."
        assert ana.line() == "* Es tu primera conexión."

        bob = LineSocket(server.port)
        assert bob.line() == "* Bienvenido a twisted-chat. Elige un nickname:"
        bob.say("Bob")
        assert bob.line() == "* Bienvenido, Bob. Escribe /ayuda para ver los comandos."
        assert bob.line() == "* Es tu primera conexión."
        assert ana.line() == "* Bob se ha unido al chat."

        bob.say("hola, ana ñ 👋")
        assert ana.line() == "<Bob> hola, ana ñ 👋"
        ana.say("/listar")
        assert ana.line() == "* Conectados (2): ana, Bob"
        bob.say("/username")  # barrier: bob received nothing else
        assert bob.line() == "* Tu nickname es Bob."

        ana.say("/salir")
        assert ana.line() == "* Hasta pronto, ana."
        ana.assert_closed_by_server()
        assert bob.line() == "* ana ha salido del chat."
        ana.close()

        with closing(sqlite3.connect(server.database)) as db:
            rows = db.execute(
                "SELECT nick_key, nickname, connected_at FROM clientes ORDER BY nick_key"
            ).fetchall()
        assert [row[:2] for row in rows] == [("ana", "ana"), ("bob", "Bob")]
        for row in rows:
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[2]), row

        server.process.send_signal(signal.SIGTERM)
        status = server.process.wait(timeout=10)
        # An orderly shutdown: the reactor stopped, the services stopped, the main loop ended.
        log = server.log()
        for milestone in ("Received SIGTERM, shutting down.", "Server Shut Down."):
            assert milestone in log, log
        # twistd then re-raises the signal that stopped it (twisted.application.app.
        # _exitWithSignal), so "terminated by SIGTERM" is its normal status after a clean stop.
        assert status in (0, -signal.SIGTERM), (status, log)
        # The connection went with the server (after at most some "* " notices).
        assert all(line.startswith("* ") for line in bob.rest()), log
        bob.close()
        assert "Traceback" not in server.log(), server.log()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--db", "bogus://x"], "bad --db"),
        (["--db", "sqlite:"], "bad --db"),
        (["--db", "mysql://host-without-user"], "bad --db"),
        (["--lang", "xx"], "bad --lang"),
        (["--port", "nonsense:1234"], "bad --port"),
    ],
)
def test_bad_option_is_a_usage_error(tmp_path: Path, args: list[str], complaint: str) -> None:
    result = run_twistd(
        "-n", "--pidfile=", "chat", "--port", "tcp:0:interface=127.0.0.1", *args, cwd=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Usage: twistd" in output
    assert complaint in output
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


def test_help_lists_the_options(tmp_path: Path) -> None:
    result = run_twistd("chat", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for option in ("--port", "--db", "--lang"):
        assert option in result.stdout
    assert "Traceback" not in result.stderr
