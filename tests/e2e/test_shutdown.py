"""Graceful shutdown of the real ``twistd -n chat`` process on SIGTERM and SIGINT (issue 3, 6).

Each test starts its own ``twistd -n --pidfile= chat`` on a free loopback port, talks to it with
plain blocking sockets (every read bounded by a timeout), signals only that process (by its
``Popen`` handle) and checks: every connection, logged in or still at the prompt, gets a ``* ``
notice that the server is shutting down and then EOF; new connections are refused; the login
records are in the database; the process exits with status 0 within 5 seconds.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support import mariadb
from tests.support.expected import PROMPT, SHUTTING_DOWN
from tests.support.processes import STARTUP_TIMEOUT, LineSocket, Twistd, assert_refused, twistd_chat
from twisted_chat.storage.url import MysqlURL
from twisted_chat.text import SPANISH

pytestmark = [pytest.mark.timeout(90, method="thread")]

#: The issue's bound: from the signal to the end of the process.
EXIT_WITHIN = 5.0


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


def utc_seconds(stamp: str) -> float:
    """A ``connected_at`` value as SQLite stores it (UTC text) as a timestamp."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


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
        assert ana.line() == f"* {SPANISH.history_kept.format(days=30)}"
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
    with twistd_chat(tmp_path, mariadb.mysql_option(mysql_url)) as server:
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
            retention = f"* {SPANISH.history_kept.format(days=30)}"
            assert ana.line() == retention
            assert ana.line() == f"* {SPANISH.joined.format(nick='bob')}"

            signalled_at = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            # Both are told, and closed, while the database writes are still blocked (no visit
            # line: it waits for the login's write).
            assert ana.rest() == [SHUTTING_DOWN]
            assert bob.rest() == [retention, SHUTTING_DOWN]
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

    logins = mariadb.read_logins(mysql_url)
    for nick in ("ana", "bob"):
        assert int(before) <= logins[nick] <= after + 1, (nick, before, logins, after)
