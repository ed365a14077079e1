"""The per-connection protocol (bytes and lines) and the factory that owns the chat.

:class:`ChatProtocol` is a ``LineReceiver`` that keeps Twisted's ``sendLine`` but frames input
with its own :class:`~twisted_chat.lines.LineSplitter` (see that module for why), decodes each
line separately and hands text to the :class:`~twisted_chat.chat.ChatCore`. It also enforces the
per-connection limits of :class:`~twisted_chat.limits.Limits`: the send queue, strikes for bad
lines, flood control, and the login and idle timeouts. :class:`ChatFactory` enforces the
connection limits and shuts every connection down gracefully.
"""

from __future__ import annotations

import socket
from collections import Counter, deque
from collections.abc import Callable, Collection
from typing import Any

from twisted.internet import defer, protocol, tcp
from twisted.internet.interfaces import IAddress, IDelayedCall, IPushProducer, ITCPTransport
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_chat import wire
from twisted_chat.chat import ChatCore
from twisted_chat.limits import ConnectionCounter, Limits, TokenBucket
from twisted_chat.lines import TOO_LONG, LineSplitter, LineTooLong, has_control_characters

Item = bytes | LineTooLong


def _direct_writes_possible(transport: object) -> bool:
    """Whether ``transport`` is a plain TCP (or Unix) socket transport of Twisted's reactor, with
    the buffer attributes the direct-write path relies on (TLS wrappers are not)."""
    return (
        isinstance(transport, tcp.Connection)
        and isinstance(getattr(transport, "socket", None), socket.socket)
        and hasattr(transport, "_tempDataLen")
        and hasattr(transport, "dataBuffer")
    )


class WriteBatcher:
    """Gathers each connection's output while a reactor turn is busy and writes it once.

    A turn that handles one line (a chat at a moderate rate: each message arrives on its own)
    writes that line's output at once, one ``send`` per recipient and nothing to gather. From the
    second line of a turn on (a busy server: many lines ready at once), output is gathered
    instead: connections add themselves on their first delivery, and at the end of the turn (a
    ``callLater(0)``, which runs after the reactor has handled every ready socket) each gets one
    write of everything it was given, so a saturated server writes many messages per system
    call.
    """

    __slots__ = ("_dirty", "_schedule", "_scheduled", "gathering")

    def __init__(self, schedule: Callable[[Callable[[], None]], object]) -> None:
        self._schedule = schedule
        self._dirty: list[ChatProtocol] = []
        self._scheduled = False
        #: Whether output is being gathered until the end of this turn.
        self.gathering = False

    def gather(self) -> None:
        """Gather output from now until the end of this turn (a line has been handled)."""
        self.gathering = True
        if not self._scheduled:
            self._scheduled = True
            self._schedule(self.flush)

    def add(self, proto: ChatProtocol) -> None:
        """``proto`` has output to write at the end of this turn."""
        self._dirty.append(proto)

    def flush(self) -> None:
        """Write every pending connection's output now; the next turn starts writing at once."""
        self._scheduled = False
        self.gathering = False
        dirty, self._dirty = self._dirty, []
        for proto in dirty:
            proto.flush_output()


@implementer(IPushProducer)
class SendQueue:
    """Watches a connection's pending output through Twisted's producer/consumer machinery.

    Registered as a streaming producer on the transport: the transport pauses it when its write
    buffer is full (``bufferSize``, 64 KiB) and resumes it once drained. While paused, every byte
    written is counted; past the limit the client is disconnected.
    """

    __slots__ = ("paused", "pending")

    def __init__(self) -> None:
        self.paused = False
        self.pending = 0

    def pauseProducing(self) -> None:
        """The transport's buffer is full: start counting."""
        self.paused = True

    def resumeProducing(self) -> None:
        """The transport's buffer drained: nothing is pending beyond it."""
        self.paused = False
        self.pending = 0

    def stopProducing(self) -> None:
        """The connection is gone."""
        self.paused = False
        self.pending = 0


