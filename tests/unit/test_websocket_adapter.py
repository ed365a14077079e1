"""Unit tests of the WebSocket adapter (:mod:`twisted_chat.web.protocol`) behind the real site.

Each connection goes through Twisted's own HTTP channel, ``WebSocketResource`` and wsproto, as
in the server, on a ``StringTransport`` double that plays the socket's transport: like
``tcp.Connection`` it holds its protocol in ``protocol`` and hands it every byte read (or, for
:class:`WrappingTransport`, like TLS and the PROXY protocol's wrapper, in
``wrappedProtocol``). The client side is wsproto's client ``WSConnection``. Time is a
``Clock``; nothing here opens a socket.

What they pin down besides the chat itself: after the upgrade the socket hands its bytes to
the adapter, and Twisted's HTTP channel and the upgrade ``Request`` are freed at once (by
reference counting, no collector); the keepalive pings, the close handshake and the message
cap work on that path, and on the fallback path where the channel stays (a transport built in
a way the adapter does not recognise). If Twisted changes the objects these steps rely on,
these tests fail rather than the server quietly keeping more per connection.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Request
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.events import Request as Handshake

from tests.support.expected import BAD_UTF8, PROMPT, TOO_LONG, joined, left, welcome
from tests.support.fakes import EPOCH
from twisted_chat.assembly import assemble
from twisted_chat.limits import Limits
from twisted_chat.text import CATALOGUES
from twisted_chat.web.protocol import (
    MAX_MESSAGE,
    ChatWebSocket,
    Keepalive,
    bypass_http_channel,
    drop_client_handshake_wait,
)
from twisted_chat.web.resources import make_site

#: Seconds between keepalive pings in these tests.
PING = 30.0


class SocketTransport(StringTransport):
    """The socket's transport as ``tcp.Connection`` is to its protocol: it holds it in
    ``protocol`` and gives it every byte read."""

    def __init__(self, protocol: Any, peer: IPv4Address) -> None:
        super().__init__(peerAddress=peer)
        self.protocol = protocol

    def read(self, data: bytes) -> None:
        """``data`` arrives from the network."""
        self.protocol.dataReceived(data)

    def lose(self) -> None:
        """The connection is gone (a clean close)."""
        self.protocol.connectionLost(Failure(ConnectionDone()))


class WrappingTransport(StringTransport):
    """A wrapping transport (TLS's ``TLSMemoryBIOProtocol``, the PROXY protocol's wrapper): it
    holds its protocol in ``wrappedProtocol``."""

    def __init__(self, protocol: Any, peer: IPv4Address) -> None:
        super().__init__(peerAddress=peer)
        self.wrappedProtocol = protocol

    def read(self, data: bytes) -> None:
        """``data`` arrives (decrypted, or after the PROXY header)."""
        self.wrappedProtocol.dataReceived(data)

    def lose(self) -> None:
        """The connection is gone (a clean close)."""
        self.wrappedProtocol.connectionLost(Failure(ConnectionDone()))


class OpaqueTransport(StringTransport):
    """A transport that holds its protocol where the adapter does not look: the HTTP channel
    must stay in the path as the relay of the socket's bytes."""

    def __init__(self, protocol: Any, peer: IPv4Address) -> None:
        super().__init__(peerAddress=peer)
        self._reader = protocol

    def read(self, data: bytes) -> None:
        """``data`` arrives."""
        self._reader.dataReceived(data)

    def lose(self) -> None:
        """The connection is gone (a clean close)."""
        self._reader.connectionLost(Failure(ConnectionDone()))


Transport = SocketTransport | WrappingTransport | OpaqueTransport


class Browser:
    """One WebSocket client (wsproto's client side) on a transport double of the site."""

    def __init__(self, site: Any, kind: type[Transport], port: int) -> None:
        address = IPv4Address("TCP", "192.0.2.7", port)
        http = site.buildProtocol(address)
        self.transport: Transport = kind(http, address)
        http.makeConnection(self.transport)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.accepted = False
        self.pings: list[bytes] = []
        self.close_code: int | None = None
        self.transport.read(self.ws.send(Handshake(host="127.0.0.1", target="/ws")))

    def send(self, event: Event) -> None:
        """Send one client event (masked, as a client must)."""
        self.transport.read(self.ws.send(event))

    def say(self, text: str) -> None:
        """One text message."""
        self.send(TextMessage(text))

    def events(self) -> list[Event]:
        """What the server wrote since the last call, as client events (pings kept apart)."""
        data = self.transport.value()
        self.transport.clear()
        self.ws.receive_data(data)
        found: list[Event] = []
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.accepted = True
            elif isinstance(event, Ping):
                self.pings.append(bytes(event.payload))
            else:
                if isinstance(event, CloseConnection):
                    self.close_code = event.code
                found.append(event)
        return found

    def lines(self) -> list[str]:
        """The text messages the server wrote since the last call (each one whole)."""
        lines = []
        for event in self.events():
            if isinstance(event, TextMessage):
                assert event.message_finished
                lines.append(event.data)
        return lines


