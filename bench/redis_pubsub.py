"""What Redis's pub/sub costs per message on this machine: how far one Redis carries a cluster.

It starts a private ``redis-server`` (as the benchmark's cluster rows do, never the system one),
subscribes S raw sockets to one channel, publishes envelopes of the size one chat message makes
(about 150 bytes) from one pipelining connection, and reads Redis's CPU time from /proc: CPU per
PUBLISH and per copy delivered, for each S. The clients here are Python threads that only count
bytes, so Redis is not always saturated; the CPU figures, not the rates, are the result.

Usage::

    .venv/bin/python bench/redis_pubsub.py            # 1, 2, 3 and 8 subscribers
    .venv/bin/python bench/redis_pubsub.py 1 4 16     # these numbers of subscribers
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers

#: One chat message's envelope, as a node publishes it to ``chat:room``.
PAYLOAD = (
    '{"v":2,"node":"node1","inst":"node1/3f2a9c0d1e2b","events":[["pub","mbc0c2fq3k1q2r7c-1f",'
    '1733040000000,"general","u12","1733040000000000000 123 hola a todos, esto es una prueba de '
    'carga"]]}'
)


def command(*args: str) -> bytes:
    """One Redis command in RESP."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _count(sock: socket.socket, counts: list[int], index: int, marker: bytes) -> None:
    """Count ``marker`` in everything ``sock`` receives (a thread; ends when it closes)."""
    tail = b""
    while True:
        try:
            data = sock.recv(1 << 20)
        except OSError:
            return
        if not data:
            return
        # A marker split across two reads is counted once: the tail kept is one byte too short
        # to hold a whole one.
        chunk = tail + data
        counts[index] += chunk.count(marker)
        tail = chunk[-(len(marker) - 1) :]


def measure(subscribers: int, total: int = 200_000, batch: int = 500) -> str:
    """Publish ``total`` envelopes to ``subscribers`` subscribers; a line of figures."""
    with tempfile.TemporaryDirectory(prefix="redis-pubsub-") as tmp:
        redis = servers.start_redis(Path(tmp))
        try:
            received = [0] * subscribers
            sockets = []
            for index in range(subscribers):
                sub = socket.create_connection(("127.0.0.1", redis.port))
                sub.sendall(command("SUBSCRIBE", "chat:room"))
                sub.recv(100)
                sockets.append(sub)
                args = (sub, received, index, b"$7\r\nmessage")
                threading.Thread(target=_count, args=args, daemon=True).start()
            publisher = socket.create_connection(("127.0.0.1", redis.port))
            replies = [0]
            args = (publisher, replies, 0, b"\r\n")
            threading.Thread(target=_count, args=args, daemon=True).start()
            chunk = command("PUBLISH", "chat:room", PAYLOAD) * batch
            cpu0, t0 = redis.cpu(), time.monotonic()
            sent = 0
            while sent < total:
                while sent - replies[0] > 4 * batch:
                    time.sleep(0.0005)
                publisher.sendall(chunk)
                sent += batch
            while (replies[0] < sent or min(received) < sent) and time.monotonic() - t0 < 60:
                time.sleep(0.01)
            wall, cpu = time.monotonic() - t0, redis.cpu() - cpu0
            for sock in [*sockets, publisher]:
                sock.close()
        finally:
            redis.stop()
    copies = sent * subscribers
    return (
        f"subscribers {subscribers}: {sent:,} publishes in {wall:.2f}s; Redis CPU {cpu:.2f}s "
        f"({100 * cpu / wall:.0f}% of a core): {cpu * 1e6 / sent:.2f} us per PUBLISH, "
        f"{cpu * 1e6 / copies:.2f} us per copy delivered; received {min(received):,} each"
    )


def main(argv: list[str]) -> int:
    """Measure for each number of subscribers given (default 1, 2, 3, 8)."""
    if servers.redis_server_binary() is None:
        print("redis-server not found", file=sys.stderr)
        return 2
    for subscribers in [int(a) for a in argv] or [1, 2, 3, 8]:
        print(measure(subscribers), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
