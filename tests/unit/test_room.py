"""The room's gathered join/leave notices (login storms) and direct writes to the socket."""

from __future__ import annotations

import itertools

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fakes import tcp_factory
from twisted_chat.assembly import assemble
from twisted_chat.limits import Limits
from twisted_chat.notices import MAX_NOTICE_DELAY
from twisted_chat.tcp import ChatProtocol, ChatTCPFactory
from twisted_chat.text import SPANISH


class Client:
    """A protocol on a StringTransport, with the lines it received."""

    _ports = itertools.count(50000)

    def __init__(self, factory: ChatTCPFactory) -> None:
        self.transport = StringTransport(
            peerAddress=IPv4Address("TCP", "127.0.0.1", next(self._ports))
        )
        self.protocol: ChatProtocol = factory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)

    def send(self, text: str) -> None:
        """Feed one line."""
        self.protocol.dataReceived(text.encode() + b"\r\n")

    def lines(self) -> list[str]:
        """Everything received since last time, as lines."""
        data = self.transport.value().decode()
        self.transport.clear()
        return [line for line in data.split("\r\n") if line]


class NoticeStormTests(SynchronousTestCase):
    """With batching on (as the service runs it), a login storm's notices are written together,
    one write per recipient, yet every recipient sees exactly the notices it would have seen."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.chat = assemble(
            SPANISH, self.clock, limits=Limits(flood_rate=0, max_strikes=0), gather_notices=True
        )
        self.factory = tcp_factory(self.chat)

    def login(self, nick: str) -> Client:
        client = Client(self.factory)
        client.send(nick)
        return client

    def test_storm_notices_arrive_after_the_tick_with_exact_content(self) -> None:
        old = self.login("old")
        self.clock.advance(MAX_NOTICE_DELAY)
        old.lines()
        writes: list[bytes] = []
        original = old.transport.write

        def counting_write(data: bytes) -> None:
            writes.append(data)
            original(data)

        old.transport.write = counting_write  # type: ignore[method-assign]
        a, b, c = self.login("a"), self.login("b"), self.login("c")
        self.assertEqual(writes, [])  # nothing written to old yet: gathered
        self.assertEqual(a.lines()[-1], "* Bienvenido, a. Escribe /ayuda para ver los comandos.")
        b.lines()
        c.lines()
        self.clock.advance(MAX_NOTICE_DELAY)
        joined = "{} se ha unido al chat."
        self.assertEqual(len(writes), 1)  # the three notices in one write, after the tick
        self.assertEqual(old.lines(), [f"* {joined.format(n)}" for n in "abc"])
        self.assertEqual(a.lines(), [f"* {joined.format(n)}" for n in "bc"])
        self.assertEqual(b.lines(), [f"* {joined.format('c')}"])
        self.assertEqual(c.lines(), [])

    def test_join_then_leave_in_one_tick(self) -> None:
        old = self.login("old")
        self.clock.advance(MAX_NOTICE_DELAY)
        old.lines()
        a = self.login("a")
        a.protocol.connectionLost()
        b = self.login("b")
        self.clock.advance(MAX_NOTICE_DELAY)
        self.assertEqual(
            old.lines(),
            ["* a se ha unido al chat.", "* a ha salido del chat.", "* b se ha unido al chat."],
        )
        self.assertEqual(b.lines()[-1], "* Bienvenido, b. Escribe /ayuda para ver los comandos.")

    def test_pending_notices_go_before_any_message(self) -> None:
        old = self.login("old")
        self.clock.advance(MAX_NOTICE_DELAY)
        old.lines()
        bob = self.login("bob")
        bob.send("hola")
        self.assertEqual(old.lines(), ["* bob se ha unido al chat.", "<bob> hola"])
        bob.send("#old psst")
        self.assertEqual(old.lines(), ["*bob* psst"])

    def test_each_recipient_gets_one_write_for_the_whole_storm(self) -> None:
        old = self.login("old")
        self.clock.advance(MAX_NOTICE_DELAY)
        old.lines()
        writes: list[bytes] = []
        original = old.transport.write

        def counting_write(data: bytes) -> None:
            writes.append(data)
            original(data)

        old.transport.write = counting_write  # type: ignore[method-assign]
        for i in range(50):
            self.login(f"u{i}")
        self.clock.advance(MAX_NOTICE_DELAY)
        self.assertEqual(len(writes), 1)
        self.assertEqual(len(old.lines()), 50)


class ImmediateNoticeTests(SynchronousTestCase):
    """Without batching (the default of ChatCore), notices are written at once."""

    def test_immediate(self) -> None:
        factory = tcp_factory(assemble(SPANISH, Clock(), limits=Limits(flood_rate=0)))
        old = Client(factory)
        old.send("old")
        old.lines()
        Client(factory).send("new")
        self.assertEqual(old.lines(), ["* new se ha unido al chat."])


class PrivateLookalikeTests(SynchronousTestCase):
    """``#NICK`` matches case-insensitively, but a non-ASCII look-alike that only casefolds to a
    connected nickname (the long s, U+017F, casefolds to "s") is still an invalid nickname."""

    def test_long_s_is_not_s(self) -> None:
        factory = tcp_factory(assemble(SPANISH, Clock(), limits=Limits(flood_rate=0)))
        s, ana = Client(factory), Client(factory)
        s.send("s")
        ana.send("ana")
        s.lines()
        ana.lines()
        ana.send("#\u017f hola")
        self.assertEqual(ana.lines(), ["! Nickname no válido en el mensaje privado: \u017f"])
        self.assertEqual(s.lines(), [])
        ana.send("#S hola")
        self.assertEqual(ana.lines(), ["-> *s* hola"])
        self.assertEqual(s.lines(), ["*ana* hola"])
