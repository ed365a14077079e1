"""A private ``redis-server`` for the cluster tests, and a tiny blocking client to look inside it.

:class:`RedisServer` starts ``redis-server`` on a free loopback port in a temporary directory (in
the foreground, no persistence), waits until it answers ``PING``, and can be killed (SIGKILL, by
its PID) and started again, empty, on the same port: an outage and its end, as the cluster nodes
see them. It never touches the system Redis on 6379. :func:`command` sends one command in RESP
and parses the reply, enough for the tests' assertions (``KEYS``, ``PING``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.processes import free_port

#: Longest wait for ``redis-server`` to answer after it was started, in seconds.
STARTUP_TIMEOUT = 15.0
#: Longest wait for one reply, in seconds.
REPLY_TIMEOUT = 5.0

#: The password of the fixture's Redis that requires one.
TEST_PASSWORD = "s3cret-redis"

#: A parsed RESP reply: simple string, integer, bulk string (``None`` when null), or array.
Reply = str | int | None | list["Reply"]


class RedisError(Exception):
    """Redis answered with an error reply (``-ERR ...``)."""


def find_redis_server() -> str | None:
    """The ``redis-server`` binary, if installed."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )


def _encode(*args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode("utf-8")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _Reader:
    """Reads RESP replies from a blocking socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError(f"Redis closed the connection; unread {self.buffer!r}")
        self.buffer += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count + 2:
            self._fill()
        data, self.buffer = self.buffer[:count], self.buffer[count + 2 :]
        return data

    def reply(self) -> Reply:
        line = self._line()
        kind, rest = line[:1], line[1:].decode("utf-8")
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._exactly(size).decode("utf-8", "replace")
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self.reply() for _ in range(size)]
        raise ConnectionError(f"not a RESP reply: {line!r}")


def command(port: int, *args: str, password: str | None = None) -> Reply:
    """Send one command to the Redis on 127.0.0.1:``port`` and return its parsed reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT) as sock:
        reader = _Reader(sock)
        if password is not None:
            sock.sendall(_encode("AUTH", password))
            reader.reply()
        sock.sendall(_encode(*args))
        return reader.reply()


def answers_ping(port: int, password: str | None = None) -> bool:
    """Whether a Redis on ``port`` answers ``PING`` with ``+PONG`` (a raw inline command)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            if password is not None:
                sock.sendall(_encode("AUTH", password))
                _Reader(sock).reply()
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except (OSError, RedisError):
        return False


class RedisServer:
    """A ``redis-server`` of the tests' own on a free loopback port; killed and restarted at will.

    ``password`` makes it require ``AUTH`` (``--requirepass``).
    """

    def __init__(self, binary: str, password: str | None = None) -> None:
        self.binary = binary
        self.password = password
        self.directory = Path(tempfile.mkdtemp(prefix="chat-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """The ``--redis`` URL of this server (without the password)."""
        return f"redis://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the server's output of its latest start goes."""
        return self.directory / f"redis-{self.starts}.log"

    def start(self) -> None:
        """Start the server (empty: no persistence) and wait until it answers ``PING``."""
        assert self.process is None, "redis-server already running"
        self.starts += 1
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
        ]
        if self.password is not None:
            args += ["--requirepass", self.password]
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if answers_ping(self.port, self.password):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        log = self.log_path.read_text(errors="replace")[-2000:]
        self.kill()
        raise RuntimeError(f"redis-server did not answer PING on {self.port}:\n{log}")

    def kill(self) -> None:
        """SIGKILL the server (only the process we started), and wait for it to be gone."""
        if self.process is None:
            return
        process, self.process = self.process, None
        process.kill()
        process.wait(timeout=10)

    def restart(self) -> None:
        """Start the server again on the same port, empty (after :meth:`kill`)."""
        self.kill()
        self.start()

    def command(self, *args: str) -> Reply:
        """Send one command and return its reply (see :func:`command`)."""
        return command(self.port, *args, password=self.password)

    def key_names(self) -> list[str]:
        """Every key in the server's database 0 (``KEYS *``; the test server is small)."""
        reply = self.command("KEYS", "*")
        assert isinstance(reply, list), reply
        return [str(key) for key in reply]

    def destroy(self) -> None:
        """Kill the server and remove its files."""
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)
