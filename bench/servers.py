"""The servers the benchmark measures, started as child processes, and what it reads about them.

Three servers, each started on a free loopback port and stopped (SIGTERM, then SIGKILL, by the
PID of the child we started) at the end of its row:

- ``ours``: the real ``twistd -n chat`` with ``--flood-rate 0`` and every other option at its
  default;
- ``bare``: ``bench/reference/bare_twisted.py``, the textbook Twisted ``LineReceiver`` chat;
- ``threaded``: ``bench/reference/threaded.py``, the original thread-per-client design;
- ``ours-ws``: the same ``twistd -n chat``, its clients on the ``--web`` WebSocket instead of
  the line port (measured in the fan-out row at 1000 clients, next to ``ours``);
- ``floor``: ``bench/reference/send_loop.py``, no chat server at all but the cheapest Python
  fan-out (an ``epoll`` loop, one ``send`` per recipient), measured in the fixed-rate fan-out
  rows only: the CPU per delivery below which no server that writes each message as it arrives
  can go on this machine;
- ``ours-irc``: the same ``twistd -n chat`` with its clients on the ``--irc`` listener (issue
  16; the line port on a free port of its own, only to tell when logins are taken), history on
  as by default (``--history-days`` of the row otherwise);
- ``ngircd``: ngIRCd (Debian's ``ngircd``, a C IRC server: ``$CHAT_BENCH_NGIRCD`` or the one on
  PATH or in /usr/sbin), in the foreground (``-n``) with its own configuration file written in
  the row's scratch directory (:func:`ngircd_config`: no limits on connections and channels,
  no penalties, no DNS, ident or PAM), the IRC rows' reference;
- ``cluster``: N nodes of ours (``twistd -n chat --redis ... --node-id nodeK``), each on its own
  free port with its own SQLite file, joined through a private ``redis-server`` started here on
  a free port with no persistence (never the system Redis on 6379). Its CPU is the sum over
  every node and Redis. With ``metrics`` each node also serves ``--metrics`` on a free port of
  its own (the rooms rows read its per-room envelope counter there).

A row measures a :class:`ServerGroup`: one process for the plain servers, the nodes and Redis
for a cluster; clients spread round-robin over its ports.

Server CPU time and memory come from ``/proc/PID/stat`` and ``/proc/PID/status`` (a process's
``stat`` counts every thread). MySQL scratch databases for the ``connect`` rows are created here
and dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "bench" / "reference"
SERVERS = ("ours", "bare", "threaded")
#: The IRC servers (issue 16's rows): ours on ``--irc`` and ngIRCd.
IRC_SERVERS = ("ours-irc", "ngircd")
#: Every server, with the WebSocket front of ours and the floor (fan-out rows only).
ALL_SERVERS = (*SERVERS, "ours-ws", "floor", *IRC_SERVERS)
#: Nodes of ours joined through Redis (rows say how many).
CLUSTER = "cluster"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: The nodes' ``--redis-prefix`` (the benchmark passes none: this is the default).
REDIS_PREFIX = "chat:"
DEFAULT_MYSQL = "mysql://root@127.0.0.1:3306"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), in seconds; 0 if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    # After the command name: state is field 3 of the whole line, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds every process of the machine has run since boot (user and system time from
    /proc/stat; not idle, I/O wait, interrupts or steal), to compare with our processes'."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return 0.0
    user, nice, system = (int(v) for v in first[1:4])  # cpu user nice system idle ...
    return (user + nice + system) / CLOCK_TICKS


def memory_kib(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of ``pid`` from /proc/PID/status, in KiB (0 if unavailable)."""
    try:
        for text in Path(f"/proc/{pid}/status").read_text().splitlines():
            if text.startswith(field + ":"):
                return int(text.split()[1])
    except OSError:
        pass
    return 0


