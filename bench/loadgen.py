"""Load generator for twisted-chat and its two reference servers (asyncio; uvloop if installed).

It speaks the chat's wire protocol (docs/PROTOCOL.md): it waits for the ``* `` prompt, sends a
nickname, takes the first ``* `` line as the welcome, then sends and receives lines. Every
message carries its send time (``time.monotonic_ns()``, one clock for the whole machine) and a
sequence number, so a receiver knows each delivery's latency. Scenarios:

``fanout``
    N clients log in; S of them send public messages, either at a fixed total rate R (messages
    per second, spread evenly over the senders) or ``--saturate``d: each sender keeps ``--window``
    messages in flight, counted as delivered when the last client to log in (the monitor, last
    in every server's broadcast order) has received them. Every client parses the ``<NICK> TS
    SEQ ...`` lines it receives and records their latency. Reported: deliveries/s, delivery ratio
    (received / (sent x (N - 1))), latency p50/p99/max.
``connect``
    N clients connect and log in as fast as possible, ``--concurrency`` at a time. Reported:
    logins/s, login latency, whether all N logged in; with MySQL (``ours`` and ``threaded``), the
    rows in ``clientes`` afterwards and how long they took to appear.
``private``
    P pairs send each other private messages (``#NICK TS SEQ ...``) as fast as the server lets
    them, each keeping ``--window`` messages in flight counted by its own ``-> *NICK*`` echoes
    (or, with ``--delivery-acks``, by its partner's receipts: on a cluster the echo comes from
    the sender's node before the message reaches the other node, so echoes bound nothing there).
    Reported: private deliveries/s, ratio, latency.
``hold``
    N idle logged-in clients. Reported: server RSS per connection = (RSS with N logged in and the
    server quiet - RSS before) / N.
``rooms``
    N clients log in, and each sends ``/unirse ROOM`` (rooms of protocol v1.1) and waits for its
    ``* Sala ROOM (...)`` line (bounded by ``--login-timeout``): ``--rooms`` rooms per group of
    ``--room-groups``, client ``i`` in group ``i mod G`` and room ``(i div G) mod R`` of it
    (rooms ``room-K`` with one group, ``a-K``, ``b-K``, ... with several; on a cluster of G nodes
    group ``g`` is node ``g``'s, so each room's members are all on one node). The first member
    of each room sends public messages, at a fixed total rate R (R / rooms each) or saturated as
    in ``fanout`` (each room's monitor: its last member). A message must reach exactly the other
    members of its room: a client that receives a message of another room's sender counts a
    room error, not a delivery. Reported as ``fanout``, plus the room errors; on a cluster also
    the envelopes of each room channel (``PREFIX room:KEY``) counted by the generator's own
    ``PSUBSCRIBE``, the nodes subscribed to each (``PUBSUB NUMSUB``) and each node's
    ``chat_cluster_room_envelopes_received_total`` summed over the other nodes' rooms (its
    ``--metrics``); "n/a: node has no per-room channels" when the nodes have neither.

Against ``ours-ws`` every client is a WebSocket client of the ``--web`` port (:class:`WsClient`:
the handshake, then each text message is a line and each line a masked text frame), so the
fan-out row measures the same work through the WebSocket transport. Fan-out rows also report RSS
per connection, measured the same way once the clients are logged in. A fixed-rate fan-out run
against both ``ours`` and ``ours-ws`` ends with their ratio of CPU per delivery and the KiB per
WebSocket connection, each against issue 13's aim (:func:`websocket_aims`).

Against ``ours-irc`` and ``ngircd`` every client speaks IRC (:class:`IrcClient`: it registers
with ``NICK`` and ``USER``, joins ``#bench`` after the MOTD, and its messages are ``PRIVMSG
#bench :TS SEQ ...``), in the fan-out scenario (issue 16's rows, see ``bench/irc_rows.py``);
saturated, both the first and the last client to join are monitors, since the two servers write
a channel's members in opposite orders.

Against a cluster (``--server cluster --nodes K``: K nodes of ours on a private Redis, see
``bench/servers.py``) client ``i`` connects to node ``i mod K``, so the senders spread over the
nodes too, and so do the two clients of each private pair (``--local-pairs`` puts both on one
node instead); saturated fan-out keeps a monitor on every node and counts a message delivered
once every monitor has it. CPU, RSS and threads are summed over the nodes and Redis.

For every row the server's CPU time comes from ``/proc/PID/stat`` (before/after), as CPU % and
CPU microseconds per unit (delivery or login), and its RSS from ``/proc/PID/status``; the
generator's own CPU comes from ``getrusage``. A row where the generator used 90 % or more of a
core is flagged ``generator-bound``: its figures measure the generator as much as the server.

The generator is one process (on a 2-core machine a second one would only take CPU from the
server), and by default it is pinned to one CPU while the servers may use every CPU (``--no-
pin`` leaves the generator free too). It reads with protocol callbacks (no streams), handles the
common chunk of one complete line without a loop, parses timestamps with ``int()``, and senders
refill their window only once half of it has been delivered, so their messages go out in
batches.

Usage (one scenario against each server; ``bench/run.py`` runs the whole suite)::

    .venv/bin/python bench/loadgen.py fanout --clients 1000 --senders 10 --rate 50 --seconds 10
    .venv/bin/python bench/loadgen.py fanout --clients 1000 --saturate
    .venv/bin/python bench/loadgen.py connect --clients 5000
    .venv/bin/python bench/loadgen.py private --pairs 200
    .venv/bin/python bench/loadgen.py hold --clients 10000 --server ours --server bare
    .venv/bin/python bench/loadgen.py private --pairs 200 --server ours --server cluster --nodes 2
    .venv/bin/python bench/loadgen.py rooms --clients 1000 --rooms 10 --rate 50 --server ours
    .venv/bin/python bench/loadgen.py rooms --clients 1000 --rooms 10 --room-groups 2 --saturate \
        --server ours --server cluster --nodes 2
"""

from __future__ import annotations

import argparse
import array
import asyncio
import gc
import importlib.metadata
import json
import os
import platform
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers

SCENARIOS = ("fanout", "connect", "private", "hold", "rooms")
monotonic_ns = time.monotonic_ns

#: Text after the timestamp and sequence number (a message of about 60 bytes in all).
PAD = b"hola a todos, esto es una prueba de carga"
LOGIN, DRAIN, FANOUT, PRIVATE, JOINING, ROOMS = range(6)
#: What a rooms row says when the nodes carry no room on a channel of its own.
NO_ROOM_CHANNELS = "n/a: node has no per-room channels"
#: The metric of a node's envelopes of a room's public messages received from other nodes.
ROOM_ENVELOPES_METRIC = "chat_cluster_room_envelopes_received_total"
GENERATOR_BOUND_PCT = 90.0
#: A row during which the rest of the machine used this much CPU (% of one) says so.
OTHERS_NOTED_PCT = 10.0
#: Seconds a new connection waits for the server's prompt before hanging up and trying again.
PROMPT_TIMEOUT = 10.0
#: Connections a client opens at most to get a prompt.
ATTEMPTS = 3


