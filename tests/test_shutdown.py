"""Graceful shutdown of the real ``twistd -n chat`` process on SIGTERM and SIGINT (issue 3, 6).

Each test starts its own ``twistd -n --pidfile= chat`` on a free loopback port, talks to it with
plain blocking sockets (every read bounded by a timeout), signals only that process (by its
``Popen`` handle) and checks: every connection, logged in or still at the prompt, gets a ``* ``
notice that the server is shutting down and then EOF; new connections are refused; the login
records are in the database; the process exits with status 0 within 5 seconds.
"""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest

from tests import mariadb
from twisted_chat.storage.url import MysqlURL
from twisted_chat.text import SPANISH

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90, method="thread")]

#: The ``twistd`` of the virtualenv running the tests.
TWISTD = Path(sys.executable).parent / "twistd"
#: Longest wait for the server to accept connections after it was started.
STARTUP_TIMEOUT = 20.0
#: Longest wait for one line or one connection, in seconds.
SOCKET_TIMEOUT = 5.0
#: The issue's bound: from the signal to the end of the process.
EXIT_WITHIN = 5.0

PROMPT = f"* {SPANISH.prompt}"
SHUTTING_DOWN = f"* {SPANISH.shutting_down}"


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

    def rest(self) -> list[str]:
        """Every line left until the server closes the connection with EOF (bounded).

        A RST instead of EOF fails the test (``ConnectionResetError``).
        """
        while data := self.sock.recv(4096):
            self.buffer += data
        assert self.buffer.endswith(b"\r\n") or not self.buffer, self.buffer
        lines = [raw.decode("utf-8") for raw in self.buffer.split(b"\r\n")[:-1]]
        self.buffer = b""
        return lines

    def login(self, nick: str) -> None:
        """Read the prompt, send ``nick``, read the welcome line (not what follows it)."""
        assert self.line() == PROMPT
        self.say(nick)
        assert self.line() == f"* {SPANISH.welcome.format(nick=nick)}"

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


@dataclass
class Twistd:
    """A running ``twistd -n chat`` process."""

    process: subprocess.Popen[bytes]
    port: int
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
            probe = LineSocket(server.port)
        except OSError:
            time.sleep(0.1)
            continue
        try:
            assert probe.line() == PROMPT  # listening, and the service is up
        finally:
            probe.close()
        return
    raise AssertionError(f"twistd did not listen within {STARTUP_TIMEOUT}s:\n{server.log()}")


@contextmanager
def twistd_chat(directory: Path, db: str) -> Iterator[Twistd]:
    """Start ``twistd -n --pidfile= chat --db DB``; kill that process if it is still running."""
    port = free_port()
    output = directory / "twistd.log"
    command = [
        str(TWISTD),
        "-n",
        "--pidfile=",
        "chat",
        "--port",
        f"tcp:{port}:interface=127.0.0.1",
        "--db",
        db,
    ]
    with output.open("wb") as out:
        process = subprocess.Popen(command, cwd=directory, stdout=out, stderr=subprocess.STDOUT)
    server = Twistd(process, port, output)
    try:
        wait_until_listening(server)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def assert_refused(server: Twistd) -> None:
    """A new connection is refused: the server no longer listens."""
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=SOCKET_TIMEOUT).close()


def wait_for_exit(server: Twistd, signalled_at: float) -> tuple[int, float]:
    """Wait until the process ends, at most :data:`EXIT_WITHIN` seconds after the signal.

    Returns the exit status and the seconds from the signal to the exit.
    """
    left = max(0.1, EXIT_WITHIN - (time.monotonic() - signalled_at))
    try:
        status = server.process.wait(timeout=left)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"twistd still running {EXIT_WITHIN}s after the signal:\n{server.log()}"
        ) from None
    return status, time.monotonic() - signalled_at


def utc_seconds(stamp: str | datetime) -> float:
    """A ``connected_at`` value (SQLite text or MySQL ``DATETIME``, both UTC) as a timestamp."""
    if isinstance(stamp, str):
        stamp = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
    return stamp.replace(tzinfo=UTC).timestamp()