def thread_count(pid: int) -> int:
    """Threads of ``pid`` (0 if gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def listen_overflows() -> int:
    """The kernel's count of connections dropped because a listen queue was full (-1: unknown).

    Machine-wide (``TcpExtListenOverflows`` in /proc/net/netstat); on a machine running only the
    benchmark, the difference over a row is that row's server.
    """
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return -1
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenOverflows", -1))
    return -1


def raise_open_files_limit() -> int:
    """Raise this process's soft open-files limit to its hard limit; return the new soft limit.

    Child processes (the servers) inherit it.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


#: CPUs the servers started from now on may use (None: as this process). See :func:`pin_cpus`.
_server_cpus: set[int] | None = None


def pin_cpus() -> str:
    """Keep the load generator on one CPU, off the others; say how.

    On a machine with at least two CPUs the load generator (this process, and what it starts
    later) is confined to the last CPU this process may use, while the servers started from now
    on may use them all (the scheduler then runs a busy server on another CPU than the
    generator's): a server-bound row measures the server, not the two fighting for one core,
    and a server that uses threads (ours for the database, the threaded reference) keeps every
    CPU. Every server is treated the same way. Returns a note for the results ("" if nothing
    was pinned).
    """
    global _server_cpus
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return ""
    _server_cpus = set(cpus)
    os.sched_setaffinity(0, cpus[-1:])
    return f"load generator on CPU {cpus[-1]}, servers on CPUs {','.join(map(str, cpus))}"


def server_cpus() -> set[int]:
    """The CPUs servers started from now on may use."""
    return set(_server_cpus) if _server_cpus is not None else os.sched_getaffinity(0)


def _pin_server() -> None:
    """In the child, before exec: the servers' CPUs, not the generator's (see :func:`pin_cpus`)."""
    if _server_cpus is not None:
        os.sched_setaffinity(0, _server_cpus)


@dataclass
class ServerProcess:
    """A server child process we started."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    command: list[str]
    #: The port of its ``--metrics`` site, if it serves one.
    metrics_port: int | None = None

    @property
    def pid(self) -> int:
        """The server's PID (the process we started; twistd -n does not fork)."""
        return self.process.pid

    def cpu(self) -> float:
        """CPU seconds the server has used so far."""
        return cpu_seconds(self.pid)

    def rss_kib(self) -> int:
        """The server's resident memory now, in KiB."""
        return memory_kib(self.pid)

    def peak_rss_kib(self) -> int:
        """The server's peak resident memory so far, in KiB."""
        return memory_kib(self.pid, "VmHWM")

    def threads(self) -> int:
        """The server's threads now."""
        return thread_count(self.pid)

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def terminate(self) -> None:
        """Send SIGTERM (only to our own child, and only if it is still running)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; return the exit code."""
        self.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the server's log (for error reports)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def server_command(name: str, port: int, db: str | None, workdir: Path) -> list[str]:
    """The command line that starts server ``name`` on 127.0.0.1:``port``."""
    python = sys.executable
    if name in ("ours", "ours-ws"):
        twistd = str(Path(python).parent / "twistd")
        command = [twistd, "-n", "--pidfile=", "-l", str(workdir / "twistd.log"), "chat"]
        if name == "ours":
            command += ["--port", f"tcp:{port}:interface=127.0.0.1"]
        else:  # the clients' port is the web one; the line port is anywhere
            command += ["--port", "tcp:0:interface=127.0.0.1"]
            command += ["--web", f"tcp:{port}:interface=127.0.0.1"]
        command += ["--flood-rate", "0"]
        return [*command, "--db", db or f"sqlite:{workdir / 'chat.sqlite3'}"]
    if name == "ours-irc":
        raise ValueError("ours-irc needs a line port too: see start_server")
    if name == "ngircd":
        binary = ngircd_binary()
        if binary is None:
            raise RuntimeError(irc_unavailable())
        config = workdir / "ngircd.conf"
        config.write_text(ngircd_config(port))
        return [binary, "--nodaemon", "--config", str(config)]
    if name == "bare":
        return [python, str(REFERENCE / "bare_twisted.py"), str(port)]
    if name == "threaded":
        db = db or f"sqlite:{workdir / 'threaded.sqlite3'}"
        return [python, str(REFERENCE / "threaded.py"), "--port", str(port), "--db", db]
    if name == "floor":
        return [python, str(REFERENCE / "send_loop.py"), str(port)]
    raise ValueError(f"unknown server {name!r} (one of {', '.join(ALL_SERVERS)})")