class ChatProtocol(LineReceiver):
    """One client connection: framing, decoding, limits, and delivery of server lines."""

    delimiter = b"\r\n"
    log = Logger()

    def __init__(
        self, chat: ChatCore, limits: Limits | None = None, batcher: WriteBatcher | None = None
    ) -> None:
        self.chat = chat
        self.limits = limits or Limits()
        self._idle_timeout = self.limits.idle_timeout
        self._batcher = batcher
        # Output delivered during this reactor turn, written by the batcher at its end.
        self._out: list[bytes] | None = None
        self.nickname: str | None = None
        self._splitter = LineSplitter(self.limits.max_line)
        self._closing = False
        self._counted = False
        # The transport with its full interface (ITCPTransport, or whatever the endpoint gave).
        self._transport: Any = None
        # The raw socket, for direct writes when the transport has nothing pending (TCP only).
        self._socket: socket.socket | None = None
        self._host = ""
        self._sendq = SendQueue()
        self._registered = False
        # Lines that arrived while an asynchronous check (a password) was running.
        self._held: deque[Item] | None = None
        self._strikes = 0
        self._bucket: TokenBucket | None = None
        self._flood_since: float | None = None
        self._flood_notice_at = float("-inf")
        self._flood_dropped_at = float("-inf")
        self._last_line = 0.0
        self._timer: IDelayedCall | None = None
        self.disconnect_cause: str | None = None
        #: The factory that admitted this connection (set by :meth:`ChatFactory.buildProtocol`).
        self.server: ChatFactory | None = None

    # -- connection events ------------------------------------------------------------------

    def connectionMade(self) -> None:
        """Admit or refuse the connection, then prompt for a nickname."""
        transport: Any = self.transport
        self._transport = transport
        peer = transport.getPeer()
        self._host = str(getattr(peer, "host", "") or "")
        server = self.server
        if server is not None:
            refusal = server.admit(self)
            if refusal is not None:
                self.disconnect_cause = refusal
                transport.write(wire.error(getattr(self.chat.texts, refusal)))
                self._closing = True
                transport.loseConnection()
                return
            self._counted = True
        if ITCPTransport.providedBy(transport):
            transport.setTcpNoDelay(True)
        if _direct_writes_possible(transport):
            self._socket = transport.socket
        transport.registerProducer(self._sendq, True)
        self._registered = True
        limits = self.limits
        now = self._now()
        self._last_line = now
        if limits.flood_rate > 0:
            self._bucket = TokenBucket(limits.flood_rate, limits.flood_burst, now)
        if limits.login_timeout > 0:
            self._timer = self._clock().callLater(limits.login_timeout, self._login_timed_out)
        self.chat.connected(self)

    def dataReceived(self, data: bytes) -> None:
        """Split ``data`` into lines and process them in order."""
        self._process(self._splitter.feed(data))

    def _process(self, items: Collection[Item]) -> None:
        """Each framed line (or the marker of a dropped over-long one), through every limit,
        decoded on its own and handed to the chat; a bad line gets a ``! `` line.

        This loop runs for every line a client sends, so it keeps to local variables and
        makes no call but the chat's for a good line.
        """
        line_received = self.chat.line_received
        batcher = self._batcher
        if (
            batcher is not None
            and not batcher.gathering
            and (len(items) > 1 or self.chat.room.has_notices)
        ):
            # Several lines at once (a busy connection), or join/leave notices that this line
            # will flush first: gather, so that each recipient gets everything in one write.
            batcher.gather()
        for item in items:
            if self._closing:
                return
            if self._held is not None:
                self._held.append(item)
                continue
            bucket = self._bucket
            if bucket is not None:
                now = self._now()
                if not bucket.take(now):
                    self._flooding(now)
                    continue
            if item is TOO_LONG:
                self._refuse_line(self.chat.texts.line_too_long.format(limit=self.limits.max_line))
                continue
            try:
                text = item.decode("utf-8")  # type: ignore[union-attr]  # bytes: not TOO_LONG
            except UnicodeDecodeError:
                self._refuse_line(self.chat.texts.bad_utf8)
                continue
            if not text.isprintable() and has_control_characters(text):  # the test, inlined
                if self.nickname is None:
                    self._refuse_line(self.chat.texts.nick_invalid)
                else:
                    self._refuse_line(self.chat.texts.control_chars)
                continue
            self._strikes = 0
            if self._idle_timeout and self.nickname is not None:
                self._last_line = self._now()
            line_received(self, text)
            if batcher is not None and not batcher.gathering:
                batcher.gather()

    def lineReceived(self, line: bytes) -> None:
        """One line without its terminator, as ``LineReceiver`` would deliver it."""
        self._process((line,))

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        """Leave the room (if logged in) and give back the connection's slot."""
        self._closing = True
        self._out = None
        self._cancel_timer()
        self._held = None
        if self._counted and self.server is not None:
            self._counted = False
            self.server.release(self)
        self.chat.disconnected(self)

    # -- limits -----------------------------------------------------------------------------

    def _refuse_line(self, text: str) -> None:
        """Answer a bad line with one ``! `` line; too many in a row end the connection."""
        self.deliver(wire.error(text))
        self._strikes += 1
        limit = self.limits.max_strikes
        if limit and self._strikes >= limit:
            self.disconnect("strikes", self.chat.texts.too_many_strikes)

    def _flooding(self, now: float) -> None:
        """A line over the flood budget was dropped.

        The client counts as over its budget from its first dropped line until a whole second
        passes without a drop (the lines the refilling bucket lets through meanwhile do not
        count); staying over it for ``flood_kick`` seconds ends the connection.
        """
        if self._flood_since is None or now - self._flood_dropped_at >= 1.0:
            self._flood_since = now  # a new episode
        self._flood_dropped_at = now
        if now - self._flood_since >= self.limits.flood_kick > 0:
            self.disconnect("flood", self.chat.texts.flood_kicked)
            return
        if now - self._flood_notice_at >= 1.0:
            self._flood_notice_at = now
            rate = f"{self.limits.flood_rate:g}"
            self.deliver(wire.error(self.chat.texts.flood_dropped.format(rate=rate)))

    def _login_timed_out(self) -> None:
        self._timer = None
        if self.nickname is None and not self._closing:
            self.disconnect("login_timeout", self.chat.texts.login_timeout)

    def _idle_check(self) -> None:
        self._timer = None
        if self._closing:
            return
        idle = self._now() - self._last_line
        timeout = self.limits.idle_timeout
        if idle >= timeout:
            self.disconnect("idle_timeout", self.chat.texts.idle_timeout)
        else:
            self._timer = self._clock().callLater(timeout - idle, self._idle_check)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None

    def disconnect(self, cause: str, text: str | None = None) -> None:
        """End the connection for ``cause``, after one ``! TEXT`` line if given."""
        if self._closing:
            return
        self.disconnect_cause = cause
        self.log.debug(
            "disconnecting {who} ({cause})", who=self.nickname or self._host, cause=cause
        )
        self.chat.disconnects.count(cause)
        if text is not None:
            self.deliver(wire.error(text))
        self.close()

    def _sendq_exceeded(self) -> None:
        self.disconnect_cause = "sendq"
        self.log.debug("disconnecting {who} (sendq)", who=self.nickname or self._host)
        self.chat.disconnects.count("sendq")
        try:
            self._transport.write(wire.error(self.chat.texts.sendq_exceeded))
        finally:
            self.abort()

    # -- ChatSession ------------------------------------------------------------------------

    def deliver(self, data: bytes) -> None:
        """Write or queue already-encoded server line(s); ignored once the connection is closing.

        Written at once, unless the :class:`WriteBatcher` (as the service runs) is gathering this
        turn's output: then everything delivered to this connection until the end of the turn
        is written together, one ``send`` however many messages arrived, so a busy room costs a
        system call per client per turn instead of one per message.
        """
        if self._closing:
            return
        out = self._out
        if out is not None:
            out.append(data)
            return
        batcher = self._batcher
        if batcher is None or not batcher.gathering:
            self._write(data)
        else:
            self._out = [data]
            batcher.add(self)

    def flush_output(self) -> None:
        """Write what :meth:`deliver` gathered (called by the batcher, and before closing)."""
        out = self._out
        if out is not None:
            self._out = None
            self._write(out[0] if len(out) == 1 else b"".join(out))

    def _write(self, data: bytes) -> None:
        """Write ``data`` now: straight to the socket when nothing is pending, else buffered.

        The fast path: when the TCP transport has nothing pending, the bytes go to the socket
        with one ``send`` (no writability registration, no ``epoll_ctl``). Whatever the kernel
        does not take, and everything while output is pending (so the order stays exact), goes
        through Twisted's buffered ``write``, which also counts towards the send queue.
        """
        transport = self._transport
        sock = self._socket
        if sock is not None and not transport._tempDataLen and not transport.dataBuffer:
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # let Twisted's own write path notice and report the failure
            if sent == len(data):
                return
            data = data[sent:]
        transport.write(data)
        sendq = self._sendq
        if sendq.paused:
            sendq.pending += len(data)
            if sendq.pending + self._transport_buffer() > self.limits.sendq:
                self._sendq_exceeded()

    def _transport_buffer(self) -> int:
        return int(getattr(self._transport, "bufferSize", 0))

    def sendLine(self, line: bytes) -> None:
        """Send one server line (``line`` without terminator), as ``LineReceiver`` does."""
        self.deliver(line + self.delimiter)

    def close(self) -> None:
        """Close after flushing what was delivered; later input and output are dropped."""
        if not self._closing:
            self.flush_output()
            self._closing = True
            # A registered producer keeps a TLS transport from starting its shutdown.
            if self._registered:
                self._registered = False
                self._transport.unregisterProducer()
            self._transport.loseConnection()

    def abort(self) -> None:
        """Drop the connection at once, discarding pending output."""
        self._closing = True
        self._out = None
        self._transport.abortConnection()

    @property
    def closing(self) -> bool:
        """Whether the connection is closing or closed."""
        return self._closing

    @property
    def host(self) -> str:
        """The client's IP address (empty for a Unix socket)."""
        return self._host

    @property
    def peer(self) -> IAddress:
        """The client's address."""
        peer: IAddress = self._transport.getPeer()
        return peer

    def logged_in(self, nickname: str) -> None:
        """The chat accepted ``nickname``: stop the login timer, start the idle one.

        The flood budget starts afresh: nickname attempts are not messages or commands, so a
        client that has just logged in may send a whole burst.
        """
        self.nickname = nickname
        self._cancel_timer()
        if self._bucket is not None:
            limits = self.limits
            self._bucket = TokenBucket(limits.flood_rate, limits.flood_burst, self._now())
            self._flood_since = None
        timeout = self.limits.idle_timeout
        if timeout > 0:
            self._last_line = self._now()
            self._timer = self._clock().callLater(timeout, self._idle_check)

    def use_limits(self, limits: Limits) -> None:
        """Apply ``limits`` (a configuration reload) to this open connection.

        The flood budget takes the new rate and burst at once (on or off); the send queue,
        strikes and flood-kick limits are read where they apply. A login timer already running
        keeps its time; the idle timeout is re-armed with the new value (from now, if it was off).
        """
        old, self.limits = self.limits, limits
        self._idle_timeout = limits.idle_timeout
        if limits.flood_rate <= 0:
            self._bucket = None
        elif self._bucket is None:
            self._bucket = TokenBucket(limits.flood_rate, limits.flood_burst, self._now())
        else:
            self._bucket.rate = limits.flood_rate
            self._bucket.burst = max(1, limits.flood_burst)
        if self.nickname is not None and limits.idle_timeout != old.idle_timeout:
            self._cancel_timer()
            if limits.idle_timeout > 0:
                if old.idle_timeout <= 0:
                    self._last_line = self._now()
                self._timer = self._clock().callLater(0, self._idle_check)

    def hold(self) -> None:
        """Stop reading and keep later lines until :meth:`release`."""
        if self._held is None:
            self._held = deque()
            self._transport.pauseProducing()

    def release(self) -> None:
        """Process the held lines, then read again."""
        held, self._held = self._held, None
        if held is None or self._closing:
            return
        self._transport.resumeProducing()
        self._process(held)

    # -- helpers ----------------------------------------------------------------------------

    def _clock(self) -> Any:
        return self.chat.clock

    def _now(self) -> float:
        return float(self.chat.clock.seconds())


