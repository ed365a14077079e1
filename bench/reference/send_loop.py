"""The floor: the least a Python chat server can do per delivery (a benchmark reference).

Not a chat server anyone should run: it exists so that ``bench/`` can show, in the same run, what
one loopback ``send`` per recipient costs on the machine, with nothing else around it. One
``epoll`` loop, no framework, no decoding, no validation, no limits, no output buffering:

- a new client gets a ``* `` prompt; its first line is its nickname (``* welcome NICK``);
- every later line goes to every other logged-in client as ``<NICK> LINE``, one ``send`` each
  (what a full socket buffer does not take is dropped and counted, never retried);
- ``#NICK TEXT`` goes to NICK as ``*SENDER* TEXT``, the sender getting ``-> *NICK* TEXT``.

Fixed-rate fan-out is what it is measured on: there its CPU per delivery is the kernel's cost of
a ``send`` plus the cheapest Python loop around it, a floor for any server that sends each
message as soon as it arrives (every row of ``fanout`` at a fixed rate spaces messages evenly).

Usage: ``python bench/reference/send_loop.py PORT`` (listens on 127.0.0.1; SIGTERM stops it).
"""

from __future__ import annotations

import select
import signal
import socket
import sys

PROMPT = b"* What's your name?\r\n"


def serve(port: int) -> None:
    """Serve on 127.0.0.1:``port`` until SIGTERM."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(1024)
    listener.setblocking(False)
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    sockets: dict[int, socket.socket] = {}
    nicks: dict[int, bytes] = {}  # logged-in fd -> nickname
    by_nick: dict[bytes, socket.socket] = {}
    users: dict[int, socket.socket] = {}  # logged-in fd -> socket
    partial: dict[int, bytes] = {}
    dropped = 0

    def close(fd: int) -> None:
        poller.unregister(fd)
        sock = sockets.pop(fd)
        users.pop(fd, None)
        by_nick.pop(nicks.pop(fd, b""), None)
        partial.pop(fd, None)
        sock.close()

    def send(sock: socket.socket, data: bytes) -> None:  # outside the fan-out loop
        nonlocal dropped
        try:
            if sock.send(data) != len(data):
                dropped += 1
        except OSError:
            dropped += 1

    def stop(signum: int, frame: object) -> None:
        if dropped:
            print(f"send_loop: {dropped} sends not taken whole", file=sys.stderr)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    while True:
        try:
            events = poller.poll()
        except InterruptedError:
            continue
        for fd, _ in events:
            if fd == listener.fileno():
                while True:
                    try:
                        client, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    client.setblocking(False)
                    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sockets[client.fileno()] = client
                    poller.register(client.fileno(), select.EPOLLIN)
                    send(client, PROMPT)
                continue
            sock = sockets[fd]
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                close(fd)
                continue
            lines = (partial.pop(fd, b"") + data).split(b"\n")
            if lines[-1]:
                partial[fd] = lines[-1]
            for line in lines[:-1]:
                line = line.rstrip(b"\r")
                nick = nicks.get(fd)
                if nick is None:
                    nicks[fd] = line
                    users[fd] = sock
                    by_nick[line] = sock
                    send(sock, b"* welcome " + line + b"\r\n")
                elif line[:1] == b"#":
                    target, _, text = line[1:].partition(b" ")
                    peer = by_nick.get(target)
                    if peer is not None:
                        send(peer, b"*" + nick + b"* " + text + b"\r\n")
                        send(sock, b"-> *" + target + b"* " + text + b"\r\n")
                else:
                    message = b"<" + nick + b"> " + line + b"\r\n"
                    size = len(message)
                    for other_fd, other in users.items():  # the loop being measured
                        if other_fd != fd:
                            try:
                                if other.send(message) != size:
                                    dropped += 1
                            except OSError:
                                dropped += 1


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 8124)