def sqlite_logins(path: Path) -> dict[str, float]:
    """``{nick_key: connected_at}`` from an SQLite ``clientes`` table."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT nick_key, connected_at FROM clientes").fetchall()
    return {str(key): utc_seconds(str(when)) for key, when in rows}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_shutdown_sqlite(tmp_path: Path, signum: signal.Signals) -> None:
    database = tmp_path / "chat.sqlite3"
    with twistd_chat(tmp_path, f"sqlite:{database}") as server:
        ana = LineSocket(server.port)
        before = time.time()
        ana.login("ana")
        after = time.time()
        assert ana.line() == f"* {SPANISH.first_visit}"
        ana.say("/username")  # barrier: nothing else is pending for ana
        assert ana.line() == f"* {SPANISH.username.format(nick='ana')}"
        bob = LineSocket(server.port)  # stays at the prompt
        assert bob.line() == PROMPT
        carol = LineSocket(server.port)
        assert carol.line() == PROMPT
        carol.say("carol")  # races the signal: logged in or not, nothing may be lost

        signalled_at = time.monotonic()
        server.process.send_signal(signum)

        # Logged in or at the prompt: a "* " notice, then EOF. (Ana may first see carol join.)
        ana_lines = [ana.line()]
        if ana_lines[0] != SHUTTING_DOWN:
            ana_lines.append(ana.line())
        assert ana_lines[-1] == SHUTTING_DOWN, ana_lines
        assert ana_lines[:-1] in ([], [f"* {SPANISH.joined.format(nick='carol')}"]), ana_lines
        # The server stopped listening before it sent the notices (still running, maybe).
        assert_refused(server)
        assert ana.rest() == []
        assert bob.rest() == [SHUTTING_DOWN]
        carol_lines = carol.rest()
        assert carol_lines[-1] == SHUTTING_DOWN, carol_lines
        assert all(line.startswith("* ") for line in carol_lines), carol_lines
        for sock in (ana, bob, carol):
            sock.close()

        status, elapsed = wait_for_exit(server, signalled_at)
        log = server.log()
        assert status == 0, (status, log)
        assert elapsed < EXIT_WITHIN, elapsed
        assert "Traceback" not in log, log
        assert_refused(server)

    logins = sqlite_logins(database)
    assert int(before) <= logins["ana"] <= after + 1, (before, logins, after)
    if f"* {SPANISH.welcome.format(nick='carol')}" in carol_lines:
        assert "carol" in logins, (carol_lines, logins)
    assert "bob" not in logins


def mysql_option(url: MysqlURL) -> str:
    """The ``--db`` value for ``url`` (password included, URL-quoted)."""
    auth = quote(url.user, safe="")
    if url.password:
        auth += ":" + quote(url.password, safe="")
    return f"mysql://{auth}@{url.host}:{url.port}/{url.database}"


def mysql_logins(url: MysqlURL) -> dict[str, float]:
    """``{nick_key: connected_at}`` from the MySQL ``clientes`` table of ``url``'s database."""
    conn = mariadb.connect(url, url.database)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT nick_key, connected_at FROM clientes")
        return {str(key): utc_seconds(when) for key, when in cursor.fetchall()}
    finally:
        conn.close()


def wait_for_table(url: MysqlURL, table: str) -> None:
    """Poll (bounded) until the server has created ``table`` in ``url``'s database."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            conn = mariadb.connect(url, url.database)
        except Exception:
            conn = None
        if conn is not None:
            try:
                cursor = conn.cursor()
                cursor.execute("SHOW TABLES LIKE %s", (table,))
                if cursor.fetchall():
                    return
            finally:
                conn.close()
        assert time.monotonic() < deadline, f"table {table} not created"
        time.sleep(0.1)


@pytest.mark.mysql
def test_graceful_shutdown_flushes_pending_logins_to_mysql(
    tmp_path: Path, mysql_url: MysqlURL
) -> None:
    """Logins whose writes are still pending at SIGTERM are written before the process exits.

    The test holds a write lock on ``clientes``, so ana's write blocks in the database and bob's
    waits in the server's queue behind it; the lock is released half a second after the signal,
    while the server is flushing.
    """
    with twistd_chat(tmp_path, mysql_option(mysql_url)) as server:
        wait_for_table(mysql_url, "clientes")
        locker = mariadb.connect(mysql_url, mysql_url.database)
        try:
            locker.cursor().execute("LOCK TABLES clientes WRITE")
            ana = LineSocket(server.port)
            bob = LineSocket(server.port)
            before = time.time()
            ana.login("ana")
            bob.login("bob")
            after = time.time()
            assert ana.line() == f"* {SPANISH.joined.format(nick='bob')}"

            signalled_at = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            # Both are told, and closed, while the database writes are still blocked.
            assert ana.rest() == [SHUTTING_DOWN]
            assert bob.rest() == [SHUTTING_DOWN]
            assert server.process.poll() is None, "exited without waiting for the database"
            time.sleep(0.5)
        finally:
            locker.cursor().execute("UNLOCK TABLES")
            locker.close()
        status, elapsed = wait_for_exit(server, signalled_at)
        log = server.log()
        assert status == 0, (status, log)
        assert elapsed < EXIT_WITHIN, elapsed
        assert "Traceback" not in log, log

    logins = mysql_logins(mysql_url)
    for nick in ("ana", "bob"):
        assert int(before) <= logins[nick] <= after + 1, (nick, before, logins, after)