#: The start of ours's reply to a nickname line while its registered nicknames are not loaded.
STARTING_UP = "! El servidor está arrancando".encode()


def _takes_logins(probe: socket.socket) -> bool:
    """Whether ours, at the prompt on ``probe``, takes logins yet (its registered nicknames are
    loaded): an invalid nickname line gets the invalid-nickname line, not the starting-up one."""
    probe.sendall(b"1\r\n")  # never a valid nickname: no login, nothing recorded
    return not probe.recv(1024).startswith(STARTING_UP)


def ours_irc_command(port: int, line_port: int, db: str | None, workdir: Path) -> list[str]:
    """Ours with its IRC listener on 127.0.0.1:``port`` (the clients' port) and its line
    listener on ``line_port`` (for :func:`_takes_logins` only); no flood control, as every row
    of ours."""
    twistd = str(Path(sys.executable).parent / "twistd")
    return [
        twistd, "-n", "--pidfile=", "-l", str(workdir / "twistd.log"), "chat",
        "--irc", f"tcp:{port}:interface=127.0.0.1",
        "--port", f"tcp:{line_port}:interface=127.0.0.1",
        "--server-name", "bench.ours.local",
        "--flood-rate", "0",
        "--db", db or f"sqlite:{workdir / 'chat.sqlite3'}",
    ]  # fmt: skip


def ngircd_binary() -> str | None:
    """The ``ngircd`` to start: ``$CHAT_BENCH_NGIRCD``, the one on PATH, or /usr/sbin's."""
    found = os.environ.get("CHAT_BENCH_NGIRCD") or shutil.which("ngircd")
    if found is None and os.access("/usr/sbin/ngircd", os.X_OK):
        found = "/usr/sbin/ngircd"
    return found


def irc_unavailable() -> str:
    """Empty if the ngIRCd rows can run here, else why not."""
    if ngircd_binary() is None:
        return "ngircd not found (apt-get install ngircd, or $CHAT_BENCH_NGIRCD)"
    return ""


def ngircd_config(port: int) -> str:
    """ngIRCd's configuration for a row: listening on 127.0.0.1:``port`` only, every limit
    that would refuse the benchmark's clients raised, and nothing ours does not do either.

    - ``MaxConnections = 0``, ``MaxConnectionsIP = 0``: no cap (ours: ``--max-clients`` 10,000
      and loopback exempt from ``--max-per-ip``); ``MaxJoins = 0``: no cap on channels a user
      joins (ours has none); ``MaxNickLength = 20``: ours's ``NICKLEN``.
    - ``MaxPenaltyTime = 0``: no penalty time, so no flood throttling (ours runs with
      ``--flood-rate 0``). ngIRCd still handles at most 3 commands of a client per pass of its
      main loop before turning to the next connection (a scheduling rule, not a delay: with
      penalties off it comes back to the rest at once).
    - ``PingTimeout``/``PongTimeout = 3600``: it does not ``PING`` the silent receivers during a
      row (ours never pings; ``--idle-timeout`` is 0 by default).
    - ``DNS = no``, ``Ident = no``: no reverse lookup or ident query per connection (ours does
      neither); ``PAM = no``: no PAM call at registration (ours asks no password here).
    - ``MotdPhrase``: a one-line MOTD (ours: the retention line and the last visit's).

    It keeps nothing (no history, no database): the ``ours-irc`` rows with ``--history-days 0``
    compare like with like. Run as root, ngIRCd switches to the user ``nobody`` after binding.
    """
    return (
        "[Global]\n"
        "Name = bench.ngircd.local\n"
        "Info = twisted-chat benchmark reference\n"
        "AdminInfo1 = bench\nAdminInfo2 = bench\nAdminEMail = bench@localhost\n"
        "Listen = 127.0.0.1\n"
        f"Ports = {port}\n"
        "MotdPhrase = twisted-chat benchmark\n"
        "[Limits]\n"
        "MaxConnections = 0\nMaxConnectionsIP = 0\nMaxJoins = 0\nMaxNickLength = 20\n"
        "MaxPenaltyTime = 0\nPingTimeout = 3600\nPongTimeout = 3600\n"
        "[Options]\n"
        "DNS = no\nIdent = no\nPAM = no\n"
    )