def generator_cpu() -> float:
    """CPU seconds this process (the generator, all its threads) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Tally:
    """Counters shared by every client of one row (one process, one thread: no locks)."""

    __slots__ = ("last_byte", "last_rx", "latencies", "received", "room_errors", "rx_bytes")

    def __init__(self) -> None:
        self.rx_bytes = 0
        self.last_byte = 0  # when anything last arrived (set while draining)
        self.received = 0
        self.last_rx = 0
        self.latencies: array.array[int] = array.array("q")
        self.room_errors = 0  # rooms: messages received from another room's sender

    def reset(self) -> None:
        """Forget deliveries so far (the measured window starts now)."""
        self.received = 0
        self.last_rx = 0
        self.latencies = array.array("q")
        self.room_errors = 0


class Client(asyncio.Protocol):
    """One simulated chat user; what it does with received bytes depends on :attr:`mode`."""

    def __init__(self, index: int, tally: Tally) -> None:
        self.index = index
        self.nick = f"u{index}".encode()
        self.tally = tally
        self.mode = LOGIN
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.prompted = False
        self.prompt: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.welcomed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.logged_in = False
        # Sending (fan-out senders and private pairs).
        self.prefix = b""  # b"#NICK " for private messages
        self.sent = 0
        self.acked = 0
        self.window = 0
        self.refill = 1  # send once this many messages are missing from the window
        self.sending = False
        self.paused = False
        # Private pairs with delivery acks: the partner whose window this client's receipts move.
        self.partner: Client | None = None
        # Fan-out monitor (one per node): the senders it acknowledges for, by index, the highest
        # sequence number it has received from each, and every monitor of the row.
        self.monitor_for: dict[int, Client] | None = None
        self.seen: dict[int, int] = {}
        self.monitors: list[Client] = []
        # Rooms: this client's room (an index), the room of every sender by ``<NICK>``, the
        # start of the ``/unirse`` reply awaited, and whether it came.
        self.room = -1
        self.room_of: dict[bytes, int] = {}
        self.room_line = b""
        self.joined: asyncio.Future[bool] | None = None

    def itself(self) -> Client:
        """A protocol factory that returns this client."""
        return self

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        """A login (or a room move) that never finished has failed."""
        self.sending = False
        if not self.prompt.done():
            self.prompt.set_result(None)
        if not self.welcomed.done():
            self.welcomed.set_result(False)
        if self.joined is not None and not self.joined.done():
            self.joined.set_result(False)

    def pause_writing(self) -> None:
        """The transport's buffer is full: stop sending."""
        self.paused = True

    def resume_writing(self) -> None:
        """The buffer drained: send again."""
        self.paused = False
        self.pump()

    def data_received(self, data: bytes) -> None:
        """Bytes from the server, handled according to the mode.

        This runs once per chunk the server's writes arrive in (often one line per chunk), so
        the common case, one complete line, is handled without a loop or regular expression.
        """
        tally = self.tally
        tally.rx_bytes += len(data)
        mode = self.mode
        if mode == DRAIN:
            tally.last_byte = monotonic_ns()
            cut = data.rfind(b"\n")
            self.buf = data[cut + 1 :] if cut >= 0 else self.buf + data
            return
        if mode == LOGIN:
            self._handshake(data)
            return
        if mode == JOINING:
            self._joining(data)
            return
        now = monotonic_ns()
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if data[-1] != 10:  # ends in a partial line: keep it for later
            cut = data.rfind(b"\n") + 1
            self.buf = data[cut:]
            if not cut:
                return
            data = data[:cut]
        first = data[0]
        if data.count(b"\n") == 1:
            if mode == FANOUT:
                if first == 60 and self.monitor_for is None:  # <NICK> TS SEQ TEXT
                    tally.latencies.append(now - int(data.split(b" ", 2)[1]))
                    tally.received += 1
                    tally.last_rx = now
                    return
            elif mode == ROOMS:
                if first == 60 and self.monitor_for is None:  # <NICK> TS SEQ TEXT
                    fields = data.split(b" ", 2)
                    tally.latencies.append(now - int(fields[1]))
                    tally.received += 1
                    tally.last_rx = now
                    if self.room_of.get(fields[0]) != self.room:
                        tally.room_errors += 1
                    return
            elif first == 42 and data[1] != 32:  # *NICK* TS SEQ TEXT (not a "* " notice)
                tally.latencies.append(now - int(data.split(b" ", 2)[1]))
                tally.received += 1
                tally.last_rx = now
                partner = self.partner
                if partner is not None:
                    partner.acked += 1
                    partner.pump()
                return
            elif first == 45:  # -> *NICK* TS SEQ TEXT
                if self.partner is None:
                    self.acked += 1
                    self.pump()
                return
        self._lines(data.split(b"\n"), now)

    def _lines(self, lines: list[bytes], now: int) -> None:
        """Several complete lines (the last item of ``lines`` is the empty tail)."""
        if self.mode == ROOMS:
            self._room_lines(lines, now)
            return
        tally = self.tally
        latencies = tally.latencies
        received = echoes = 0
        if self.mode == FANOUT:
            monitor = self.monitor_for
            seen = self.seen
            for line in lines[:-1]:
                if line[:1] == b"<":
                    fields = line.split(b" ", 3)
                    latencies.append(now - int(fields[1]))
                    received += 1
                    if monitor is not None:
                        index = int(fields[0][2:-1])
                        if index in monitor:
                            seen[index] = max(seen.get(index, 0), int(fields[2]))
            if monitor is not None:
                monitors = self.monitors
                for index, sender in monitor.items():
                    # Delivered once every node's monitor has it (one node: this one).
                    sender.acked = min(m.seen.get(index, 0) for m in monitors)
                    sender.pump()
        else:
            for line in lines[:-1]:
                first = line[:2]
                if first == b"->":
                    echoes += 1
                elif first[:1] == b"*" and first != b"* ":
                    latencies.append(now - int(line.split(b" ", 2)[1]))
                    received += 1
            partner = self.partner
            if partner is not None:
                if received:
                    partner.acked += received
                    partner.pump()
            elif echoes:
                self.acked += echoes
                self.pump()
        if received:
            tally.received += received
            tally.last_rx = now

    def _room_lines(self, lines: list[bytes], now: int) -> None:
        """Several complete lines in a rooms row: public messages counted, checked against this
        client's room, and acknowledged to the room's sender if this client is its monitor."""
        tally = self.tally
        latencies = tally.latencies
        room_of, room = self.room_of, self.room
        monitor = self.monitor_for
        seen = self.seen
        received = errors = 0
        for line in lines[:-1]:
            if line[:1] == b"<":
                fields = line.split(b" ", 3)
                latencies.append(now - int(fields[1]))
                received += 1
                if room_of.get(fields[0]) != room:
                    errors += 1
                elif monitor is not None:
                    index = int(fields[0][2:-1])
                    if index in monitor:
                        seen[index] = max(seen.get(index, 0), int(fields[2]))
        if monitor is not None:
            for index, sender in monitor.items():
                sender.acked = seen.get(index, 0)
                sender.pump()
        if received:
            tally.received += received
            tally.last_rx = now
            tally.room_errors += errors

    # -- login ------------------------------------------------------------------------------

    def _handshake(self, data: bytes) -> None:
        """Prompt line: send the nickname. Next line: ``* `` welcome, or a refusal."""
        buf = self.buf + data
        while True:
            cut = buf.find(b"\n")
            if cut < 0:
                break
            line, buf = buf[:cut], buf[cut + 1 :]
            if not self.prompted:
                self.prompted = True
                if not self.prompt.done():
                    self.prompt.set_result(None)
                assert self.transport is not None
                self.transport.write(self.nick + b"\r\n")
                continue
            self.logged_in = line.startswith(b"* ")
            self.mode = DRAIN
            if not self.welcomed.done():
                self.welcomed.set_result(self.logged_in)
            break
        self.buf = buf

    # -- rooms ------------------------------------------------------------------------------

    def join(self, name: bytes) -> asyncio.Future[bool]:
        """Send ``/unirse NAME``; the future says whether its ``* Sala NAME (`` line came (False
        at an error line ``! ...`` or when the connection is lost)."""
        self.joined = asyncio.get_running_loop().create_future()
        self.room_line = b"* Sala " + name + b" ("
        self.mode = JOINING
        assert self.transport is not None
        self.transport.write(b"/unirse " + name + b"\r\n")
        return self.joined

    def _joining(self, data: bytes) -> None:
        """Waiting for the room line: skip other lines (notices), stop at the room line or an
        error line, then drain."""
        self.tally.last_byte = monotonic_ns()
        buf = self.buf + data
        cut = buf.rfind(b"\n")
        if cut < 0:
            self.buf = buf
            return
        self.buf = buf[cut + 1 :]
        for line in buf[:cut].split(b"\n"):
            if line.startswith(self.room_line) or line.startswith(b"! "):
                self.mode = DRAIN
                if self.joined is not None and not self.joined.done():
                    self.joined.set_result(line.startswith(self.room_line))
                return

    # -- sending ----------------------------------------------------------------------------

    def send_one(self) -> None:
        """Send one message now (fixed-rate fan-out)."""
        if self.transport is None or self.transport.is_closing():
            return
        self.sent += 1
        self.transport.write(b"%s%d %d %s\r\n" % (self.prefix, monotonic_ns(), self.sent, PAD))

    def pump(self) -> None:
        """Top the window up, in one write, once at least half of it has been delivered."""
        if not self.sending or self.paused:
            return
        missing = self.window - (self.sent - self.acked)
        if missing < self.refill or self.transport is None or self.transport.is_closing():
            return
        ts = monotonic_ns()
        first = self.sent + 1
        self.sent += missing
        prefix = self.prefix
        self.transport.write(
            b"".join(
                [
                    b"%s%d %d %s\r\n" % (prefix, ts, seq, PAD)
                    for seq in range(first, first + missing)
                ]
            )
        )

    def abort(self) -> None:
        """Drop the connection."""
        if self.transport is not None:
            self.transport.abort()


class FramedTransport:
    """The part of a transport a :class:`Client` uses, turning its CRLF lines into WebSocket
    text frames (masked with a zero key, as the client side must mask: XOR with 0 is free)."""

    __slots__ = ("transport",)

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def write(self, data: bytes) -> None:
        """Each line of ``data`` as one text frame."""
        frames = []
        for line in data[:-2].split(b"\r\n"):
            size = len(line)
            if size < 126:
                frames.append(b"\x81%c\x00\x00\x00\x00%s" % (0x80 | size, line))
            else:
                frames.append(b"\x81\xfe%s\x00\x00\x00\x00%s" % (size.to_bytes(2, "big"), line))
        self.transport.write(b"".join(frames))

    def is_closing(self) -> bool:
        """Whether the socket is closing."""
        return self.transport.is_closing()

    def abort(self) -> None:
        """Drop the socket."""
        self.transport.abort()


class WsClient(Client):
    """A :class:`Client` over the server's WebSocket: frames in become lines, lines out frames."""

    def __init__(self, index: int, tally: Tally) -> None:
        super().__init__(index, tally)
        self.raw = b""
        self.upgraded = False
        self.socket: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Send the upgrade request; the client's writes are framed from now on."""
        self.socket = cast(asyncio.Transport, transport)
        host = f"127.0.0.1:{self.socket.get_extra_info('peername')[1]}"
        self.socket.write(
            b"GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % host.encode()
        )
        self.transport = cast(asyncio.Transport, FramedTransport(self.socket))

    def data_received(self, data: bytes) -> None:
        """Unframe: every complete text frame is one line (``\\n``-terminated) for the client."""
        raw = self.raw + data if self.raw else data
        if not self.upgraded:
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                self.raw = raw
                return
            if not raw.startswith(b"HTTP/1.1 101"):
                assert self.socket is not None
                self.socket.abort()
                return
            self.upgraded = True
            raw = raw[end + 4 :]
        lines = []
        at, size = 0, len(raw)
        while size - at >= 2:
            opcode, length = raw[at] & 0x0F, raw[at + 1] & 0x7F
            start = at + 2
            if length == 126:
                if size - at < 4:
                    break
                length = int.from_bytes(raw[at + 2 : at + 4], "big")
                start = at + 4
            elif length == 127:
                if size - at < 10:
                    break
                length = int.from_bytes(raw[at + 2 : at + 10], "big")
                start = at + 10
            if start + length > size:
                break
            if opcode == 1:
                lines.append(raw[start : start + length])
            elif opcode == 9 and self.socket is not None:  # ping: pong (payload < 126 bytes)
                payload = raw[start : start + length]
                self.socket.write(b"\x8a%c\x00\x00\x00\x00%s" % (0x80 | length, payload))
            at = start + length
        self.raw = raw[at:]
        if lines:
            lines.append(b"")
            super().data_received(b"\n".join(lines))


