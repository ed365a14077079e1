"""One client's session, whatever carries it: the per-connection policy, shared by every transport.

A :class:`Session` is what the chat core sees of a connection (it implements
:class:`~twisted_chat.room.ChatSession`). It holds everything per connection that is policy and
not framing: admission by the server, strikes for bad lines, flood control, the login and idle
timers, the send-queue limit, and holding lines back while a password is checked. It reaches its
transport only through the small :class:`SessionTransport` interface (write encoded lines, close,
abort, pause, resume), so the TCP line protocol (:mod:`twisted_chat.tcp`) and the WebSocket
protocol (:mod:`twisted_chat.web`) are thin adapters over it, as ``twisted.words.service`` keeps
its protocols thin over one chat.

When output is written is the session's business (at once, or gathered until the end of a busy
reactor turn); how bytes reach the socket is the transport's: the TCP transport writes straight
to the socket when nothing is pending.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Sequence
from typing import Any, Protocol

from twisted.internet.interfaces import IDelayedCall, IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

from twisted_chat.chat import ChatCore
from twisted_chat.events import Event, Private, Renderer, Text
from twisted_chat.limits import Limits, TokenBucket
from twisted_chat.lines import TOO_LONG, LineTooLong, has_control_characters


class NotText:
    """Marker of a client message that is not text at all (a WebSocket binary message).

    It decodes like a line that is not valid UTF-8, so the per-line loop refuses it with no
    test of its own.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_TEXT"

    def decode(self, encoding: str = "utf-8") -> str:
        """Never text: raises ``UnicodeDecodeError``."""
        raise UnicodeDecodeError(encoding, b"", 0, 0, "not a text message")


#: The single :class:`NotText` instance: refused like a line that is not valid UTF-8.
NOT_TEXT = NotText()

#: What a transport hands to :meth:`Session.lines_received`: a line's bytes (without terminator),
#: or a marker for one that was refused before decoding.
Item = bytes | LineTooLong | NotText


class SessionTransport(Protocol):
    """What a :class:`Session` needs from the transport that carries it."""

    #: The transport's name in metrics and logs (``tcp``, ``websocket``).
    kind: str

    def write_lines(self, data: bytes) -> None:
        """Send ``data``: one or more events rendered by the session's renderer."""

    def close(self) -> None:
        """Close once what was written has gone out (a graceful close)."""

    def abort(self) -> None:
        """Drop the connection at once, discarding pending output."""

    def pause(self) -> None:
        """Stop reading from the client."""

    def resume(self) -> None:
        """Read from the client again."""


class Admission(Protocol):
    """The server that counts connections (implemented by
    :class:`~twisted_chat.server.ChatServer`, shared by every transport)."""

    def admit(self, session: Session) -> str | None:
        """Count a new connection, or say why it is refused (a catalogue entry name)."""

    def release(self, session: Session) -> None:
        """A connection counted by :meth:`admit` is gone."""


class Gathering(Protocol):
    """The server's output gatherer (a :class:`~twisted_chat.server.WriteBatcher`): while it
    is gathering, sessions keep their output and it calls :meth:`Session.flush_output` on each
    at the end of the reactor turn, so a busy turn costs one write per connection."""

    gathering: bool

    def gather(self) -> None:
        """Gather output from now until the end of this reactor turn."""

    def add(self, session: Session) -> None:
        """``session`` has output to write at the end of this turn."""