def start_server(
    name: str,
    workdir: Path,
    db: str | None = None,
    extra: Sequence[str] = (),
    label: str | None = None,
) -> ServerProcess:
    """Start server ``name`` on a free loopback port and wait until it accepts connections.

    ``db`` is a ``--db`` URL for ``ours`` and ``threaded`` (default: SQLite in ``workdir``);
    ``extra`` is appended to the command line; ``label`` names the process in logs and notes.
    """
    port = free_port()
    if name == "ours-irc":
        line_port = free_port()
        command = [*ours_irc_command(port, line_port, db, workdir), *extra]
        server = _spawn(label or name, port, command, workdir)
        # Ours takes logins once its line port says so; the IRC listener starts with it.
        _wait_ready(server, _ours_probe, probe_port=line_port)
        return _wait_ready(server, _accepts)
    command = [*server_command(name, port, db, workdir), *extra]
    server = _spawn(label or name, port, command, workdir)
    probe = {"ours": _ours_probe, "ours-ws": _web_probe, "ngircd": _accepts}.get(name, _chat_probe)
    return _wait_ready(server, probe)


def _spawn(name: str, port: int, command: list[str], workdir: Path) -> ServerProcess:
    """Start ``command`` in ``workdir``, output to ``workdir/NAME.out``, on the servers' CPUs."""
    log_path = workdir / f"{name}.out"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            preexec_fn=_pin_server if _server_cpus is not None else None,
        )
    return ServerProcess(name, port, process, log_path, command)


def _accepts(probe: socket.socket) -> bool:
    """An IRC server is serving once it accepts a connection (the client speaks first; ngIRCd
    listens only once it has started)."""
    return True


def _chat_probe(probe: socket.socket) -> bool:
    """A chat server is serving once it sends its prompt."""
    return bool(probe.recv(1024))


def _ours_probe(probe: socket.socket) -> bool:
    """Ours is serving once it sends its prompt and takes logins (see :func:`_takes_logins`)."""
    return bool(probe.recv(1024)) and _takes_logins(probe)


def _web_probe(probe: socket.socket) -> bool:
    """Ours behind ``--web`` is serving once it answers a page request (SQLite's registered
    nicknames load within milliseconds of that; the WebSocket clients log in later)."""
    probe.sendall(b"GET / HTTP/1.0\r\n\r\n")
    if not probe.recv(1024):
        return False
    time.sleep(0.5)
    return True


def _redis_probe(probe: socket.socket) -> bool:
    """Redis is serving once it answers PING (it refuses commands while loading)."""
    probe.sendall(b"PING\r\n")
    return probe.recv(1024).startswith(b"+PONG")


def _wait_ready(
    server: ServerProcess,
    ready: Callable[[socket.socket], bool],
    timeout: float = 30.0,
    probe_port: int | None = None,
) -> ServerProcess:
    """Wait until ``ready`` says the server on its port (or ``probe_port``) serves; stop it
    and raise if not."""
    port = probe_port or server.port
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            code = server.process.returncode
            raise RuntimeError(f"{server.name} exited with {code}:\n{server.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5) as probe:
                probe.settimeout(5)
                if ready(probe):
                    return server
        except OSError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} did not start serving on port {port}:\n{server.log_tail()}")


# -- Redis and clusters ---------------------------------------------------------------------


def redis_server_binary() -> str | None:
    """The ``redis-server`` to start (``$CHAT_BENCH_REDIS_SERVER`` or the one on PATH)."""
    return os.environ.get("CHAT_BENCH_REDIS_SERVER") or shutil.which("redis-server")


