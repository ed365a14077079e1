"""Per-room channels on a cluster: a node receives a room's public messages only while it has
a member there (the issue's "Cluster mode" rooms, shown as a bench row).

It starts a private ``redis-server`` and three nodes of ours on it (each with ``--metrics``), puts
members in four rooms (``uno``, ``dos`` and ``tres`` each with its members on one node only,
``todos`` with a member on every node), has one member of each room send ``--messages`` public
messages, and reads from each node's ``/metrics`` how many public-message envelopes it received
from the other nodes per room (``chat_cluster_room_envelopes_received_total{room}``). With one
channel for every room each node would receive the envelopes of every room said on another
node; with a channel per room a node receives only those of its own members' rooms.

Usage::

    .venv/bin/python bench/cluster_rooms.py                # 500 messages per room
    .venv/bin/python bench/cluster_rooms.py --messages 2000
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers

#: Which node (0-based) each room's members are on; ``todos`` has one on every node.
LAYOUT = {"uno": [0, 0], "dos": [1, 1], "tres": [2, 2], "todos": [0, 1, 2]}
METRIC = re.compile(r'^chat_cluster_room_envelopes_received_total\{room="([^"]+)"\} (\S+)$', re.M)


class Member:
    """A blocking client of one node, logged in and moved to its room."""

    def __init__(self, port: int, nick: str, room: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), 10)
        self.sock.settimeout(10)
        self.buffer = b""
        self.line()  # the prompt
        self.sock.sendall(f"{nick}\r\n".encode())
        self.wait_for(b"* Bienvenido")
        self.sock.sendall(f"/unirse {room}\r\n".encode())
        self.wait_for(b"* Sala ")

    def line(self) -> bytes:
        """The next line from the server."""
        while b"\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def wait_for(self, start: bytes) -> None:
        """Read lines until one starts with ``start``."""
        while not self.line().startswith(start):
            pass

    def drain(self) -> None:
        """Read whatever has arrived, without waiting."""
        self.sock.setblocking(False)
        try:
            while self.sock.recv(1 << 20):
                pass
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(10)


def received(metrics_port: int) -> dict[str, float]:
    """The node's envelopes received from other nodes, by room."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    return {room: float(value) for room, value in METRIC.findall(text)}


def run(messages: int) -> str:
    """The figures of one run, as a Markdown table."""
    with tempfile.TemporaryDirectory(prefix="cluster-rooms-") as tmp:
        workdir = Path(tmp)
        redis = servers.start_redis(workdir)
        nodes: list[servers.ServerProcess] = []
        metrics_ports: list[int] = []
        members: list[Member] = []
        try:
            for k in range(3):
                node_dir = workdir / f"node{k + 1}"
                node_dir.mkdir()
                metrics_port = servers.free_port()
                extra = ["--redis", f"redis://127.0.0.1:{redis.port}", "--node-id", f"node{k + 1}"]
                extra += ["--metrics", f"tcp:{metrics_port}:interface=127.0.0.1"]
                node = servers.start_server("ours", node_dir, None, extra, label=f"node{k + 1}")
                nodes.append(node)
                metrics_ports.append(metrics_port)
                servers._wait_joined(node, redis.port, f"node{k + 1}")
            senders: dict[str, Member] = {}
            for room, where in LAYOUT.items():
                for index, k in enumerate(where):
                    member = Member(nodes[k].port, f"{room}{index}", room)
                    members.append(member)
                    senders.setdefault(room, member)
            time.sleep(1.0)  # every node's replicas and subscriptions settle
            publishes0 = servers.redis_publishes(redis.port)
            started = time.monotonic()
            for number in range(messages):
                for sender in senders.values():
                    sender.sock.sendall(f"mensaje {number}\r\n".encode())
                if number % 50 == 49:
                    time.sleep(0.01)
                    for member in members:
                        member.drain()
            # Wait (bounded) until the counters stop moving.
            last: list[dict[str, float]] = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                for member in members:
                    member.drain()
                now = [received(port) for port in metrics_ports]
                if now == last:
                    break
                last = now
                time.sleep(0.5)
            wall = time.monotonic() - started
            redis_publishes = servers.redis_publishes(redis.port) - publishes0
        finally:
            for member in members:
                member.sock.close()
            for node in nodes:
                node.stop()
            redis.stop()
    rooms = list(LAYOUT)
    lines = [
        f"{messages} messages per room, {len(rooms)} rooms, 3 nodes; {redis_publishes} PUBLISH "
        f"in {wall:.1f}s",
        "",
        "| node | " + " | ".join(f"`{room}` (members on)" for room in rooms) + " |",
        "| --- | " + " | ".join("---" for _ in rooms) + " |",
    ]
    for k, counts in enumerate(last):
        cells = []
        for room in rooms:
            here = "yes" if k in LAYOUT[room] else "no"
            cells.append(f"{int(counts.get(room, 0))} ({here})")
        lines.append(f"| node{k + 1} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Envelopes of public messages received from other nodes, per room (one envelope carries "
        "every message one node said in a room in one reactor turn). A node with no member in a "
        "room receives none of it; with one channel for all rooms each node would receive the "
        "envelopes of every room said on another node."
    )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Run once and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=500, help="public messages per room")
    options = parser.parse_args(argv)
    if servers.redis_server_binary() is None:
        print("redis-server not found", file=sys.stderr)
        return 2
    print(run(options.messages), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