@implementer(IPushProducer)
class SendQueue:
    """Watches a connection's pending output through Twisted's producer/consumer machinery.

    Registered as a streaming producer on the socket's transport: the transport pauses it when
    its write buffer is full (``bufferSize``, 64 KiB) and resumes it once drained. While paused,
    every byte written is counted (:meth:`queued`); past the limit the client is disconnected.
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

    def queued(self, size: int, buffered: int, limit: int) -> bool:
        """``size`` more bytes went to a transport holding ``buffered``: whether that passes
        ``limit`` (only counted while the transport is full)."""
        if not self.paused:
            return False
        self.pending += size
        return self.pending + buffered > limit


class Session:
    """One client: limits, timers and state, between its transport and the chat core."""

    log = Logger()

    #: Whether a line (known not to be printable) holds a control character this transport
    #: refuses: any, but TAB (an IRC session accepts IRC's formatting codes and CTCP's
    #: delimiter, and checks where they are itself).
    refuses_controls: Callable[[str], bool] = staticmethod(has_control_characters)

    def __init__(
        self,
        chat: ChatCore,
        limits: Limits,
        transport: SessionTransport,
        host: str,
        renderer: Renderer,
        server: Admission | None = None,
        batcher: Gathering | None = None,
    ) -> None:
        self.chat = chat
        #: Where each good line goes: the chat core's ``line_received``, or another
        #: protocol's interpreter in front of it (IRC's, :mod:`twisted_chat.irc`).
        self.on_line: Callable[[Any, str], None] = chat.line_received
        self.limits = limits
        #: How this session's transport writes events.
        self.renderer = renderer
        self._render = renderer.render
        self._render_echo = renderer.render_echo
        #: The transport adapter carrying this session.
        self.transport = transport
        self._write_lines = transport.write_lines
        # Output delivered during this reactor turn, written by the batcher at its end.
        self._out: list[bytes] | None = None
        self._host = host
        self.server = server
        self._batcher = batcher
        self._idle_timeout = limits.idle_timeout
        self.nickname: str | None = None
        self._closing = False
        self._counted = False
        #: The send-queue watch; the transport registers it as its socket's producer.
        self.sendq = SendQueue()
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
        #: Why the user leaves, in its own words (an IRC ``QUIT``'s reason), if it said.
        self.quit_reason: str | None = None

    def use_renderer(self, renderer: Renderer) -> None:
        """Render this session's events with ``renderer`` from now on (once logged in, the
        room moves it to that renderer's group: :meth:`~twisted_chat.room.Room.regroup`)."""
        old = self.renderer
        self.renderer = renderer
        self._render = renderer.render
        self._render_echo = renderer.render_echo
        if self.nickname is not None and renderer is not old:
            self.chat.room.regroup(self, old)

    # -- connection events (called by the transport) ----------------------------------------

    def admit(self) -> bool:
        """Ask the server to count this connection; a refused one gets its ``! `` line and is
        closed (then ``False``: the transport sets nothing else up)."""
        server = self.server
        if server is None:
            return True
        refusal = server.admit(self)
        if refusal is None:
            self._counted = True
            return True
        self.disconnect_cause = refusal
        self._write_lines(self.renderer.render(self.chat.events.error(refusal)))
        self._set_closing()
        self.transport.close()
        return False

    def start(self) -> None:
        """The transport is ready: start the timers and the flood budget, prompt for a nickname."""
        limits = self.limits
        now = self._now()
        self._last_line = now
        if limits.flood_rate > 0:
            self._bucket = TokenBucket(limits.flood_rate, limits.flood_burst, now)
        if limits.login_timeout > 0:
            self._timer = self._clock().callLater(limits.login_timeout, self._login_timed_out)
        self.greet()

    def greet(self) -> None:
        """The first words of a new connection: the chat's nickname prompt (an IRC session
        says nothing, its client speaks first)."""
        self.chat.connected(self)

    # The per-line loop of every client, kept in one piece: each call it saved was measured in the
    # saturated fan-out benchmark (splitting it into steps costs a call per line).
    def lines_received(self, items: Collection[Item]) -> None:  # noqa: C901
        """Each framed line (or the marker of a refused one), through every limit, decoded on
        its own and handed to the chat; a bad line gets a ``! `` line.

        This loop runs for every line a client sends, so it keeps to local variables and
        makes no call but the chat's for a good line.
        """
        line_received = self.on_line
        refuses_controls = self.refuses_controls
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
                self._refuse_line(Text("line_too_long", limit=self.limits.max_line))
                continue
            try:
                text = item.decode("utf-8")  # type: ignore[union-attr]  # not TOO_LONG
            except UnicodeDecodeError:  # also NOT_TEXT
                self._refuse_line(Text("bad_utf8"))
                continue
            if not text.isprintable() and refuses_controls(text):
                if self.nickname is None:
                    self._refuse_line(Text("nick_invalid"))
                else:
                    self._refuse_line(Text("control_chars"))
                continue
            self._strikes = 0
            if self._idle_timeout and self.nickname is not None:
                self._last_line = self._now()
            line_received(self, text)
            if batcher is not None and not batcher.gathering:
                batcher.gather()

    def connection_lost(self) -> None:
        """The transport is gone: leave the room (if logged in), give back the slot."""
        self._set_closing()
        self._out = None
        self._cancel_timer()
        self._held = None
        # The chat first (it records the departure of a registered user), then the slot: the
        # last slot given back lets a shutdown go on and close the database.
        self.chat.disconnected(self)
        if self._counted and self.server is not None:
            self._counted = False
            self.server.release(self)

    # -- limits -----------------------------------------------------------------------------

    def _refuse_line(self, text: Text) -> None:
        """Answer a bad line with one error; too many in a row end the connection."""
        self.deliver(self.chat.events.error_of(text))
        self._strikes += 1
        limit = self.limits.max_strikes
        if limit and self._strikes >= limit:
            self.disconnect("strikes", Text("too_many_strikes"))

    def _flooding(self, now: float) -> None:
        """A line over the flood budget was dropped.

        The client counts as over its budget from its first dropped line until a whole second
        passes without a drop (the lines the refilling bucket lets through meanwhile do not
        count); staying over it for ``flood_kick`` seconds ends the connection.
        """
        self.chat.flood_dropped += 1
        if self._flood_since is None or now - self._flood_dropped_at >= 1.0:
            self._flood_since = now  # a new episode
        self._flood_dropped_at = now
        if now - self._flood_since >= self.limits.flood_kick > 0:
            self.disconnect("flood", Text("flood_kicked"))
            return
        if now - self._flood_notice_at >= 1.0:
            self._flood_notice_at = now
            self.deliver(
                self.chat.events.error("flood_dropped", rate=f"{self.limits.flood_rate:g}")
            )

    def _login_timed_out(self) -> None:
        self._timer = None
        if self.nickname is None and not self._closing:
            self.disconnect("login_timeout", Text("login_timeout"))

    def _idle_check(self) -> None:
        self._timer = None
        if self._closing:
            return
        idle = self._now() - self._last_line
        timeout = self.limits.idle_timeout
        if idle >= timeout:
            self.disconnect("idle_timeout", Text("idle_timeout"))
        else:
            self._timer = self._clock().callLater(timeout - idle, self._idle_check)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None

    def disconnect(self, cause: str, text: Text | None = None) -> None:
        """End the connection for ``cause``, after one error saying ``text`` if given."""
        if self._closing:
            return
        self.disconnect_cause = cause
        self.log.debug(
            "disconnecting {who} ({cause})", who=self.nickname or self._host, cause=cause
        )
        self.chat.disconnects.count(cause)
        if text is not None:
            self.deliver(self.chat.events.error_of(text))
        self.close()

    def sendq_exceeded(self) -> None:
        """The client's pending output passed ``--sendq``: say so (if it can still go out) and
        drop the connection (called by the transport's writer)."""
        if self._closing:
            return
        self.disconnect_cause = "sendq"
        self.log.debug("disconnecting {who} (sendq)", who=self.nickname or self._host)
        self.chat.disconnects.count("sendq")
        self._set_closing()
        self._out = None
        try:
            self._write_lines(self.renderer.render(self.chat.events.error("sendq_exceeded")))
        finally:
            self.transport.abort()

    # -- ChatSession ------------------------------------------------------------------------

    # deliver and echo repeat send's few lines rather than call it: they run for every
    # private message and reply, and the call showed in the private-message benchmark.
    def deliver(self, event: Event) -> None:
        """Send ``event``, rendered for this session's transport (see :meth:`send`)."""
        data = self._render(event)
        out = self._out
        if out is not None:
            out.append(data)
        elif not self._closing:
            batcher = self._batcher
            if batcher is None or not batcher.gathering:
                self._write_lines(data)
            else:
                self._out = [data]
                batcher.add(self)

    def deliver_all(self, events: Sequence[Event]) -> None:
        """Send ``events`` (the lines of one reply) together, in one write."""
        render = self.renderer.render
        self.send(b"".join([render(event) for event in events]))

    def echo(self, event: Private) -> None:
        """Send the sender's copy of its private message ``event`` (see :meth:`send`)."""
        data = self._render_echo(event)
        out = self._out
        if out is not None:
            out.append(data)
        elif not self._closing:
            batcher = self._batcher
            if batcher is None or not batcher.gathering:
                self._write_lines(data)
            else:
                self._out = [data]
                batcher.add(self)

    def send(self, data: bytes) -> None:
        """Write already-rendered event(s), or keep them until the end of the turn; ignored
        once the connection is closing.

        Written at once, unless the server's :class:`Gathering` batcher is gathering this
        turn's output: then everything delivered to this session until the end of the turn is
        written together, one transport write however many messages arrived (for TCP one
        ``send``), so a busy room costs a write per client per turn instead of one per message.
        This runs once per recipient of every message: it makes no call in the gathering case.
        """
        out = self._out
        if out is not None:
            out.append(data)
            return
        if self._closing:
            return
        batcher = self._batcher
        if batcher is None or not batcher.gathering:
            self._write_lines(data)
        else:
            self._out = [data]
            batcher.add(self)

    def flush_output(self) -> None:
        """Write what :meth:`send` gathered (called by the batcher, and before closing)."""
        out = self._out
        if out is not None:
            self._out = None
            self._write_lines(out[0] if len(out) == 1 else b"".join(out))

    def _set_closing(self) -> None:
        """From now on, input and output are dropped."""
        self._closing = True

    def close(self) -> None:
        """Close after what was delivered has been written; later input and output are dropped."""
        if not self._closing:
            self.flush_output()
            self._set_closing()
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once, discarding pending output."""
        self._set_closing()
        self._out = None
        self.transport.abort()

    @property
    def closing(self) -> bool:
        """Whether the connection is closing or closed."""
        return self._closing

    @property
    def host(self) -> str:
        """The client's IP address (empty for a Unix socket)."""
        return self._host

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
            self.transport.pause()

    def release(self) -> None:
        """Process the held lines, then read again."""
        held, self._held = self._held, None
        if held is None or self._closing:
            return
        self.transport.resume()
        self.lines_received(held)

    # -- helpers ----------------------------------------------------------------------------

    def _clock(self) -> Any:
        return self.chat.clock

    def _now(self) -> float:
        return float(self.chat.clock.seconds())
