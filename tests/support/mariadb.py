"""Finding, or starting, a real MariaDB/MySQL server for the tests.

Order: ``$CHAT_TEST_MYSQL_URL`` (e.g. ``mysql://root@127.0.0.1:3306``), else 127.0.0.1:3306 as
root with no password; if neither answers and ``mariadbd`` is installed, a private server is
started in a temporary directory on a free port (and stopped at the end). Each test gets a
database of its own, dropped afterwards (:func:`scratch_database`, or :func:`fresh_database` on a
:class:`PrivateMariaDB` that the outage tests stop and start). :func:`mysql_option` turns a URL
into the server's ``--db`` value; :func:`read_logins` reads back what the chat recorded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.support.processes import free_port
from twisted_chat.storage.url import MysqlURL, parse_db_url

DEFAULT_URL = "mysql://root@127.0.0.1:3306"
URL_ENV = "CHAT_TEST_MYSQL_URL"


def connect(url: MysqlURL, database: str | None = None, timeout: int = 3) -> Any:
    """A plain blocking MySQLdb connection (for test set-up and assertions only)."""
    import MySQLdb

    kwargs: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.user,
        "password": url.password,
        "charset": "utf8mb4",
        "connect_timeout": timeout,
        "autocommit": True,
    }
    if database:
        kwargs["database"] = database
    return MySQLdb.connect(**kwargs)


def mysql_option(url: MysqlURL) -> str:
    """The ``twistd chat --db`` value for ``url`` (password included, URL-quoted)."""
    auth = quote(url.user, safe="")
    if url.password:
        auth += ":" + quote(url.password, safe="")
    return f"mysql://{auth}@{url.host}:{url.port}/{url.database}"


def read_logins(url: MysqlURL) -> dict[str, float]:
    """``{nick_key: connected_at as a UTC timestamp}`` from ``url``'s ``clientes`` (blocking)."""
    conn = connect(url, url.database)
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT nick_key, connected_at FROM clientes")
        rows: list[tuple[str, datetime]] = list(cursor.fetchall())
    finally:
        conn.close()
    return {str(key): when.replace(tzinfo=UTC).timestamp() for key, when in rows}


def answers(url: MysqlURL) -> bool:
    """Whether a server answers at ``url`` with these credentials."""
    try:
        connect(url, timeout=2).close()
    except Exception:
        return False
    return True


def find_mariadbd() -> str | None:
    """The MariaDB server binary, if installed."""
    return shutil.which("mariadbd") or next(
        (p for p in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld") if os.path.exists(p)), None
    )


class PrivateMariaDB:
    """A MariaDB server of our own in a temporary directory; can be stopped and started again."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.directory = Path(tempfile.mkdtemp(prefix="chat-mariadb-"))
        self.datadir = self.directory / "data"
        self.port = free_port()
        self.url = MysqlURL(user="root", host="127.0.0.1", port=self.port, database="redes")
        self.process: subprocess.Popen[bytes] | None = None
        self._install()

    def _install(self) -> None:
        installer = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if installer is None:
            raise RuntimeError("mariadb-install-db not found")
        args = [
            installer,
            "--no-defaults",
            f"--datadir={self.datadir}",
            # Not the shared /tmp: bootstraps running at once (two xdist workers, two checkouts)
            # collide there on their temporary tables ("Unknown table 'mysql.tmp_user_sys'").
            f"--tmpdir={self.directory}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]
        if os.geteuid() == 0:
            args.append("--user=root")
        done = subprocess.run(args, check=False, capture_output=True, timeout=120)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
            raise RuntimeError(f"{installer} exited with {done.returncode}:\n{output}")

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until it answers."""
        args = [
            self.binary,
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--tmpdir={self.directory}",
            f"--socket={self.directory / 'mysqld.sock'}",
            f"--pid-file={self.directory / 'mysqld.pid'}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=32M",
            f"--log-error={self.directory / 'error.log'}",
        ]
        if os.geteuid() == 0:
            args.append("--user=root")
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if answers(self.url):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        log = (self.directory / "error.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"private MariaDB did not start:\n{log}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL), only the process we started."""
        if self.process is None:
            return
        process, self.process = self.process, None
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def destroy(self) -> None:
        """Stop the server and remove its files."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def locate() -> tuple[MysqlURL | None, PrivateMariaDB | None, str]:
    """Find a server for the tests: ``(url, private_server_or_None, why_not)``."""
    try:
        import MySQLdb  # noqa: F401
    except ImportError as e:
        return None, None, f"mysqlclient (MySQLdb) is not installed: {e}"
    wanted = os.environ.get(URL_ENV, DEFAULT_URL)
    parsed = parse_db_url(wanted)
    if not isinstance(parsed, MysqlURL):
        return None, None, f"${URL_ENV} must be a mysql:// URL, not {wanted!r}"
    if answers(parsed):
        return parsed, None, ""
    binary = find_mariadbd()
    if binary is None:
        return None, None, f"nothing answers at {parsed.describe()} and mariadbd is missing"
    try:
        server = PrivateMariaDB(binary)
        server.start()
    except Exception as e:
        return None, None, f"no server at {parsed.describe()}; starting a private one failed: {e}"
    return server.url, server, ""


@contextmanager
def scratch_database(url: MysqlURL) -> Iterator[MysqlURL]:
    """A new empty database on ``url``'s server, dropped afterwards."""
    name = f"chat_test_{uuid.uuid4().hex[:12]}"
    conn = connect(url)
    try:
        yield replace(url, database=name)
    finally:
        try:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        except Exception:
            conn = connect(url)
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@contextmanager
def fresh_database(server: PrivateMariaDB) -> Iterator[MysqlURL]:
    """A new database name on ``server`` (whoever uses it creates it), dropped afterwards.

    ``server`` is started first (and again afterwards) if a test left it stopped.
    """
    if server.process is None:
        server.start()
    url = replace(server.url, database=f"chat_outage_{uuid.uuid4().hex[:12]}")
    yield url
    if server.process is None:
        server.start()
    conn = connect(server.url)
    try:
        conn.cursor().execute(f"DROP DATABASE IF EXISTS `{url.database}`")
    finally:
        conn.close()
