"""Soak test: run an abuse mix against a live `twistd chat` for a bounded time, print figures.

Not a CI test. It starts its own server (a `twistd -n chat` child process on a free loopback
port, SQLite in a temporary directory, `--exempt none` so the per-address limit applies), then for
``--seconds`` runs at once:

- well-behaved clients (each from its own loopback address 127.0.1.N) chatting at a modest rate,
  and checks that every message reaches every other one of them;
- slow consumers: logged-in clients that never read while a talker fills their queue (SendQ);
- flooders: clients sending lines as fast as they can (flood control, then the kick);
- junk senders: binary garbage, invalid UTF-8, over-long lines, partial lines (strikes);
- idlers: connections that never log in (login timeout);
- a connection storm from one address (per-address limit).

At the end it stops the server with SIGTERM and prints the server's peak RSS, deliveries to the
well-behaved clients (received / expected), and disconnects by cause (the server's own counters,
logged at shutdown). Usage:

    .venv/bin/python bench/soak.py --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(ROOT))

from bench.servers import free_port, memory_kib  # noqa: E402


class Soak:
    """The abuse mix against one server."""

    def __init__(self, port: int, seconds: float, good: int, talkers: int) -> None:
        self.port = port
        self.talkers = talkers
        self.deadline = time.monotonic() + seconds
        self.good = good
        self.sent_public = 0
        self.received: Counter[str] = Counter()
        self.client_seen: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.stop = asyncio.Event()

    async def connect(
        self, source: str = "127.0.0.1", rcvbuf: int = 0
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a connection from the loopback address ``source`` (``rcvbuf``: a small window)."""
        sock = socket.socket()
        sock.setblocking(False)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((source, 0))
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", self.port)), 5)
        return await asyncio.open_connection(sock=sock)

    async def login(
        self, nick: str, source: str, rcvbuf: int = 0
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect and log in as ``nick``; wait for the welcome."""
        reader, writer = await self.connect(source, rcvbuf)
        await asyncio.wait_for(reader.readline(), 5)
        writer.write(nick.encode() + b"\r\n")
        line = await asyncio.wait_for(reader.readline(), 5)
        if not line.startswith(b"* "):
            raise RuntimeError(f"login {nick} failed: {line!r}")
        return reader, writer

    async def well_behaved(self, index: int, ready: asyncio.Barrier) -> None:
        """Chat at ~2 lines/s; count public messages received from other good clients."""
        nick = f"good{index}"
        reader, writer = await self.login(nick, f"127.0.1.{index + 1}")
        await ready.wait()

        async def read() -> None:
            while True:
                line = await reader.readline()
                if not line:
                    self.errors[f"{nick} disconnected"] += 1
                    return
                if line.startswith(b"<good") and b"> hola " in line:
                    self.received[nick] += 1

        reading = asyncio.create_task(read())
        while time.monotonic() < self.deadline:
            writer.write(f"hola {time.time():.3f}\r\n".encode())
            self.sent_public += 1
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # let the last messages arrive
        reading.cancel()
        writer.close()

    async def slow_consumer(self, index: int) -> None:
        """Log in and never read (with a small receive buffer); the talkers fill our queue."""
        try:
            _, writer = await self.login(f"slow{index}", "127.0.2.1", rcvbuf=4096)
        except Exception as e:
            self.errors[f"slow login: {e}"] += 1
            return
        while time.monotonic() < self.deadline and not writer.is_closing():
            await asyncio.sleep(1)
        writer.close()

    async def talker(self, index: int) -> None:
        """Public messages of ~1 KB just under the flood limit, to fill slow consumers' queues."""
        reader, writer = await self.login(f"talker{index}", f"127.0.3.{index + 1}")
        payload = "x" * 1000
        drain = asyncio.create_task(self._drain(reader))
        while time.monotonic() < self.deadline:
            writer.write((payload + "\r\n").encode())
            await asyncio.sleep(0.11)
        drain.cancel()
        writer.close()

    async def _drain(self, reader: asyncio.StreamReader) -> None:
        while await reader.read(65536):
            pass

    async def flooder(self, index: int) -> None:
        """Send as fast as possible until kicked; then come back."""
        while time.monotonic() < self.deadline:
            try:
                reader, writer = await self.login(f"flood{index}", "127.0.4.1")
            except Exception:
                await asyncio.sleep(0.5)
                continue
            drain = asyncio.create_task(self._drain(reader))
            try:
                while time.monotonic() < self.deadline and not reader.at_eof():
                    writer.write(b"spam spam spam\r\n" * 50)
                    await writer.drain()
                    await asyncio.sleep(0.01)
            except (ConnectionError, OSError):
                pass
            drain.cancel()
            writer.close()
            self.client_seen["flooder reconnects"] += 1

    async def junk(self, index: int) -> None:
        """Garbage of every kind until disconnected by strikes; then come back."""
        rng = random.Random(index)
        while time.monotonic() < self.deadline:
            try:
                reader, writer = await self.connect("127.0.5.1")
                drain = asyncio.create_task(self._drain(reader))
                for _ in range(200):
                    kind = rng.randrange(4)
                    if kind == 0:
                        writer.write(bytes(rng.randrange(256) for _ in range(200)) + b"\n")
                    elif kind == 1:
                        writer.write(b"\xff\xfe\xfd\n")
                    elif kind == 2:
                        writer.write(b"y" * 5000 + b"\n")
                    else:
                        writer.write(b"partial" * 300)
                    await writer.drain()
                    await asyncio.sleep(0.02)
                    if reader.at_eof():
                        break
                drain.cancel()
                writer.close()
                self.client_seen["junk reconnects"] += 1
            except (TimeoutError, ConnectionError, OSError):
                await asyncio.sleep(0.2)

    async def idler(self) -> None:
        """Connect and never log in (the login timeout closes it)."""
        while time.monotonic() < self.deadline:
            try:
                reader, writer = await self.connect("127.0.6.1")
                await asyncio.wait_for(reader.read(), max(0.1, self.deadline - time.monotonic()))
                writer.close()
            except (TimeoutError, ConnectionError, OSError):
                pass

    async def storm(self) -> None:
        """Open 40 connections at once from one address, every few seconds (per-address cap)."""
        while time.monotonic() < self.deadline:
            writers = []
            for _ in range(40):
                try:
                    reader, writer = await self.connect("127.0.7.1")
                    first = await asyncio.wait_for(reader.readline(), 5)
                    self.client_seen[
                        "storm refused" if first.startswith(b"! ") else "storm ok"
                    ] += 1
                    writers.append(writer)
                except (TimeoutError, ConnectionError, OSError):
                    self.client_seen["storm error"] += 1
            await asyncio.sleep(3)
            for writer in writers:
                writer.close()

    async def run(self) -> None:
        """All of the mix at once."""
        ready = asyncio.Barrier(self.good)
        tasks = [self.well_behaved(i, ready) for i in range(self.good)]
        tasks += [self.slow_consumer(i) for i in range(5)]
        tasks += [self.talker(i) for i in range(self.talkers)]
        tasks += [self.flooder(i) for i in range(3)]
        tasks += [self.junk(i) for i in range(3)]
        tasks += [self.idler() for _ in range(5)]
        tasks += [self.storm()]
        await asyncio.gather(*tasks, return_exceptions=False)


def main() -> int:
    """Start a server, run the soak, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--good", type=int, default=20, help="well-behaved clients")
    parser.add_argument("--talkers", type=int, default=25, help="1 KB x 9/s talkers")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    twistd = Path(sys.executable).parent / "twistd"
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        server = subprocess.Popen(
            [
                str(twistd),
                "-n",
                "--pidfile=",
                "-l",
                str(log_path),
                "chat",
                "--port",
                f"tcp:{port}:interface=127.0.0.1",
                "--db",
                f"sqlite:{tmp}/chat.sqlite3",
                "--exempt",
                "none",
                "--login-timeout",
                "5",
                "--flood-kick",
                "5",
            ],
            cwd=tmp,
        )
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            soak = Soak(port, args.seconds, args.good, args.talkers)
            peak = 0

            async def sample() -> None:
                nonlocal peak
                while time.monotonic() < soak.deadline + 3:
                    peak = max(peak, memory_kib(server.pid))
                    await asyncio.sleep(0.5)

            async def both() -> None:
                await asyncio.gather(soak.run(), sample())

            started = time.monotonic()
            asyncio.run(both())
            elapsed = time.monotonic() - started
            hwm = memory_kib(server.pid, "VmHWM")
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                code = server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                code = -9
        log = log_path.read_text(errors="replace")
    match = re.search(r"twisted-chat stopped: (\{.*\})", log)
    causes = eval(match.group(1), {"__builtins__": {}}) if match else {}  # the server's dict repr
    expected = soak.sent_public * (args.good - 1)
    received = sum(soak.received.values())
    result = {
        "seconds": round(elapsed, 1),
        "server_peak_rss_kib": max(peak, hwm),
        "good_clients": args.good,
        "deliveries_to_good_clients": received,
        "expected_deliveries": expected,
        "delivery_ratio": round(received / expected, 4) if expected else None,
        "good_client_disconnects": dict(soak.errors),
        "disconnects_by_cause": causes,
        "client_side": dict(soak.client_seen),
        "server_exit_code": code,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:30} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