#: The channel of the IRC rows, and what starts each message sent to it.
IRC_CHANNEL = b"#bench"
IRC_PREFIX = b"PRIVMSG " + IRC_CHANNEL + b" :"
#: Numerics that end an IRC registration or JOIN unsuccessfully (nickname refused or in use,
#: not registered, a password wanted, banned, no such channel, too many channels, ...).
IRC_REFUSALS = frozenset(
    b"%d" % n for n in (403, 405, 431, 432, 433, 436, 437, 451, 461, 464, 465, 471, 473, 474, 475)
)


class IrcClient(Client):
    """A :class:`Client` that speaks IRC (the ``ours-irc`` and ``ngircd`` rows).

    Login: ``NICK uI`` and ``USER`` at once (the client speaks first), then, at the end of the
    MOTD (``376``, or ``422`` without one), ``JOIN #bench``; logged in at its ``366`` (the end
    of the channel's names). Sending: the base class's lines with the prefix ``PRIVMSG #bench
    :``, so the text is ``TS SEQ ...`` as in every row. Receiving: ``:uI!... PRIVMSG #bench :TS
    SEQ ...`` (the source's form is the server's: ``uI!uI@server`` for ours, ``uI!~uI@host``
    for ngIRCd); the sender index is read from the nickname. A ``PING`` gets its ``PONG``.
    """

    def __init__(self, index: int, tally: Tally) -> None:
        super().__init__(index, tally)
        self.prefix = IRC_PREFIX
        self.registered = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register at once: IRC's client speaks first."""
        super().connection_made(transport)
        nick = self.nick
        assert self.transport is not None
        self.transport.write(b"NICK %s\r\nUSER %s 0 * :%s\r\n" % (nick, nick, nick))

    def data_received(self, data: bytes) -> None:
        """Bytes from the server: in the fan-out window the common chunk of one message is
        handled without a loop (as in the base class); every other mode as the base class."""
        if self.mode != FANOUT:
            super().data_received(data)
            return
        tally = self.tally
        tally.rx_bytes += len(data)
        now = monotonic_ns()
        if self.buf:
            data = self.buf + data
            self.buf = b""
        if data[-1] != 10:  # ends in a partial line: keep it for later
            cut = data.rfind(b"\n") + 1
            self.buf = data[cut:]
            if not cut:
                return
            data = data[:cut]
        if self.monitor_for is None and data.count(b"\n") == 1:
            fields = data.split(b" ", 4)
            if len(fields) == 5 and fields[1] == b"PRIVMSG":  # :SOURCE PRIVMSG #bench :TS ...
                tally.latencies.append(now - int(fields[3][1:]))
                tally.received += 1
                tally.last_rx = now
                return
        self._irc_lines(data.split(b"\n"), now)

    def _irc_lines(self, lines: list[bytes], now: int) -> None:
        """Several complete lines in the fan-out window (the last item is the empty tail)."""
        tally = self.tally
        latencies = tally.latencies
        monitor = self.monitor_for
        seen = self.seen
        received = 0
        for line in lines[:-1]:
            fields = line.split(b" ", 5)
            if len(fields) >= 5 and fields[1] == b"PRIVMSG":
                latencies.append(now - int(fields[3][1:]))
                received += 1
                if monitor is not None:
                    source = fields[0]
                    index = int(source[2 : source.find(b"!")])
                    if index in monitor:
                        seen[index] = max(seen.get(index, 0), int(fields[4]))
            elif fields[0] == b"PING" and self.transport is not None:
                self.transport.write(b"PONG" + line.rstrip(b"\r")[4:] + b"\r\n")
        if monitor is not None:
            monitors = self.monitors
            for index, sender in monitor.items():
                sender.acked = min(m.seen.get(index, 0) for m in monitors)
                sender.pump()
        if received:
            tally.received += received
            tally.last_rx = now

    def _handshake(self, data: bytes) -> None:
        """Registration, then the channel: ``376``/``422`` sends ``JOIN``, ``366`` ends the
        login; a refusal (:data:`IRC_REFUSALS`) or ``ERROR`` fails it."""
        if not self.prompt.done():  # the server answered: the connection is there
            self.prompted = True
            self.prompt.set_result(None)
        buf = self.buf + data
        cut = buf.rfind(b"\n")
        if cut < 0:
            self.buf = buf
            return
        self.buf = buf[cut + 1 :]
        assert self.transport is not None
        for line in buf[:cut].split(b"\n"):
            fields = line.split(b" ", 3)
            if fields[0] == b"PING":
                self.transport.write(b"PONG" + line.rstrip(b"\r")[4:] + b"\r\n")
                continue
            if fields[0] == b"ERROR" or len(fields) < 2:
                if fields[0] == b"ERROR":
                    self._welcome(False)
                    return
                continue
            code = fields[1]
            if code in (b"376", b"422") and not self.registered:
                self.registered = True
                self.transport.write(b"JOIN " + IRC_CHANNEL + b"\r\n")
            elif code == b"366":
                self._welcome(True)
                return
            elif code in IRC_REFUSALS:
                self._welcome(False)
                return

    def _welcome(self, ok: bool) -> None:
        """The login (registration and ``JOIN``) ended: ``ok`` or not; drain from now on."""
        self.logged_in = ok
        self.mode = DRAIN
        if not self.welcomed.done():
            self.welcomed.set_result(ok)