class ChatFactory(protocol.ServerFactory):
    """Builds a :class:`ChatProtocol` per connection; owns the one :class:`ChatCore`.

    It counts connections (``--max-clients``, ``--max-per-ip``), keeps the set of open ones for
    a graceful shutdown, and counts disconnects by cause (``stats``).
    """

    noisy = False
    log = Logger()

    def __init__(
        self, chat: ChatCore, limits: Limits | None = None, batch_writes: bool = False
    ) -> None:
        self.chat = chat
        self.limits = limits or Limits()
        clock = chat.clock
        self.batcher = WriteBatcher(lambda f: clock.callLater(0, f)) if batch_writes else None
        self.counter = ConnectionCounter(
            self.limits.max_clients, self.limits.max_per_ip, list(self.limits.exempt)
        )
        self.connections: set[ChatProtocol] = set()
        self.stats: Counter[str] = Counter()
        self.shutting_down = False
        self._all_closed: list[defer.Deferred[None]] = []

    def buildProtocol(self, addr: Any) -> ChatProtocol:
        """A protocol bound to this server's chat and limits."""
        proto = ChatProtocol(self.chat, self.limits, self.batcher)
        proto.factory = self
        proto.server = self
        return proto

    def admit(self, proto: ChatProtocol) -> str | None:
        """Count a new connection, or say why it is refused (a catalogue entry name)."""
        if self.shutting_down:
            return "shutting_down"
        reason = self.counter.refuse_reason(proto.host or None)
        if reason is not None:
            self.stats[f"refused_{reason}"] += 1
            self.chat.refusals.count(reason)
            return "server_full" if reason == "server_full" else "too_many_from_ip"
        self.counter.opened(proto.host or None)
        self.connections.add(proto)
        return None

    def use_limits(self, limits: Limits) -> None:
        """Apply ``limits`` (a configuration reload) to new and open connections alike."""
        self.limits = limits
        self.counter.configure(limits.max_clients, limits.max_per_ip, list(limits.exempt))
        for proto in list(self.connections):
            proto.use_limits(limits)

    def release(self, proto: ChatProtocol) -> None:
        """A connection counted by :meth:`admit` is gone."""
        self.counter.closed(proto.host or None)
        self.connections.discard(proto)
        self.stats[proto.disconnect_cause or "client"] += 1
        if not self.connections:
            waiters, self._all_closed = self._all_closed, []
            for waiter in waiters:
                waiter.callback(None)

    def shutdown(self, timeout: float) -> defer.Deferred[None]:
        """Tell every connection the server is shutting down, close them, and fire when all
        are gone (connections still open after ``timeout`` seconds are aborted)."""
        self.shutting_down = True
        self.chat.room.flush_notices()
        notice = wire.notice(self.chat.texts.shutting_down)
        for proto in list(self.connections):
            proto.deliver(notice)
            proto.disconnect_cause = "shutdown"
            proto.close()
        if not self.connections:
            return defer.succeed(None)
        done: defer.Deferred[None] = defer.Deferred()
        self._all_closed.append(done)
        clock = self.chat.clock

        def force() -> None:
            for proto in list(self.connections):
                proto.abort()

        call = clock.callLater(timeout, force)

        def finished(result: None) -> None:
            if call.active():
                call.cancel()

        done.addCallback(finished)
        return done