class AdapterTestCase(SynchronousTestCase):
    """Base: a chat on a ``Clock`` and its web site, whose HTTP timers use the same clock."""

    limits = Limits(flood_rate=0)

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(EPOCH.timestamp())
        self.parts = assemble(CATALOGUES["es"], self.clock, limits=self.limits)
        self.site: Any = make_site(
            self.parts.server, self.parts.frames, self.parts.language, ping_interval=PING
        )
        self.site.reactor = self.clock
        self.ports = iter(range(40000, 41000))

    def open(self, kind: type[Transport] = SocketTransport) -> Browser:
        """A WebSocket through the site, upgraded, at the nickname prompt (prompt read)."""
        browser = Browser(self.site, kind, next(self.ports))
        self.assertEqual(browser.lines(), [PROMPT])
        self.assertTrue(browser.accepted)
        return browser

    def login(self, nick: str, kind: type[Transport] = SocketTransport) -> Browser:
        """A WebSocket logged in as ``nick`` (welcome lines read)."""
        browser = self.open(kind)
        browser.say(nick)
        self.assertEqual(browser.lines(), [welcome(nick)])  # no login store: no visit line
        return browser

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass, a second at a time (timers set on the way fire on time)."""
        self.clock.pump([1.0] * int(seconds))

    def adapter(self, browser: Browser) -> ChatWebSocket:
        """The server's adapter of ``browser``'s connection."""
        for session in self.parts.server.connections:
            transport = session.transport
            if isinstance(transport, ChatWebSocket) and transport._transport is browser.transport:
                return transport
        raise AssertionError("no adapter for this connection")


class MessagesTests(AdapterTestCase):
    """Lines both ways, one text message each, on every kind of transport."""

    def check_chat(self, kind: type[Transport]) -> None:
        ana = self.login("ana", kind)
        bob = self.login("bob", kind)
        self.assertEqual(ana.lines(), [joined("bob")])
        bob.say("hola ana")
        self.assertEqual(ana.lines(), ["<bob> hola ana"])
        self.assertEqual(bob.lines(), [])
        ana.say("x" * 1025)
        self.assertEqual(ana.lines(), [TOO_LONG])
        ana.send(BytesMessage(b"\x00"))
        self.assertEqual(ana.lines(), [BAD_UTF8])

    def test_socket_transport(self) -> None:
        self.check_chat(SocketTransport)

    def test_wrapping_transport(self) -> None:
        self.check_chat(WrappingTransport)

    def test_opaque_transport(self) -> None:
        self.check_chat(OpaqueTransport)

    def test_the_send_queue_watch_is_the_sockets_producer(self) -> None:
        ana = self.login("ana")
        adapter = self.adapter(ana)
        assert adapter.session is not None
        self.assertIs(ana.transport.producer, adapter.session.sendq)
        self.assertTrue(ana.transport.streaming)


class HandOverTests(AdapterTestCase):
    """After the upgrade the socket's bytes go to the adapter; Twisted's HTTP side is freed."""

    def open_watched(self, kind: type[Transport]) -> tuple[Browser, list[Any]]:
        """A WebSocket, and what is left of its HTTP channel and upgrade request (``None``:
        freed) right after the upgrade, the cyclic garbage collector held off throughout (what
        is freed must be freed by reference counting alone, as soon as it is unused)."""
        watched: list[weakref.ref[Any]] = []

        class WatchedRequest(Request):
            def __init__(self, channel: Any, *args: Any, **kwargs: Any) -> None:
                super().__init__(channel, *args, **kwargs)
                watched.extend([weakref.ref(channel), weakref.ref(self)])

        self.site.requestFactory = WatchedRequest
        enabled = gc.isenabled()
        gc.disable()
        try:
            browser = self.open(kind)
            left_over = [ref() for ref in watched]
        finally:
            if enabled:
                gc.enable()
        self.assertEqual(len(left_over), 2)
        return browser, left_over

    def test_plain_socket(self) -> None:
        browser, left_over = self.open_watched(SocketTransport)
        assert isinstance(browser.transport, SocketTransport)
        self.assertIsInstance(browser.transport.protocol, ChatWebSocket)
        self.assertEqual(left_over, [None, None])

    def test_wrapping_transport(self) -> None:
        browser, left_over = self.open_watched(WrappingTransport)
        assert isinstance(browser.transport, WrappingTransport)
        self.assertIsInstance(browser.transport.wrappedProtocol, ChatWebSocket)
        self.assertEqual(left_over, [None, None])

    def test_unknown_transport_keeps_the_channel_as_relay(self) -> None:
        browser, (channel, _request) = self.open_watched(OpaqueTransport)
        self.assertIsNotNone(channel)
        self.assertEqual(channel.dataReceived, self.adapter(browser).dataReceived)

    def test_bypass_changes_nothing_it_does_not_recognise(self) -> None:
        class Channel:
            transport: Any = None

        channel = Channel()
        channel.transport = StringTransport()
        channel.transport.protocol = object()  # not a wrapper of this channel
        before = channel.transport.protocol
        self.assertFalse(bypass_http_channel(channel, object()))
        self.assertIs(channel.transport.protocol, before)

    def test_the_lost_connection_reaches_the_session_once(self) -> None:
        ana = self.login("ana")
        bob = self.login("bob")
        ana.lines()
        session = self.adapter(bob).session
        assert session is not None
        bob.transport.lose()
        self.assertTrue(session.closing)
        self.assertEqual(len(self.parts.room), 1)
        self.assertEqual(ana.lines(), [left("bob")])


class Wire:
    """The part of Twisted's wire protocol that :func:`drop_client_handshake_wait` reads."""

    def __init__(self) -> None:
        self._done: Deferred[None] = Deferred()


