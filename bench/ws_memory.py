"""What one open connection keeps alive in the server: a WebSocket's (``--web``) or a TCP one's.

Runs the real server in this process (the ``chat`` twistd plugin's ``makeService``, SQLite in
a scratch directory, a TCP port and a ``--web`` port on loopback), logs N clients in from a
child process (plain sockets, the handshake by hand, so that no client object lives here), waits
until the server is quiet, and reports three views of the memory those connections hold:

- ``tracemalloc``: bytes allocated between "no client" and "N clients logged in", per
  connection, grouped by the line that allocated them (the ground truth for Python objects);
- ``objects``: the objects reachable from one connection's socket transport that nothing
  shared reaches (the server's parts, the reactor, the room's dictionaries are the boundary),
  grouped by the per-connection object that owns them (the nearest one of the known classes:
  the socket transport, the HTTP channel, the request, the WebSocket wire protocol, wsproto's
  connection, our adapter, the session, ...), with ``sys.getsizeof`` sizes;
- ``rss``: the process's resident memory growth per connection (a run without tracemalloc,
  whose own bookkeeping would swamp it: ``--no-trace``).

Usage::

    .venv/bin/python bench/ws_memory.py --clients 300            # WebSocket clients
    .venv/bin/python bench/ws_memory.py --clients 300 --tcp      # line-protocol clients
    .venv/bin/python bench/ws_memory.py --clients 1000 --no-trace  # RSS only

Not a test: a measuring tool (its figures vary a little with the Python and Twisted versions).
"""

from __future__ import annotations

import argparse
import base64
import gc
import os
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
import types
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make ``twisted_chat`` importable from here
    sys.path.insert(0, str(ROOT))


# -- the client side (a child process) -------------------------------------------------------


def _read_until(sock: socket.socket, marker: bytes, buffer: bytearray) -> bytes:
    """Read from ``sock`` until ``buffer`` holds ``marker``; return and consume up to it."""
    while marker not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        buffer += chunk
    end = buffer.index(marker) + len(marker)
    found = bytes(buffer[:end])
    del buffer[:end]
    return found


def _masked_text(text: bytes) -> bytes:
    """One client text frame (masked with a zero key, as a client must mask)."""
    size = len(text)
    assert size < 126
    return bytes((0x81, 0x80 | size)) + b"\0\0\0\0" + text


def run_clients(port: int, count: int, web: bool) -> None:
    """Log ``count`` clients in on ``port``; print ``ready``; hold them until stdin closes."""
    key = base64.b64encode(os.urandom(16))
    held = []
    for index in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        buffer = bytearray()
        nick = b"mem%d" % index
        if web:
            sock.sendall(
                b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n" % (port, key)
            )
            _read_until(sock, b"\r\n\r\n", buffer)
            sock.sendall(_masked_text(nick))
        else:
            sock.sendall(nick + b"\r\n")
        _read_until(sock, nick, buffer)  # the welcome names the nickname
        held.append(sock)
    print("ready", flush=True)
    sys.stdin.read()  # until the server side closes the pipe
    for sock in held:
        sock.close()


# -- the server side -------------------------------------------------------------------------

#: Per-connection classes an object is attributed to (the nearest one that owns it), by name.
OWNERS = (
    "Server",  # twisted.internet.tcp.Server: the socket's transport
    "_GenericHTTPChannelProtocol",
    "HTTPChannel",
    "Request",
    "_WebSocketWireProtocol",
    "Connection",  # wsproto.connection.Connection
    "FrameProtocol",
    "ChatWebSocket",
    "ChatProtocol",
    "Session",
    "DelayedCall",
)


def _reachable(roots: Iterable[Any], stop: set[int]) -> dict[int, tuple[Any, str]]:
    """Every object reachable from ``roots`` without passing through ``stop`` (ids) or a
    module, class, function or code object; each with the name of its owner (see
    :data:`OWNERS`)."""
    skip = (types.ModuleType, type, types.FunctionType, types.CodeType, types.BuiltinFunctionType)
    found: dict[int, tuple[Any, str]] = {}
    queue: list[tuple[Any, str]] = [(root, type(root).__name__) for root in roots]
    while queue:
        obj, owner = queue.pop()
        if id(obj) in found or id(obj) in stop or isinstance(obj, skip):
            continue
        name = type(obj).__name__
        if name in OWNERS:
            owner = name
        found[id(obj)] = (obj, owner)
        for child in gc.get_referents(obj):
            if id(child) not in found:
                queue.append((child, owner))
    return found


def _everything_shared(roots: Sequence[Any]) -> tuple[set[int], list[Any]]:
    """The ids of everything reachable from ``roots`` (the server before any client), and the
    objects themselves (kept alive so that no id is reused)."""
    seen: set[int] = set()
    keep: list[Any] = []
    queue = list(roots)
    while queue:
        obj = queue.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        keep.append(obj)
        queue.extend(gc.get_referents(obj))
    return seen, keep


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _kib(size: float) -> str:
    return f"{size / 1024:7.2f} KiB"