class ChannelCounter(asyncio.Protocol):
    """A Redis connection ``PSUBSCRIBE``d to some channel patterns, counting the messages
    published on each channel (the rooms rows' own count of envelopes, beside the nodes')."""

    def __init__(self, patterns: Sequence[bytes]) -> None:
        self.patterns = list(patterns)
        self.counts: Counter[bytes] = Counter()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.acknowledged = 0
        self.counting = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Subscribe to the patterns."""
        self.transport = cast(asyncio.Transport, transport)
        command = [b"PSUBSCRIBE", *self.patterns]
        self.transport.write(
            b"*%d\r\n" % len(command)
            + b"".join(b"$%d\r\n%s\r\n" % (len(part), part) for part in command)
        )

    def connection_lost(self, exc: Exception | None) -> None:
        """Redis went away: whatever was counted stays."""
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("Redis closed the subscription"))

    def data_received(self, data: bytes) -> None:
        """Count each ``pmessage`` by channel; note each ``psubscribe`` acknowledgement."""
        buf = self.buf + data if self.buf else data
        at = 0
        while at < len(buf):
            items, end = servers.parse_resp_array(buf, at)
            if items is None:
                break
            at = end
            kind = items[0] if items else b""
            if kind == b"pmessage" and self.counting and isinstance(items[2], bytes):
                self.counts[items[2]] += 1
            elif kind == b"psubscribe":
                self.acknowledged += 1
                if self.acknowledged == len(self.patterns) and not self.ready.done():
                    self.ready.set_result(None)
        self.buf = buf[at:]

    def close(self) -> None:
        """Stop counting and hang up."""
        self.counting = False
        if self.transport is not None:
            self.transport.abort()


# -- row description and result ------------------------------------------------------------


@dataclass
class RowSpec:
    """One row of the benchmark: a scenario, its parameters and the server it runs against."""

    scenario: str
    server: str
    clients: int = 0  # fanout, connect, hold; private: 2 x pairs
    senders: int = 10
    rate: float = 50.0
    saturate: bool = False
    window: int = 32
    pairs: int = 0
    seconds: float = 10.0
    mysql: bool = False  # connect: persist to a scratch MySQL database (ours and threaded)
    concurrency: int = 0  # logins at a time; 0: 200 for connect (a storm), 40 to set a row up
    login_timeout: float = 180.0
    nodes: int = 0  # server "cluster": nodes of ours on one private Redis
    split: bool = True  # private on a cluster: the two clients of a pair on different nodes
    delivery_acks: bool = False  # private: windows count the partner's receipts, not echoes
    rooms: int = 0  # rooms: rooms per group (rate: messages/s over all the rooms)
    room_groups: int = 1  # rooms: groups of rooms; client i in group i mod G (node i mod G)
    history_days: int | None = None  # ours: --history-days D (None: the default, history on)
    replay_seed: int = 0  # connect: public messages said in the room before the storm

    def server_options(self) -> list[str]:
        """Options added to the server's command line (ours only)."""
        if self.history_days is None:
            return []
        return ["--history-days", str(self.history_days)]

    def label(self) -> str:
        """The server as the table shows it (``cluster:K`` for K nodes)."""
        return f"{self.server}:{self.nodes}" if self.server == servers.CLUSTER else self.server

    def node_of(self, index: int) -> int:
        """Which node (index into the group's ports) client ``index`` connects to.

        Round-robin, so consecutive clients (a private pair, the first senders) are on different
        nodes; with ``split`` off, a private pair's two clients share a node.
        """
        nodes = max(1, self.nodes)
        if self.scenario == "private" and not self.split:
            return (index // 2) % nodes
        return index % nodes

    def room_name(self, index: int) -> bytes:
        """The room client ``index`` moves to in a rooms row (see the module's docstring)."""
        groups = max(1, self.room_groups)
        room = (index // groups) % max(1, self.rooms)
        if groups == 1:
            return b"room-%d" % room
        return b"%c-%d" % (ord("a") + index % groups, room)

    def load(self) -> str:
        """A short description of the offered load, for the table (with the history setting
        when the row sets one: ``hist 30``, ``hist 0``)."""
        history = "" if self.history_days is None else f" hist {self.history_days}"
        if self.replay_seed:
            history += f" seed {self.replay_seed}"
        return self._load() + history

    def _load(self) -> str:
        if self.scenario == "rooms":
            total = max(1, self.rooms * self.room_groups)
            if self.saturate:
                return f"{total} rooms sat x{self.window}"
            return f"{total} rooms {self.rate / total:g}/s each"
        if self.scenario == "fanout":
            if self.saturate:
                return f"sat {self.senders}x{self.window}"
            return f"{self.rate:g}/s x{self.senders}"
        if self.scenario == "private":
            if self.server == servers.CLUSTER and self.nodes > 1:
                return f"{self.pairs} pairs " + ("split" if self.split else "local")
            return f"{self.pairs} pairs"
        if self.scenario == "connect":
            if self.server == "bare":
                return "no db"
            return "mysql" if self.mysql else "sqlite"
        return "idle"


@dataclass
class RowResult:
    """Everything measured for one row (``None``: not applicable or not measured)."""

    scenario: str
    server: str
    clients: int
    load: str
    seconds: float
    spec: dict[str, Any]
    nodes: int = 0  # cluster rows: nodes of ours (0: a single plain server)
    logged_in: int = 0
    login_seconds: float = 0.0
    logins_per_s: float = 0.0
    login_p50_ms: float | None = None
    login_p99_ms: float | None = None
    login_max_ms: float | None = None
    sent: int = 0
    expected: int = 0
    received: int = 0
    delivery_ratio: float = 0.0
    deliveries_per_s: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    window_s: float = 0.0
    units: int = 0
    units_per_s: float = 0.0
    server_cpu_s: float = 0.0  # summed over the group (cluster: every node and Redis)
    server_cpu_pct: float = 0.0
    cpu_s_by_process: dict[str, float] = field(default_factory=dict)
    redis_publishes: int | None = None  # cluster rows: PUBLISH commands during the window
    #: Redis CPU per envelope delivered to a node (public: publishes x nodes; private: one each).
    redis_us_per_copy: float | None = None
    cpu_us_per_unit: float | None = None
    server_rss_kib: int = 0
    server_peak_rss_kib: int = 0
    rss_before_kib: int | None = None
    rss_per_conn_kib: float | None = None
    server_threads: int = 0
    gen_cpu_pct: float = 0.0
    generator_bound: bool = False
    #: CPU the rest of the machine used during the window (other processes, the kernel's
    #: interrupt work), as % of one CPU: what else shared the cores with the row.
    others_cpu_pct: float = 0.0
    rows_persisted: int | None = None
    persisted_seconds: float | None = None
    db_commits: int | None = None  # MySQL Handler_commit delta (server-wide: approximate)
    listen_overflows: int | None = None
    reconnects: int = 0
    # Rooms rows (None elsewhere): clients whose /unirse reply came, messages a client received
    # from another room's sender (must be 0), and on a cluster how its rooms' envelopes went.
    rooms_joined: int | None = None
    room_errors: int | None = None
    #: Each node's ``chat_cluster_room_envelopes_received_total`` summed over the other nodes'
    #: rooms at the end of the row (must be 0); ``None``: the nodes have no such metric.
    foreign_envelopes: dict[str, int] | None = None
    #: Envelopes published on each room's channel during the window, by room key, as the
    #: generator's own ``PSUBSCRIBE`` counted them; the shared ``PREFIX room`` channel's too.
    room_channel_envelopes: dict[str, int] | None = None
    shared_channel_envelopes: int | None = None
    #: ``PUBSUB NUMSUB`` of each room's channel at the end of the window, by room key (should
    #: be 1 each: the node of its members).
    room_channel_subscribers: dict[str, int] | None = None
    #: "per-room" or :data:`NO_ROOM_CHANNELS` (cluster rooms rows).
    room_channels: str | None = None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    vs_bare: dict[str, float] = field(default_factory=dict)


def percentiles_ms(values: array.array[int]) -> tuple[float | None, float | None, float | None]:
    """p50, p99 and max of nanosecond ``values``, in milliseconds (``None`` when empty)."""
    if not values:
        return None, None, None
    try:
        import numpy as np

        data = np.frombuffer(values, dtype=np.int64)
        p50, p99 = np.percentile(data, [50, 99])
        top = float(data.max())
    except ImportError:
        ordered = sorted(values)
        p50 = ordered[len(ordered) // 2]
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        top = float(ordered[-1])
    return round(float(p50) / 1e6, 3), round(float(p99) / 1e6, 3), round(top / 1e6, 3)


# -- the measuring -------------------------------------------------------------------------


class Row:
    """Runs one :class:`RowSpec` against a started server, inside the event loop."""

    def __init__(self, spec: RowSpec, server: servers.ServerGroup, db_url: str | None) -> None:
        self.spec = spec
        self.server = server
        self.db_url = db_url
        self.loop = asyncio.get_running_loop()
        self.tally = Tally()
        self.clients: list[Client] = []
        self.last_welcome = 0
        self._machine0 = 0.0
        self._publishes0 = -1
        self.result = new_result(spec)

    # -- building blocks --------------------------------------------------------------------

    async def login_all(self, count: int) -> list[Client]:
        """Log ``count`` clients in, ``concurrency`` at a time; fill the login figures.

        A client that gets no prompt within :data:`PROMPT_TIMEOUT` seconds hangs up and tries
        again (up to :data:`ATTEMPTS` times), as a sane scripted client would: when a listen
        queue overflows and the kernel falls back to SYN cookies, a connection whose final ACK
        was dropped looks established to the client while the server never saw it, and in a
        protocol where the server speaks first nothing ever repairs it.
        """
        spec, result = self.spec, self.result
        kind = (
            WsClient
            if spec.server == "ours-ws"
            else IrcClient
            if spec.server in servers.IRC_SERVERS
            else Client
        )
        self.clients = [kind(i, self.tally) for i in range(count)]
        latencies: array.array[int] = array.array("q")
        failures: Counter[str] = Counter()
        concurrency = spec.concurrency or (200 if spec.scenario == "connect" else 40)
        gate = asyncio.Semaphore(concurrency)
        last = [monotonic_ns()]
        ports = self.server.ports

        async def one(index: int) -> None:
            port = ports[spec.node_of(index) % len(ports)]
            async with gate:
                started = monotonic_ns()
                for _attempt in range(ATTEMPTS):
                    client = self.clients[index] = kind(index, self.tally)
                    try:
                        await asyncio.wait_for(
                            self.loop.create_connection(client.itself, "127.0.0.1", port), 70
                        )
                        await asyncio.wait_for(client.prompt, PROMPT_TIMEOUT)
                        ok = await asyncio.wait_for(client.welcomed, 70)
                    except TimeoutError:
                        client.abort()
                        if client.transport is not None and not client.prompted:
                            result.reconnects += 1
                            continue  # connected, but no prompt: hang up and try again
                        failures["TimeoutError"] += 1
                        return
                    except OSError as e:
                        failures[type(e).__name__] += 1
                        return
                    if ok:
                        now = monotonic_ns()
                        latencies.append(now - started)
                        last[0] = max(last[0], now)
                    else:
                        failures["refused or closed"] += 1
                    return
                failures[f"no prompt after {ATTEMPTS} connections"] += 1

        started = monotonic_ns()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(one(i) for i in range(count))), spec.login_timeout
            )
        except TimeoutError:
            result.notes.append(f"login phase cut at {spec.login_timeout:g}s")
        logged = [c for c in self.clients if c.logged_in]
        self.last_welcome = last[0]
        elapsed = max(1e-9, (last[0] - started) / 1e9)
        result.logged_in = len(logged)
        result.login_seconds = round(elapsed, 3)
        result.logins_per_s = round(len(logged) / elapsed, 1)
        result.login_p50_ms, result.login_p99_ms, result.login_max_ms = percentiles_ms(latencies)
        if failures:
            result.notes.append(
                "login failures: " + ", ".join(f"{k} {v}" for k, v in failures.items())
            )
        if len(logged) < count:
            result.notes.append(f"only {len(logged)}/{count} logged in")
        if result.reconnects:
            result.notes.append(f"{result.reconnects} reconnects after no prompt")
        return logged

    async def settle(self, quiet: float = 0.5, timeout: float = 120.0) -> bool:
        """Wait until nothing arrives for ``quiet`` s and the server is idle (bounded)."""
        deadline = self.loop.time() + timeout
        last_bytes = self.tally.rx_bytes
        last_cpu = self.server.cpu()
        quiet_since = self.loop.time()
        processes = len(self.server.processes)
        while self.loop.time() < deadline:
            await asyncio.sleep(0.1)
            now = self.loop.time()
            rx, cpu = self.tally.rx_bytes, self.server.cpu()
            idle = processes * (0.02 * (now - quiet_since) + 0.011)
            if rx != last_bytes or cpu - last_cpu > idle:
                last_bytes, last_cpu, quiet_since = rx, cpu, now
            elif now - quiet_since >= quiet:
                return True
        self.result.notes.append(f"server not quiet after {timeout:g}s")
        return False

    async def wait_deliveries(self, expected: int, timeout: float) -> None:
        """Wait until ``expected`` deliveries arrived, or none for a second (bounded)."""
        deadline = self.loop.time() + timeout
        last, since = self.tally.received, self.loop.time()
        while self.loop.time() < deadline and self.tally.received < expected:
            await asyncio.sleep(0.05)
            if self.tally.received != last:
                last, since = self.tally.received, self.loop.time()
            elif self.loop.time() - since > 1.0:
                return

    def mark(self) -> tuple[dict[str, float], float, int]:
        """The start of a measured window: the servers' and the generator's CPU, and the time
        (and, kept here, the whole machine's busy CPU, to tell what else ran meanwhile)."""
        self._machine0 = servers.machine_busy_seconds()
        self._publishes0 = self.server.publishes()
        return self.server.cpu_by_process(), generator_cpu(), monotonic_ns()

    def measure_window(
        self, cpu0: dict[str, float], gen0: float, t0: int, t1: int, units: int
    ) -> None:
        """Fill CPU, rate and memory figures for ``units`` of work done from ``t0`` to ``t1``.

        ``cpu0`` is :meth:`servers.ServerGroup.cpu_by_process` at ``t0``.
        """
        result = self.result
        window = max(1e-9, (t1 - t0) / 1e9)
        cpu1 = self.server.cpu_by_process()
        by_process = {name: cpu1[name] - cpu0.get(name, 0.0) for name in cpu1}
        cpu = sum(by_process.values())
        result.cpu_s_by_process = {name: round(v, 3) for name, v in by_process.items()}
        result.window_s = round(window, 3)
        result.units = units
        result.units_per_s = round(units / window, 1)
        result.server_cpu_s = round(cpu, 3)
        result.server_cpu_pct = round(100 * cpu / window, 1)
        result.cpu_us_per_unit = round(cpu * 1e6 / units, 3) if units else None
        gen = generator_cpu() - gen0
        result.gen_cpu_pct = round(100 * gen / window, 1)
        others = servers.machine_busy_seconds() - self._machine0 - cpu - gen
        result.others_cpu_pct = round(max(0.0, 100 * others / window), 1)
        if self._publishes0 >= 0:
            # Envelopes the nodes published (one per channel per busy reactor turn), and what
            # Redis's CPU came to for each envelope it delivered to a subscribed node.
            publishes = self.server.publishes() - self._publishes0
            result.redis_publishes = publishes
            redis_cpu = by_process.get("redis", 0.0)
            # Rooms rows: how many nodes get each envelope depends on the rooms' channels.
            if publishes > 0 and self.spec.scenario != "rooms":
                copies = (
                    publishes if self.spec.scenario == "private" else publishes * self.spec.nodes
                )
                result.redis_us_per_copy = round(redis_cpu * 1e6 / copies, 2)
        result.generator_bound = result.gen_cpu_pct >= GENERATOR_BOUND_PCT
        result.server_rss_kib = self.server.rss_kib()
        result.server_peak_rss_kib = self.server.peak_rss_kib()
        result.server_threads = self.server.threads()

    # -- scenarios --------------------------------------------------------------------------

    async def fanout(self) -> None:
        """Public messages from S senders to N clients, at a fixed rate or saturating."""
        spec, result, tally = self.spec, self.result, self.tally
        await self.settle(quiet=0.5, timeout=10)
        result.rss_before_kib = before = self.server.rss_kib()
        logged = await self.login_all(spec.clients)
        await self.settle()
        if len(logged) < 2:
            raise RuntimeError("fewer than two clients logged in")
        result.rss_per_conn_kib = round((self.server.rss_kib() - before) / len(logged), 2)
        senders = logged[: max(1, min(spec.senders, len(logged) - 1))]
        for client in logged:
            client.mode = FANOUT
        tally.reset()
        cpu0, gen0, t0 = self.mark()
        end = self.loop.time() + spec.seconds
        if spec.saturate:
            monitors = self.monitors(logged, senders)
            for monitor in monitors:
                monitor.monitor_for = {s.index: s for s in senders}
                monitor.monitors = monitors
            for sender in senders:
                sender.window = spec.window
                sender.refill = max(1, spec.window // 2)
                sender.sending = True
                sender.pump()
            await asyncio.sleep(spec.seconds)
            for sender in senders:
                sender.sending = False
        else:
            await self._ticker(senders, spec.rate, end)
        t_sent = monotonic_ns()
        sent = sum(s.sent for s in senders)
        expected = sent * (len(logged) - 1)
        await self.wait_deliveries(expected, timeout=max(30.0, 3 * spec.seconds))
        received = tally.received
        self.measure_window(cpu0, gen0, t0, max(t_sent, tally.last_rx), received)
        result.sent, result.expected, result.received = sent, expected, received
        result.delivery_ratio = round(received / expected, 6) if expected else 0.0
        result.deliveries_per_s = result.units_per_s
        result.p50_ms, result.p99_ms, result.max_ms = percentiles_ms(tally.latencies)

    async def rooms(self) -> None:
        """Clients in rooms; one sender per room, at a fixed total rate or saturating; a message
        must reach exactly the other members of its sender's room."""
        spec, result, tally = self.spec, self.result, self.tally
        await self.settle(quiet=0.5, timeout=10)
        result.rss_before_kib = before = self.server.rss_kib()
        logged = await self.login_all(spec.clients)
        await self.settle()
        members = await self.join_rooms(logged)
        await self.settle()
        rooms = [m for m in members.values() if len(m) >= 2]
        if not rooms:
            raise RuntimeError("no room has two members")
        result.rss_per_conn_kib = round((self.server.rss_kib() - before) / len(logged), 2)
        senders = [m[0] for m in rooms]
        room_of = {b"<" + c.nick + b">": c.room for m in rooms for c in m}
        for m in members.values():
            for client in m:
                client.room_of = room_of
                client.mode = ROOMS
        await self.idle_cpu(min(2.0, spec.seconds / 2))
        counter = await self.count_room_channels()
        tally.reset()
        cpu0, gen0, t0 = self.mark()
        if spec.saturate:
            for m in rooms:
                sender, monitor = m[0], m[-1]
                monitor.monitor_for = {sender.index: sender}
                monitor.monitors = [monitor]
                sender.window = spec.window
                sender.refill = max(1, spec.window // 2)
                sender.sending = True
                sender.pump()
            await asyncio.sleep(spec.seconds)
            for sender in senders:
                sender.sending = False
        else:
            await self._ticker(senders, spec.rate, self.loop.time() + spec.seconds)
        t_sent = monotonic_ns()
        sent = sum(s.sent for s in senders)
        expected = sum(m[0].sent * (len(m) - 1) for m in rooms)
        await self.wait_deliveries(
            expected + tally.room_errors, timeout=max(30.0, 3 * spec.seconds)
        )
        # Deliveries are the messages that reached their own room; the others are errors.
        received = tally.received - tally.room_errors
        self.measure_window(cpu0, gen0, t0, max(t_sent, tally.last_rx), received)
        result.sent, result.expected, result.received = sent, expected, received
        result.delivery_ratio = round(received / expected, 6) if expected else 0.0
        result.deliveries_per_s = result.units_per_s
        result.p50_ms, result.p99_ms, result.max_ms = percentiles_ms(tally.latencies)
        result.room_errors = tally.room_errors
        if counter is not None:
            counter.close()
            self.room_channel_figures(counter, members)

    async def idle_cpu(self, seconds: float) -> None:
        """Note the servers' CPU while nothing is sent for ``seconds`` (timers, heartbeats), to
        tell how much of a low-rate row's CPU per delivery background work could explain."""
        before = self.server.cpu()
        await asyncio.sleep(seconds)
        used = self.server.cpu() - before
        self.result.notes.append(f"idle server {100 * used / seconds:.1f}% CPU before the window")

    async def join_rooms(self, logged: Sequence[Client]) -> dict[bytes, list[Client]]:
        """Move every client to its room (``/unirse``, ``concurrency`` at a time, bounded by
        the login timeout); the members of each room whose room line came, by room name."""
        spec, result = self.spec, self.result
        gate = asyncio.Semaphore(spec.concurrency or 40)
        names = {c.index: spec.room_name(c.index) for c in logged}
        number = {name: k for k, name in enumerate(sorted(set(names.values())))}

        async def one(client: Client) -> None:
            async with gate:
                client.room = number[names[client.index]]
                await client.join(names[client.index])

        try:
            await asyncio.wait_for(asyncio.gather(*(one(c) for c in logged)), spec.login_timeout)
        except TimeoutError:
            result.notes.append(f"room moves cut at {spec.login_timeout:g}s")
        members: dict[bytes, list[Client]] = {}
        for client in logged:
            joined = client.joined
            if joined is not None and joined.done() and joined.result():
                members.setdefault(names[client.index], []).append(client)
            else:
                client.mode = DRAIN  # not in its room: counted nowhere
        result.rooms_joined = sum(len(m) for m in members.values())
        if result.rooms_joined < len(logged):
            result.notes.append(f"only {result.rooms_joined}/{len(logged)} reached their room")
        return dict(sorted(members.items()))

    async def count_room_channels(self) -> ChannelCounter | None:
        """On a cluster: a Redis subscription of the generator's own to the rooms' channels and
        the shared one (``PREFIX room:*``, ``PREFIX room``), counting from now on."""
        port = self.server.redis_port()
        if port is None:
            return None
        prefix = servers.REDIS_PREFIX.encode()
        counter = ChannelCounter([prefix + b"room", prefix + b"room:*"])
        await asyncio.wait_for(self.loop.create_connection(lambda: counter, "127.0.0.1", port), 5)
        await asyncio.wait_for(counter.ready, 5)
        return counter

    def room_channel_figures(
        self, counter: ChannelCounter, members: dict[bytes, list[Client]]
    ) -> None:
        """The envelopes of each room channel, its subscribers and the nodes' own count of
        envelopes of other nodes' rooms; "n/a" when the nodes have no per-room channels."""
        result = self.result
        port = self.server.redis_port()
        prefix = servers.REDIS_PREFIX
        keys = [name.decode().lower() for name in members]  # roomnames.key of an ASCII name
        per_room = f"{prefix}room:"
        counted = {
            channel.decode(errors="replace")[len(per_room) :]: count
            for channel, count in counter.counts.items()
            if channel.startswith(per_room.encode())
        }
        result.room_channel_envelopes = {key: counted.pop(key, 0) for key in keys} | counted
        result.shared_channel_envelopes = counter.counts.get(f"{prefix}room".encode(), 0)
        subscribers = servers.redis_numsub(port, [per_room + key for key in keys]) if port else None
        if subscribers is not None:
            result.room_channel_subscribers = {
                channel[len(per_room) :]: count for channel, count in subscribers.items()
            }
        held: dict[int, set[str]] = {}
        for name, clients in members.items():
            for client in clients:
                held.setdefault(self.spec.node_of(client.index), set()).add(name.decode().lower())
        result.foreign_envelopes = self.foreign_envelopes(held)
        channels = (
            result.foreign_envelopes is not None
            or any(result.room_channel_envelopes.values())
            or any((result.room_channel_subscribers or {}).values())
        )
        result.room_channels = "per-room" if channels else NO_ROOM_CHANNELS

    def foreign_envelopes(self, held: dict[int, set[str]]) -> dict[str, int] | None:
        """Each node's :data:`ROOM_ENVELOPES_METRIC` summed over the rooms held by other
        nodes' clients only (``held``: room keys by node); ``None`` if a node has no such
        metric (or no ``--metrics``)."""
        found: dict[str, int] = {}
        every = set().union(*held.values()) if held else set()
        for k, node in enumerate(self.server.nodes):
            if node.metrics_port is None:
                return None
            text = servers.scrape_metrics(node.metrics_port)
            if text is None or ROOM_ENVELOPES_METRIC not in text:
                return None
            foreign = every - held.get(k, set())
            found[node.name] = sum(
                count for room, count in room_samples(text).items() if room in foreign
            )
        return found

    def monitors(self, logged: Sequence[Client], senders: Sequence[Client]) -> list[Client]:
        """The monitor of each node: its last logged-in client that is not a sender.

        On one server that is the last client to log in, last in its broadcast order; on a
        cluster each node fans a message out to its own clients, so each has its own.
        """
        sending = {s.index for s in senders}
        last: dict[int, Client] = {}
        for client in logged:
            if client.index not in sending:
                last[self.spec.node_of(client.index)] = client
        found = list(last.values())
        if self.spec.server in servers.IRC_SERVERS:
            # Each IRC server writes a channel in its own order (ngIRCd newest member first,
            # ours in join order): the first client to join is a monitor too.
            first = next((c for c in logged if c.index not in sending), None)
            if first is not None and first not in found:
                found.insert(0, first)
        return found

    async def _ticker(self, senders: Sequence[Client], rate: float, end: float) -> None:
        """Send ``rate`` messages per second in all, round-robin over ``senders``, until ``end``."""
        start = self.loop.time()
        sent = 0
        while True:
            now = self.loop.time()
            if now >= end:
                return
            due = int((now - start) * rate) + 1
            while sent < due:
                senders[sent % len(senders)].send_one()
                sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - self.loop.time()))

    async def private(self) -> None:
        """P pairs sending each other private messages as fast as the server lets them."""
        spec, result, tally = self.spec, self.result, self.tally
        await self.login_all(2 * spec.pairs)
        await self.settle()
        # Pair k is clients 2k and 2k + 1 (on different nodes of a cluster: see RowSpec.node_of).
        everyone = self.clients
        pairs = [
            (everyone[i], everyone[i + 1])
            for i in range(0, len(everyone) - 1, 2)
            if everyone[i].logged_in and everyone[i + 1].logged_in
        ]
        if not pairs:
            raise RuntimeError("no pair logged in")
        for a, b in pairs:
            a.prefix, b.prefix = b"#" + b.nick + b" ", b"#" + a.nick + b" "
            if spec.delivery_acks:
                a.partner, b.partner = b, a
        talkers = [c for pair in pairs for c in pair]
        for client in talkers:
            client.mode = PRIVATE
            client.window = spec.window
            client.refill = max(1, spec.window // 2)
        tally.reset()
        cpu0, gen0, t0 = self.mark()
        for client in talkers:
            client.sending = True
            client.pump()
        await asyncio.sleep(spec.seconds)
        for client in talkers:
            client.sending = False
        t_sent = monotonic_ns()
        sent = sum(c.sent for c in talkers)
        await self.wait_deliveries(sent, timeout=max(30.0, 3 * spec.seconds))
        received = tally.received
        self.measure_window(cpu0, gen0, t0, max(t_sent, tally.last_rx), received)
        result.sent, result.expected, result.received = sent, sent, received
        result.delivery_ratio = round(received / sent, 6) if sent else 0.0
        result.deliveries_per_s = result.units_per_s
        result.p50_ms, result.p99_ms, result.max_ms = percentiles_ms(tally.latencies)

    async def connect(self) -> None:
        """N logins as fast as possible; with MySQL, then wait for every row in ``clientes``."""
        spec, result = self.spec, self.result
        if spec.replay_seed:
            await self.seed_room(spec.replay_seed)
        commits0 = servers.mysql_commits(self.db_url) if self.db_url else -1
        cpu0, gen0, t0 = self.mark()
        logged = await self.login_all(spec.clients)
        t_logged = self.last_welcome
        await self.settle()
        # The server's work ends with the last join notice, after the last welcome.
        self.measure_window(cpu0, gen0, t0, max(t_logged, self.tally.last_byte), len(logged))
        result.delivery_ratio = round(len(logged) / spec.clients, 6)
        if self.db_url:
            deadline = self.loop.time() + 60
            rows = -1
            while self.loop.time() < deadline:
                rows = await self.loop.run_in_executor(None, servers.mysql_count, self.db_url)
                if rows >= len(logged) + (1 if spec.replay_seed else 0):
                    break
                await asyncio.sleep(0.2)
            result.rows_persisted = rows
            result.persisted_seconds = round((monotonic_ns() - t0) / 1e9, 3)
            # The seeding client of a replay row logged in too.
            wanted = spec.clients + (1 if spec.replay_seed else 0)
            if rows != wanted:
                result.notes.append(f"{rows} rows in clientes for {wanted} logins")
            commits1 = servers.mysql_commits(self.db_url)
            if commits0 >= 0 and commits1 >= 0:
                result.db_commits = commits1 - commits0
        if logged and spec.replay_seed:  # the replay's lines arrived (or not, history off)
            result.notes.append(f"{self.tally.rx_bytes / len(logged):,.0f} bytes per login")

    async def seed_room(self, messages: int) -> None:
        """Before a login storm: one client (not one of the row's) says ``messages`` public
        messages in the room and leaves, so each login of the storm is replayed them (with
        history on; with history off there is nothing to replay)."""
        seeder = Client(self.spec.clients + 1000, Tally())
        port = self.server.ports[0]
        await asyncio.wait_for(self.loop.create_connection(seeder.itself, "127.0.0.1", port), 30)
        if not await asyncio.wait_for(seeder.welcomed, 30):
            raise RuntimeError("the seeding client could not log in")
        assert seeder.transport is not None
        seeder.transport.write(
            b"".join(b"%d %d %s\r\n" % (monotonic_ns(), n, PAD) for n in range(1, messages + 1))
        )
        await self.settle(quiet=1.0, timeout=30)
        seeder.transport.close()
        await self.settle(quiet=0.5, timeout=30)

    async def hold(self) -> None:
        """N idle logged-in clients: server memory per connection."""
        spec, result = self.spec, self.result
        await self.settle(quiet=0.5, timeout=10)
        result.rss_before_kib = before = self.server.rss_kib()
        cpu0, gen0, t0 = self.mark()
        logged = await self.login_all(spec.clients)
        t_logged = self.last_welcome
        await self.settle(quiet=1.0, timeout=spec.login_timeout)
        self.measure_window(cpu0, gen0, t0, max(t_logged, self.tally.last_byte), len(logged))
        result.delivery_ratio = round(len(logged) / spec.clients, 6)
        if logged:
            growth = result.server_rss_kib - before
            result.rss_per_conn_kib = round(growth / len(logged), 2)

    # -- the whole row ----------------------------------------------------------------------

    async def run(self) -> RowResult:
        """Run the scenario, then stop the server while the clients still read."""
        if self.spec.server in servers.IRC_SERVERS and self.spec.scenario != "fanout":
            raise RuntimeError(f"{self.spec.server} has only the fan-out rows (IRC clients)")
        overflows = servers.listen_overflows()
        try:
            await getattr(self, self.spec.scenario)()
        finally:
            await self.stop()
        if overflows >= 0:
            self.result.listen_overflows = servers.listen_overflows() - overflows
            if self.result.listen_overflows:
                self.result.notes.append(f"listen queue overflowed {self.result.listen_overflows}x")
        return self.result

    async def stop(self) -> None:
        """SIGTERM the server (clients keep draining its goodbye), SIGKILL it after 15 s."""
        self.server.terminate()
        for _ in range(150):
            if not self.server.alive():
                break
            await asyncio.sleep(0.1)
        if self.server.alive():
            self.result.notes.append("server killed after SIGTERM timeout")
        self.server.stop(timeout=0.1)
        for client in self.clients:
            client.abort()
        await asyncio.sleep(0)


def room_samples(text: str) -> dict[str, int]:
    """The samples of :data:`ROOM_ENVELOPES_METRIC` in a ``/metrics`` page, by ``room`` label."""
    found: dict[str, int] = {}
    start = ROOM_ENVELOPES_METRIC + "{"
    for line in text.splitlines():
        if not line.startswith(start):
            continue
        labels, _, value = line[len(start) :].rpartition("} ")
        for label in labels.split(","):
            name, _, quoted = label.partition("=")
            if name.strip() == "room":
                room = quoted.strip().strip('"')
                found[room] = found.get(room, 0) + int(float(value))
    return found


def new_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop if installed, else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_async(coro_fn: Callable[[], Coroutine[Any, Any, RowResult]]) -> RowResult:
    """Run ``coro_fn()`` in a fresh event loop (uvloop if available)."""
    with asyncio.Runner(loop_factory=new_loop_factory()) as runner:
        return runner.run(coro_fn())


def measure(spec: RowSpec, mysql_url: str | None = None) -> RowResult:
    """Start the server, run one row against it, stop it; errors become the row's ``error``."""
    started = time.monotonic()
    use_mysql = spec.scenario == "connect" and spec.mysql and spec.server != "bare"
    with tempfile.TemporaryDirectory(prefix="chat-bench-", dir=_scratch_root()) as tmp:
        server: servers.ServerGroup | None = None
        try:
            with (
                servers.scratch_mysql(mysql_url or servers.DEFAULT_MYSQL)
                if use_mysql
                else nullcontext(None)
            ) as db_url:
                server = servers.start_group(
                    spec.server,
                    Path(tmp),
                    db_url,
                    spec.nodes,
                    metrics=spec.scenario == "rooms",
                    extra=spec.server_options(),
                )
                running = server

                async def go() -> RowResult:
                    return await Row(spec, running, db_url).run()

                # The generator's own garbage collections (thousands of client objects, default
                # thresholds) stalled its reading for tens of milliseconds and showed as the
                # servers' p99 latency. Its garbage is acyclic, freed by reference counting: the
                # cyclic collector is off for the row and run once after it.
                gc.collect()
                gc.disable()
                try:
                    result = run_async(go)
                finally:
                    gc.enable()
                    gc.collect()
        except Exception as e:
            result = new_result(spec)
            result.error = f"{type(e).__name__}: {e}"
            if server is not None:
                result.error += "\n" + server.log_tail(1500)
        finally:
            if server is not None:
                server.stop()
    result.notes.extend(_flags(result))
    result.spec["wall_seconds"] = round(time.monotonic() - started, 1)
    return result


def new_result(spec: RowSpec) -> RowResult:
    """An empty result for ``spec``."""
    return RowResult(
        spec.scenario,
        spec.server,
        spec.clients,
        spec.load(),
        spec.seconds,
        asdict(spec),
        nodes=spec.nodes if spec.server == servers.CLUSTER else 0,
    )


def _scratch_root() -> str | None:
    """Where servers keep their SQLite files and logs: tmpfs when there is one.

    The database is not what the SQLite rows measure (logins happen before the measured window),
    and the threaded reference commits once per login: on a disk that is ~2 ms each.
    """
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None


def _flags(result: RowResult) -> list[str]:
    flags = []
    if result.generator_bound:
        flags.append("generator-bound")
    if not result.nodes and result.server_cpu_pct >= 90:
        flags.append("server-bound")
    if result.others_cpu_pct >= OTHERS_NOTED_PCT:
        flags.append(f"others {result.others_cpu_pct:.0f}% CPU")
    if result.nodes and result.window_s:
        # A cluster: which process saturated a core, whether the machine had none to spare, and
        # where the CPU went.
        busy = [
            name
            for name, seconds in result.cpu_s_by_process.items()
            if 100 * seconds / result.window_s >= 90
        ]
        if busy:
            flags.append(f"{'+'.join(busy)}-bound")
        cpus = len(os.sched_getaffinity(0) | set(servers.server_cpus()))
        if result.server_cpu_pct + result.gen_cpu_pct >= 90 * cpus:
            flags.append(f"all {cpus} CPUs busy")
        flags.append(
            "cpu s "
            + " ".join(f"{name} {seconds:.2f}" for name, seconds in result.cpu_s_by_process.items())
        )
        if result.redis_publishes is not None and result.redis_us_per_copy is not None:
            flags.append(
                f"{result.redis_publishes} publishes, redis {result.redis_us_per_copy:.1f} us/copy"
            )
    if result.error is None and result.delivery_ratio < 1.0 and result.scenario != "hold":
        flags.append(f"ratio {result.delivery_ratio:.4f}")
    if result.room_errors:
        flags.append(f"{result.room_errors} ROOM ERRORS (messages of another room)")
    flags += _room_channel_flags(result)
    return flags


def _room_channel_flags(result: RowResult) -> list[str]:
    """What a cluster rooms row says of its rooms' channels, in a few words."""
    if result.room_channels is None:
        return []
    if result.room_channels == NO_ROOM_CHANNELS:
        shared = result.shared_channel_envelopes
        return [f"{NO_ROOM_CHANNELS} ({shared} envelopes on the shared channel)"]
    flags = []
    foreign = result.foreign_envelopes
    if foreign is None:
        flags.append("no room envelope metric")
    else:
        flags.append(
            "envelopes of other nodes' rooms "
            + " ".join(f"{node} {count}" for node, count in foreign.items())
        )
    envelopes = result.room_channel_envelopes or {}
    flags.append(f"{sum(envelopes.values())} envelopes on {len(envelopes)} room channels")
    subscribers = result.room_channel_subscribers
    if subscribers:
        low, high = min(subscribers.values()), max(subscribers.values())
        flags.append(f"nodes per room channel {low}" + (f"-{high}" if high != low else ""))
    return flags


# -- reporting -----------------------------------------------------------------------------

#: Figures compared with the bare Twisted server's (result field names).
RATIO_FIELDS = (
    "units_per_s",
    "deliveries_per_s",
    "logins_per_s",
    "delivery_ratio",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "login_p50_ms",
    "login_p99_ms",
    "login_max_ms",
    "server_cpu_pct",
    "cpu_us_per_unit",
    "server_rss_kib",
    "server_peak_rss_kib",
    "rss_per_conn_kib",
    "gen_cpu_pct",
)


def _match_key(result: RowResult) -> tuple[Any, ...]:
    spec = result.spec
    if result.scenario == "fanout":
        window = spec["window"] if spec["saturate"] else 0
        return ("fanout", result.clients, spec["saturate"], spec["rate"], spec["senders"], window)
    if result.scenario == "private":
        return ("private", spec["pairs"], spec.get("delivery_acks", False))
    if result.scenario == "connect":
        return ("connect", result.clients)
    if result.scenario == "rooms":
        window = spec["window"] if spec["saturate"] else 0
        rooms = (spec["rooms"], spec["room_groups"])
        return ("rooms", result.clients, *rooms, spec["saturate"], spec["rate"], window)
    return ("hold",)


def add_ratios(results: Iterable[RowResult]) -> None:
    """Fill each row's ``vs_bare``: its figures divided by the bare server's in the same run.

    A ``hold`` row with no bare row of the same size is compared with any bare ``hold`` row (the
    figure that matters there, RSS per connection, does not depend on the size).
    """
    rows = list(results)
    bare: dict[tuple[Any, ...], RowResult] = {}
    for row in rows:
        if row.server == "bare" and row.error is None:
            bare.setdefault((*_match_key(row), row.clients), row)
            bare.setdefault(_match_key(row), row)
    for row in rows:
        ref = bare.get((*_match_key(row), row.clients)) or bare.get(_match_key(row))
        row.vs_bare = {}
        if ref is None or row.error is not None:
            continue
        for name in RATIO_FIELDS:
            mine, theirs = getattr(row, name), getattr(ref, name)
            if isinstance(mine, int | float) and isinstance(theirs, int | float) and theirs:
                row.vs_bare[name] = round(mine / theirs, 3)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100_000:
            return f"{value:,.0f}"
        return f"{value:,.{digits}f}"
    return str(value)


def _ratio(row: RowResult, name: str) -> str:
    value = row.vs_bare.get(name)
    return "-" if value is None else f"{value:.2f}x"


def label(row: RowResult) -> str:
    """The server as the table shows it: ``cluster:K`` for a cluster of K nodes."""
    return f"{row.server}:{row.nodes}" if row.nodes else row.server


def format_table(results: Sequence[RowResult]) -> str:
    """The results as a fixed-width text table (latency: messages, or logins for connect/hold)."""
    header = (
        "scenario", "server", "N", "load", "units/s", "xbare", "ratio", "p50 ms", "p99 ms",
        "max ms", "xbare", "cpu %", "us/unit", "xbare", "RSS MiB", "KiB/conn", "xbare", "gen %",
        "notes",
    )  # fmt: skip
    lines = [header]
    for row in results:
        if row.error is not None:
            lines.append(
                (row.scenario, label(row), str(row.clients), row.load, *("-",) * 14,
                 "ERROR " + row.error.splitlines()[0][:60])
            )  # fmt: skip
            continue
        login = row.scenario in ("connect", "hold")
        p50 = row.login_p50_ms if login else row.p50_ms
        p99 = row.login_p99_ms if login else row.p99_ms
        top = row.login_max_ms if login else row.max_ms
        unit = "login" if login else "dlv"
        notes = list(row.notes)
        if row.rows_persisted is not None:
            commits = "" if row.db_commits is None else f", ~{row.db_commits} db commits"
            notes.insert(0, f"rows {row.rows_persisted} in {row.persisted_seconds:.1f}s{commits}")
        lines.append(
            (
                row.scenario,
                label(row),
                str(row.clients),
                row.load,
                f"{_fmt(row.units_per_s, 0)} {unit}",
                _ratio(row, "units_per_s"),
                f"{row.delivery_ratio:.4f}",
                _fmt(p50, 2),
                _fmt(p99, 2),
                _fmt(top, 1),
                _ratio(row, "login_p99_ms" if login else "p99_ms"),
                _fmt(row.server_cpu_pct),
                _fmt(row.cpu_us_per_unit, 2),
                _ratio(row, "cpu_us_per_unit"),
                _fmt(row.server_rss_kib / 1024),
                _fmt(row.rss_per_conn_kib, 2),
                _ratio(row, "rss_per_conn_kib"),
                _fmt(row.gen_cpu_pct),
                "; ".join(notes),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = []
    for line in lines:
        cells = [
            cell.ljust(w) if i < 4 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=False))
        ]
        out.append("  ".join(cells) + "  " + line[-1])
    return "\n".join(out)


#: Issue 13's aims for the WebSocket front, in a fixed-rate fan-out row measured against both
#: ``ours`` and ``ours-ws`` in the same run: CPU per delivery at most this many times TCP's...
WS_CPU_RATIO_AIM = 1.5
#: ...and at most this many KiB of server RSS per WebSocket connection.
WS_KIB_PER_CONN_AIM = 6.0


def websocket_aims(results: Sequence[RowResult]) -> list[dict[str, Any]]:
    """For each fixed-rate fan-out size measured against both ``ours`` and ``ours-ws``: the
    ratio of their CPU per delivery, the KiB per WebSocket connection, and whether each meets
    its aim (:data:`WS_CPU_RATIO_AIM`, :data:`WS_KIB_PER_CONN_AIM`)."""
    rows: dict[tuple[int, str], RowResult] = {}
    for row in results:
        fixed_rate = row.scenario == "fanout" and not row.spec["saturate"]
        if fixed_rate and row.error is None and row.server in ("ours", "ours-ws"):
            rows.setdefault((row.clients, row.server), row)
    found: list[dict[str, Any]] = []
    for (clients, server), ws in sorted(rows.items()):
        tcp = rows.get((clients, "ours"))
        if server != "ours-ws" or tcp is None:
            continue  # the TCP row itself, or a WebSocket row with no TCP row to compare
        entry: dict[str, Any] = {
            "clients": clients,
            "load": ws.load,
            "ws_us_per_delivery": ws.cpu_us_per_unit,
            "tcp_us_per_delivery": tcp.cpu_us_per_unit,
            "cpu_ratio": None,
            "cpu_ratio_aim": WS_CPU_RATIO_AIM,
            "ws_kib_per_conn": ws.rss_per_conn_kib,
            "tcp_kib_per_conn": tcp.rss_per_conn_kib,
            "kib_per_conn_aim": WS_KIB_PER_CONN_AIM,
        }
        if ws.cpu_us_per_unit and tcp.cpu_us_per_unit:
            entry["cpu_ratio"] = round(ws.cpu_us_per_unit / tcp.cpu_us_per_unit, 3)
        ratio, kib = entry["cpu_ratio"], entry["ws_kib_per_conn"]
        entry["cpu_met"] = None if ratio is None else ratio <= WS_CPU_RATIO_AIM
        entry["kib_met"] = None if kib is None else kib <= WS_KIB_PER_CONN_AIM
        found.append(entry)
    return found


def format_websocket_aims(aims: Sequence[dict[str, Any]], tiny: bool = False) -> str:
    """:func:`websocket_aims` as lines of text ("" when no row pair was measured)."""
    if not aims:
        return ""
    lines = ["WebSocket front: ours-ws against ours, fixed-rate fan-out, same run"]
    if tiny:
        lines[0] += " (tiny rows: the figures mean nothing)"

    def verdict(met: bool | None) -> str:
        return "not measured" if met is None else "met" if met else "NOT met"

    for entry in aims:
        where = f"  N={entry['clients']} {entry['load']}:"
        ratio = entry["cpu_ratio"]
        if ratio is None:
            lines.append(f"{where} CPU per delivery not measured")
        else:
            lines.append(
                f"{where} CPU per delivery {entry['ws_us_per_delivery']:.2f} us vs "
                f"{entry['tcp_us_per_delivery']:.2f} us = {ratio:.2f}x "
                f"(aim <= {entry['cpu_ratio_aim']:g}x): {verdict(entry['cpu_met'])}"
            )
        kib, tcp_kib = entry["ws_kib_per_conn"], entry["tcp_kib_per_conn"]
        tcp_note = f"; TCP {tcp_kib:.2f} KiB" if tcp_kib is not None else ""
        lines.append(
            f"{where} {_fmt(kib, 2)} KiB per WebSocket connection{tcp_note} "
            f"(aim <= {entry['kib_per_conn_aim']:g} KiB): {verdict(entry['kib_met'])}"
        )
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    try:
        loop = f"uvloop {importlib.metadata.version('uvloop')}"
    except importlib.metadata.PackageNotFoundError:
        loop = "asyncio"

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "generator_loop": loop,
        "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_json(path: Path, results: Sequence[RowResult], extra: dict[str, Any]) -> None:
    """Write the rows (and ``extra`` metadata) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"meta": {**machine_info(), **extra}, "rows": [asdict(r) for r in results]}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def resolve_mysql(url: str, wanted: bool) -> tuple[str | None, str]:
    """The MySQL URL to use for ``connect`` rows (``None``: SQLite), and a note if not used."""
    if not wanted:
        return None, ""
    why_not = servers.mysql_available(url)
    if why_not:
        return None, f"MySQL unavailable at {url} ({why_not}): connect rows use SQLite"
    return url, ""


def main(argv: Sequence[str] | None = None) -> int:
    """One scenario against each chosen server: print the table, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument(
        "--server",
        action="append",
        choices=(*servers.ALL_SERVERS, servers.CLUSTER),
        help="repeatable; default: ours, bare and threaded",
    )
    parser.add_argument("--nodes", type=int, default=2, help="cluster: nodes on one Redis")
    parser.add_argument(
        "--local-pairs", action="store_true", help="private on a cluster: both of a pair on a node"
    )
    parser.add_argument(
        "--delivery-acks",
        action="store_true",
        help="private: count a window by the partner's receipts (always with --server cluster)",
    )
    parser.add_argument("--clients", type=int, default=1000, help="N (not for private)")
    parser.add_argument("--senders", type=int, default=10, help="fanout: S")
    parser.add_argument("--rate", type=float, default=50.0, help="fanout: messages/s in all")
    parser.add_argument("--saturate", action="store_true", help="fanout: as fast as possible")
    parser.add_argument("--window", type=int, default=0, help="messages in flight per sender")
    parser.add_argument("--pairs", type=int, default=200, help="private: P")
    parser.add_argument("--rooms", type=int, default=10, help="rooms: rooms per group")
    parser.add_argument(
        "--room-groups", type=int, default=1, help="rooms: groups of rooms (a node's each)"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--concurrency", type=int, default=0, help="logins at a time (default 200 for connect, 40)"
    )
    parser.add_argument("--login-timeout", type=float, default=180.0)
    parser.add_argument("--mysql", default=servers.DEFAULT_MYSQL, help="server for connect rows")
    parser.add_argument("--no-mysql", action="store_true", help="connect rows on SQLite")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the load generator to one CPU"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    limit = servers.raise_open_files_limit()
    pinned = "" if args.no_pin else servers.pin_cpus()
    mysql_url, note = resolve_mysql(args.mysql, args.scenario == "connect" and not args.no_mysql)
    if note:
        print(note, file=sys.stderr)
    results = []
    for name in args.server or servers.SERVERS:
        spec = RowSpec(
            scenario=args.scenario,
            server=name,
            clients=2 * args.pairs if args.scenario == "private" else args.clients,
            senders=args.senders,
            rate=args.rate,
            saturate=args.saturate,
            window=args.window or (16 if args.scenario == "private" else 32),
            pairs=args.pairs,
            seconds=args.seconds,
            mysql=mysql_url is not None,
            concurrency=args.concurrency,
            login_timeout=args.login_timeout,
            nodes=args.nodes if name == servers.CLUSTER else 0,
            split=not args.local_pairs,
            delivery_acks=args.delivery_acks or servers.CLUSTER in (args.server or ()),
            rooms=args.rooms,
            room_groups=args.room_groups,
        )
        result = measure(spec, mysql_url)
        results.append(result)
        print(f"{spec.label()}: {result.spec['wall_seconds']}s", file=sys.stderr, flush=True)
    add_ratios(results)
    print(format_table(results))
    aims = websocket_aims(results)
    if aims:
        print("\n" + format_websocket_aims(aims))
    if args.json:
        meta = {"open_files": limit, "pinning": pinned or "not pinned", "websocket_aims": aims}
        write_json(args.json, results, meta)
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