class HandshakeStateTests(AdapterTestCase):
    """:func:`drop_client_handshake_wait`: only the unfired wait of a server-side wire."""

    def test_an_upgraded_wire_has_no_wait(self) -> None:
        # Twisted's wire protocol makes _done before negotiationStarted, where it is dropped.
        adapter = self.adapter(self.open())
        self.assertIsNotNone(adapter._ws)
        self.assertFalse(hasattr(adapter._ws, "_done"))

    def test_the_unfired_wait_is_dropped(self) -> None:
        wire = Wire()
        self.assertTrue(drop_client_handshake_wait(wire))
        self.assertFalse(hasattr(wire, "_done"))
        self.assertFalse(drop_client_handshake_wait(wire))  # gone: nothing to do

    def test_a_fired_wait_is_kept(self) -> None:
        wire = Wire()
        wire._done.callback(None)
        self.assertFalse(drop_client_handshake_wait(wire))
        self.assertTrue(hasattr(wire, "_done"))


class KeepaliveTests(AdapterTestCase):
    """Pings every ``PING`` seconds; a client that has not answered one by the next is gone."""

    def test_answered_pings_keep_the_connection(self) -> None:
        ana = self.login("ana")
        for _ in range(3):
            self.wait(PING)
            self.assertEqual(ana.lines(), [])
            self.assertEqual(ana.pings, [b"keepalive"])
            ana.pings.clear()
            ana.send(Pong(b"keepalive"))
        self.assertFalse(ana.transport.disconnecting)

    def test_an_unanswered_ping_closes_with_policy_violation(self) -> None:
        ana = self.login("ana")
        self.wait(PING)
        self.assertEqual(ana.lines(), [])
        self.assertEqual(ana.pings, [b"keepalive"])  # and no pong
        self.wait(PING)
        lines = ana.lines()
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith("! "))
        self.assertEqual(ana.close_code, 1008)
        self.assertTrue(ana.transport.disconnecting)

    def test_the_client_closing_gets_the_close_reply(self) -> None:
        ana = self.login("ana")
        ana.send(CloseConnection(code=1000))
        events = ana.events()
        self.assertTrue(any(isinstance(e, CloseConnection) for e in events), events)
        self.assertEqual(ana.close_code, 1000)
        self.assertTrue(ana.transport.disconnecting)

    def test_the_server_closing_says_why(self) -> None:
        ana = self.login("ana")
        session = self.adapter(ana).session
        assert session is not None
        session.disconnect("strikes")
        ana.events()
        self.assertEqual(ana.close_code, 1008)
        self.assertTrue(ana.transport.disconnecting)