def measure(count: int, web: bool, trace: bool, top: int) -> None:
    """Run the server, let ``count`` clients in, print the three views."""
    from twisted.application.service import IServiceMaker
    from twisted.internet import reactor, task
    from twisted.internet.tcp import Server
    from twisted.plugin import getPlugins

    maker = next(p for p in getPlugins(IServiceMaker) if p.tapname == "chat")
    workdir = Path(tempfile.mkdtemp(prefix="ws-memory-"))
    tcp_port, web_port = _free_port(), _free_port()
    options = maker.options()
    options.parseOptions(
        [
            "--port", f"tcp:{tcp_port}:interface=127.0.0.1",
            "--web", f"tcp:{web_port}:interface=127.0.0.1",
            "--db", f"sqlite:{workdir / 'chat.sqlite3'}",
            "--flood-rate", "0",
        ]
    )  # fmt: skip
    service = maker.makeService(options)
    service.privilegedStartService()
    service.startService()
    parts = service.parts
    state: dict[str, Any] = {}

    def start_clients() -> None:
        gc.collect()
        state["shared"] = _everything_shared([service, reactor])
        state["rss0"] = _rss_kib()
        state["snap0"] = tracemalloc.take_snapshot() if trace else None
        state["objects0"] = Counter(type(o).__name__ for o in gc.get_objects())
        gc.disable()  # every cycle the logins leave is counted by report()
        port = web_port if web else tcp_port
        state["child"] = subprocess.Popen(
            [sys.executable, __file__, "--child", str(port), str(count)]
            + ([] if web else ["--tcp"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        state["started"] = time.monotonic()
        reactor.callLater(0.2, wait_ready)

    def wait_ready() -> None:
        if len(parts.room) < count:
            if time.monotonic() - state["started"] > 120:
                print(f"only {len(parts.room)} of {count} logged in", file=sys.stderr)
                reactor.stop()
                return
            reactor.callLater(0.2, wait_ready)
            return
        reactor.callLater(2.0, report)  # the join notices and the database settle

    def report() -> None:
        # Cyclic garbage: what only the collector frees (with the server's high thresholds it
        # can stay allocated for a long time), counted before it is collected.
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        garbage = Counter(type(o).__name__ for o in gc.garbage)
        gc.set_debug(0)
        del gc.garbage[:]
        gc.collect()
        gc.enable()
        rss = _rss_kib() - state["rss0"]
        objects = Counter(type(o).__name__ for o in gc.get_objects()) - state["objects0"]
        kind = "WebSocket" if web else "TCP"
        print(f"\n== {count} {kind} connections, logged in and idle ==")
        print(f"RSS growth: {_kib(rss * 1024 / count)} per connection", end="")
        print(" (tracemalloc on: not meaningful)" if trace else "")
        if trace:
            snap1 = tracemalloc.take_snapshot()
            stats = snap1.compare_to(state["snap0"], "lineno")
            total = sum(s.size_diff for s in stats)
            print(f"\ntracemalloc: {_kib(total / count)} per connection; by allocating line:")
            for stat in stats[:top]:
                if stat.size_diff <= 0:
                    continue
                frame = stat.traceback[0]
                where = _short(frame.filename) + f":{frame.lineno}"
                print(
                    f"  {stat.size_diff / count:8.0f} B  {stat.count_diff / count:5.2f} blocks"
                    f"  {where}"
                )
        print("\ncyclic garbage per connection, by type (freed only by the collector):")
        for name, n in garbage.most_common(top):
            print(f"  {n / count:6.2f}  {name}")
        print("\ngc-tracked objects per connection (new ones, by type):")
        for name, n in objects.most_common(top):
            print(f"  {n / count:6.2f}  {name}")
        shared_ids, _keep = state["shared"]
        port = web_port if web else tcp_port
        transports = [
            s for s in gc.get_objects() if isinstance(s, Server) and s.getHost().port == port
        ]
        if transports:
            one = transports[len(transports) // 2]
            # The boundary: every object that existed before the clients (the server, the
            # reactor and their containers, which now also hold the connections).
            found = _reachable([one], shared_ids)
            by_owner: dict[str, int] = defaultdict(int)
            by_type: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
            for obj, owner in found.values():
                size = sys.getsizeof(obj)
                by_owner[owner] += size
                entry = by_type[(owner, type(obj).__name__)]
                entry[0] += 1
                entry[1] += size
            total = sum(by_owner.values())
            print(
                f"\nobjects only one connection reaches from its socket transport: "
                f"{len(found)}, {_kib(total)} by sys.getsizeof (a lower bound: the attribute "
                f"values of 3.11 instances are not counted); by owner:"
            )
            for owner, size in sorted(by_owner.items(), key=lambda kv: -kv[1]):
                print(f"  {_kib(size)}  {owner}")
                items = [(k[1], v) for k, v in by_type.items() if k[0] == owner]
                for name, (n, size_) in sorted(items, key=lambda kv: -kv[1][1])[:8]:
                    print(f"      {size_:6d} B  {n:3d} x {name}")
        child = state["child"]
        child.stdin.close()
        child.wait(timeout=30)
        reactor.stop()

    def child_failed() -> None:
        child = state.get("child")
        if child is not None and child.poll() not in (None, 0):
            print("the client process failed", file=sys.stderr)
            reactor.stop()

    task.LoopingCall(child_failed).start(1.0, now=False)
    reactor.callLater(1.0, start_clients)
    reactor.run()


def _short(filename: str) -> str:
    """``filename`` from the package (or ``site-packages``) down."""
    for marker in ("site-packages/", "/lib/python"):
        at = filename.find(marker)
        if at >= 0:
            return filename[at + len(marker) :]
    at = filename.find("/twisted_chat/")
    return filename[at + 1 :] if at >= 0 else filename


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main(argv: Sequence[str] | None = None) -> int:
    """Measure (or, with ``--child``, be the client process)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=300, help="connections to open")
    parser.add_argument("--tcp", action="store_true", help="line-protocol clients, not --web")
    parser.add_argument("--no-trace", action="store_true", help="RSS only, no tracemalloc")
    parser.add_argument("--top", type=int, default=25, help="lines of each listing")
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_clients(args.child[0], args.child[1], not args.tcp)
        return 0
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not args.no_trace:
        tracemalloc.start(1)
    measure(args.clients, not args.tcp, not args.no_trace, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