def cluster_unavailable() -> str:
    """Empty if cluster rows can run here, else why not (no redis-server, no ``--redis``)."""
    if redis_server_binary() is None:
        return "redis-server not found (apt-get install redis-server, or $CHAT_BENCH_REDIS_SERVER)"
    twistd = str(Path(sys.executable).parent / "twistd")
    try:
        done = subprocess.run(
            [twistd, "chat", "--help"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run {twistd} chat --help: {e}"
    if "--redis" not in done.stdout:
        return "this build of twistd chat has no --redis option (cluster mode not merged)"
    return ""


def redis_publishes(port: int) -> int:
    """How many PUBLISH commands the Redis on ``port`` has run (-1: unknown)."""
    try:
        with socket.create_connection(("127.0.0.1", port), 2) as conn:
            conn.settimeout(2)
            conn.sendall(b"INFO commandstats\r\n")
            reply = b""
            while not reply.endswith(b"\r\n\r\n") and len(reply) < 1_000_000:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return -1
    for line in reply.decode("ascii", "replace").splitlines():
        if line.startswith("cmdstat_publish:"):
            fields = dict(item.split("=", 1) for item in line.split(":", 1)[1].split(","))
            return int(fields.get("calls", -1))
    return 0


def redis_has_key(port: int, key: str) -> bool:
    """Whether the Redis on ``port`` holds ``key`` (False if it cannot be asked)."""
    try:
        with socket.create_connection(("127.0.0.1", port), 2) as conn:
            conn.settimeout(2)
            conn.sendall(f"EXISTS {key}\r\n".encode())
            return conn.recv(64).startswith(b":1")
    except OSError:
        return False


def _read_reply(conn: socket.socket, limit: int = 1_000_000) -> bytes:
    """Read one RESP array of bulk strings and integers from ``conn`` (bounded by ``limit``
    bytes and the socket's timeout); the raw bytes."""
    reply = b""
    while len(reply) < limit:
        chunk = conn.recv(65536)
        if not chunk:
            break
        reply += chunk
        if _resp_complete(reply):
            break
    return reply


def _resp_complete(data: bytes) -> bool:
    """Whether ``data`` holds one whole RESP array of bulk strings and integers."""
    try:
        items, _ = parse_resp_array(data, 0)
    except ValueError:
        return False
    return items is not None


def parse_resp_array(data: bytes, at: int) -> tuple[list[bytes | int] | None, int]:
    """One RESP array of bulk strings and integers at ``data[at:]``: its items and where it
    ends, or ``(None, at)`` if it is not all there yet. Raises ValueError on anything else."""
    end = data.find(b"\r\n", at)
    if end < 0:
        return None, at
    if data[at : at + 1] != b"*":
        raise ValueError(f"not a RESP array: {data[at : at + 40]!r}")
    count = int(data[at + 1 : end])
    at = end + 2
    items: list[bytes | int] = []
    for _ in range(max(0, count)):
        end = data.find(b"\r\n", at)
        if end < 0:
            return None, at
        kind, value = data[at : at + 1], data[at + 1 : end]
        if kind == b":":
            items.append(int(value))
            at = end + 2
        elif kind == b"$":
            size = int(value)
            start = end + 2
            if len(data) < start + size + 2:
                return None, at
            items.append(data[start : start + size])
            at = start + size + 2
        else:
            raise ValueError(f"unexpected RESP item: {data[at : at + 40]!r}")
    return items, at


def redis_numsub(port: int, channels: Sequence[str]) -> dict[str, int] | None:
    """``PUBSUB NUMSUB`` of ``channels`` on the Redis on ``port``: subscribers of each channel
    (pattern subscriptions not counted); ``None`` if it cannot be asked."""
    if not channels:
        return {}
    command = [b"PUBSUB", b"NUMSUB", *(c.encode() for c in channels)]
    request = b"*%d\r\n" % len(command) + b"".join(
        b"$%d\r\n%s\r\n" % (len(part), part) for part in command
    )
    try:
        with socket.create_connection(("127.0.0.1", port), 2) as conn:
            conn.settimeout(2)
            conn.sendall(request)
            items, _ = parse_resp_array(_read_reply(conn), 0)
    except (OSError, ValueError):
        return None
    if items is None:
        return None
    found: dict[str, int] = {}
    for name, count in zip(items[::2], items[1::2], strict=False):
        if isinstance(name, bytes) and isinstance(count, int):
            found[name.decode()] = count
    return found


def scrape_metrics(port: int, timeout: float = 5.0) -> str | None:
    """The text of ``/metrics`` on 127.0.0.1:``port`` (``None`` if it cannot be read)."""
    try:
        with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as page:
            body: bytes = page.read(10_000_000)
    except OSError:
        return None
    return body.decode("utf-8", "replace")


def _wait_joined(node: ServerProcess, redis_port: int, node_id: str, timeout: float = 15) -> None:
    """Wait until node ``node_id`` has registered in Redis (its ``alive`` key is there)."""
    deadline = time.monotonic() + timeout
    while not redis_has_key(redis_port, f"{REDIS_PREFIX}alive:{node_id}"):
        if time.monotonic() > deadline or not node.alive():
            raise RuntimeError(f"{node.name} did not join the cluster:\n{node.log_tail()}")
        time.sleep(0.05)


def start_redis(workdir: Path) -> ServerProcess:
    """A private ``redis-server`` on a free loopback port: no snapshots, no append-only file."""
    binary = redis_server_binary()
    if binary is None:
        raise RuntimeError(cluster_unavailable())
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    command += ["no", "--dir", str(workdir), "--logfile", ""]
    return _wait_ready(_spawn("redis", port, command, workdir), _redis_probe)


@dataclass
class ServerGroup:
    """What one row measures: the chat servers the clients talk to and the helpers they need.

    ``nodes`` serve clients (one for the plain servers); ``helpers`` (Redis) serve the nodes.
    CPU and memory are summed over every process; clients spread round-robin over ``ports``.
    """

    name: str
    nodes: list[ServerProcess]
    helpers: list[ServerProcess] = field(default_factory=list)

    @property
    def processes(self) -> list[ServerProcess]:
        """Every process of the group, nodes first."""
        return [*self.nodes, *self.helpers]

    @property
    def ports(self) -> list[int]:
        """The ports clients connect to, one per node."""
        return [node.port for node in self.nodes]

    def cpu(self) -> float:
        """CPU seconds used so far by every process of the group."""
        return sum(p.cpu() for p in self.processes)

    def cpu_by_process(self) -> dict[str, float]:
        """CPU seconds used so far, by process name."""
        return {p.name: p.cpu() for p in self.processes}

    def rss_kib(self) -> int:
        """Resident memory now, summed, in KiB."""
        return sum(p.rss_kib() for p in self.processes)

    def peak_rss_kib(self) -> int:
        """Peak resident memory of each process, summed, in KiB."""
        return sum(p.peak_rss_kib() for p in self.processes)

    def threads(self) -> int:
        """Threads now, summed."""
        return sum(p.threads() for p in self.processes)

    def publishes(self) -> int:
        """PUBLISH commands the group's Redis has run so far (-1: no Redis, or unknown)."""
        redis = [p for p in self.helpers if p.name == "redis"]
        return redis_publishes(redis[0].port) if redis else -1

    def redis_port(self) -> int | None:
        """The port of the group's Redis (``None``: no Redis)."""
        redis = [p for p in self.helpers if p.name == "redis"]
        return redis[0].port if redis else None

    def alive(self) -> bool:
        """Whether any node still runs."""
        return any(node.alive() for node in self.nodes)

    def terminate(self) -> None:
        """SIGTERM every node (helpers stay up until :meth:`stop`: nodes shut down through them)."""
        for node in self.nodes:
            node.terminate()

    def stop(self, timeout: float = 15.0) -> int:
        """Stop the nodes, then the helpers (see :meth:`ServerProcess.stop`); the worst code."""
        codes = [node.stop(timeout) for node in self.nodes]
        codes += [helper.stop(timeout) for helper in self.helpers]
        return max(codes, key=abs)

    def log_tail(self, chars: int = 2000) -> str:
        """The end of every process's log."""
        share = max(200, chars // len(self.processes))
        return "\n".join(f"[{p.name}] {p.log_tail(share)}" for p in self.processes)


def start_group(
    name: str,
    workdir: Path,
    db: str | None = None,
    nodes: int = 0,
    metrics: bool = False,
    extra: Sequence[str] = (),
) -> ServerGroup:
    """Start server ``name`` (see :func:`start_server`), or a cluster of ``nodes`` nodes of
    ours on a private Redis when ``name`` is :data:`CLUSTER`; stop what started on failure.

    With ``metrics``, each node of a cluster also serves ``--metrics`` on a free loopback port
    (its :attr:`ServerProcess.metrics_port`). ``extra`` is appended to the command line of
    ours (every node of a cluster; e.g. ``--history-days 0``)."""
    if name != CLUSTER:
        return ServerGroup(name, [start_server(name, workdir, db, extra)])
    if nodes < 1:
        raise ValueError("a cluster needs at least one node")
    group = ServerGroup(f"{CLUSTER}:{nodes}", [], [start_redis(workdir)])
    redis_url = f"redis://127.0.0.1:{group.helpers[0].port}"
    try:
        for k in range(1, nodes + 1):
            node_dir = workdir / f"node{k}"
            node_dir.mkdir()
            options = [*extra, "--redis", redis_url, "--node-id", f"node{k}"]
            metrics_port = free_port() if metrics else None
            if metrics_port is not None:
                options += ["--metrics", f"tcp:{metrics_port}:interface=127.0.0.1"]
            node = start_server("ours", node_dir, db, options, label=f"node{k}")
            node.metrics_port = metrics_port
            group.nodes.append(node)
            _wait_joined(node, group.helpers[0].port, f"node{k}")
    except BaseException:
        group.stop()
        raise
    return group


# -- MySQL ----------------------------------------------------------------------------------


def _mysql_connect(url: str, database: str | None = None) -> Any:
    import MySQLdb

    parts = urlsplit(url)
    kwargs: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or os.environ.get("CHAT_DB_PASSWORD", "")),
        "charset": "utf8mb4",
        "connect_timeout": 3,
        "autocommit": True,
    }
    if database:
        kwargs["database"] = database
    return MySQLdb.connect(**kwargs)


def mysql_available(url: str) -> str:
    """Empty if a MySQL/MariaDB server answers at ``url``, else why not."""
    try:
        _mysql_connect(url).close()
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return ""


def with_database(url: str, database: str) -> str:
    """``url`` (``mysql://USER[:PW]@HOST[:PORT]``) naming ``database``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/{database}"


@contextmanager
def scratch_mysql(url: str) -> Iterator[str]:
    """A new, empty database on the server at ``url`` (its URL), dropped afterwards."""
    name = f"chat_bench_{uuid.uuid4().hex[:12]}"
    try:
        yield with_database(url, name)
    finally:
        conn = _mysql_connect(url)
        try:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()


def mysql_count(url: str, table: str = "clientes") -> int:
    """Rows in ``table`` of the database named in ``url`` (-1 if it cannot be read yet)."""
    database = urlsplit(url).path.lstrip("/")
    try:
        conn = _mysql_connect(url, database)
    except Exception:
        return -1
    try:
        cursor = conn.cursor()
        cursor.execute(f"SELECT COUNT(*) FROM `{table}`")
        row = cursor.fetchone()
        return int(row[0]) if row else 0
    except Exception:
        return -1
    finally:
        conn.close()


def mysql_commits(url: str) -> int:
    """The server-wide ``Handler_commit`` counter (transactions; other users count too)."""
    try:
        conn = _mysql_connect(url)
    except Exception:
        return -1
    try:
        cursor = conn.cursor()
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Handler_commit'")
        row = cursor.fetchone()
        return int(row[1]) if row else -1
    finally:
        conn.close()