class Pinged:
    """A socket for :class:`Keepalive` alone: it records when it was visited."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.visits: list[float] = []

    def keepalive(self) -> None:
        self.visits.append(self.clock.seconds())


class KeepaliveTimerTests(SynchronousTestCase):
    """:class:`Keepalive`: one timer visits every socket once per interval, spread over it."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.keepalive = Keepalive(self.clock, 10.0)  # a slot visited every second

    def until(self, when: float) -> None:
        """Let time pass until ``when``, a quarter of a second at a time (exact in binary)."""
        while self.clock.seconds() < when:
            self.clock.advance(0.25)

    def test_each_socket_once_per_interval_the_first_time_within_one(self) -> None:
        sockets = []
        for opened in (0.0, 0.5, 3.0, 7.25):
            self.until(opened)
            socket = Pinged(self.clock)
            self.keepalive.add(socket)
            sockets.append((opened, socket))
        self.until(40.0)
        for opened, socket in sockets:
            first = socket.visits[0] - opened
            self.assertTrue(9.0 <= first <= 10.0, (opened, socket.visits))
            gaps = [b - a for a, b in zip(socket.visits, socket.visits[1:], strict=False)]
            self.assertEqual(gaps, [10.0] * len(gaps), socket.visits)
        # Sockets that opened at different times are visited at different times.
        self.assertEqual(len({round(s.visits[0] % 10.0, 1) for _o, s in sockets}), 3)

    def test_the_timer_runs_only_while_there_are_sockets(self) -> None:
        self.assertEqual(self.clock.getDelayedCalls(), [])
        one, two = Pinged(self.clock), Pinged(self.clock)
        slot_one = self.keepalive.add(one)
        self.clock.advance(2.5)
        slot_two = self.keepalive.add(two)
        self.assertEqual(len(self.keepalive), 2)
        self.keepalive.discard(one, slot_one)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.keepalive.discard(two, slot_two)
        self.assertEqual(len(self.keepalive), 0)
        self.assertEqual([c for c in self.clock.getDelayedCalls() if c.active()], [])
        self.keepalive.discard(two, slot_two)  # twice: nothing happens
        self.keepalive.add(one)  # and it starts again
        self.clock.pump([1.0] * 10)
        self.assertEqual(len(one.visits), 1)
        self.assertEqual(two.visits, [])

    def test_a_socket_that_leaves_while_visited(self) -> None:
        class Leaving(Pinged):
            def keepalive(self) -> None:
                super().keepalive()
                keepalive.discard(self, slot)

        keepalive = self.keepalive
        stays = Pinged(self.clock)
        leaving = Leaving(self.clock)
        keepalive.add(stays)
        slot = keepalive.add(leaving)
        self.clock.pump([1.0] * 30)
        self.assertEqual(len(leaving.visits), 1)
        self.assertEqual(len(stays.visits), 3)


class MessageCapTests(AdapterTestCase):
    """Past :data:`MAX_MESSAGE` bytes of one message the connection closes with 1009."""

    def check_cap(self, kind: type[Transport]) -> None:
        ana = self.login("ana", kind)
        size = MAX_MESSAGE + 1000  # announced by a 16-bit length, masked with a zero key
        ana.transport.read(b"\x81\xfe" + size.to_bytes(2, "big") + b"\0\0\0\0")
        for _ in range(MAX_MESSAGE // 1000):
            ana.transport.read(b"x" * 1000)
        self.assertEqual(ana.events(), [])  # still under the cap: the message may go on
        ana.transport.read(b"x" * 1000)
        lines = ana.lines()
        self.assertEqual(lines[:1], [TOO_LONG])
        self.assertEqual(ana.close_code, 1009)
        self.assertTrue(ana.transport.disconnecting)

    def test_on_the_socket(self) -> None:
        self.check_cap(SocketTransport)

    def test_through_the_http_channel(self) -> None:
        self.check_cap(OpaqueTransport)


class SendQueueTests(AdapterTestCase):
    """Frames written while the socket's buffer is full count towards ``--sendq``."""

    limits = Limits(flood_rate=0, sendq=4096)

    def test_a_client_that_does_not_read_is_dropped(self) -> None:
        ana = self.login("ana")
        bob = self.login("bob")
        ana.lines()
        session = self.adapter(ana).session
        assert session is not None
        session.sendq.pauseProducing()  # the transport says its buffer is full
        for i in range(100):
            bob.say(f"{i:03d} " + "y" * 100)
        self.assertTrue(ana.transport.disconnected)  # aborted
        self.assertEqual(session.disconnect_cause, "sendq")
