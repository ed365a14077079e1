"""The room's gathered join/leave notices (login storms) and direct writes to the socket."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fakes import Client, Clients, tcp_factory
from twisted_chat.assembly import assemble
from twisted_chat.limits import Limits
from twisted_chat.notices import MAX_NOTICE_DELAY
from twisted_chat.text import SPANISH


class NoticeStormTests(SynchronousTestCase):
    """With batching on (as the service runs it), a login storm's notices are written together,
    one write per recipient, yet every recipient sees exactly the notices it would have seen."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.chat = assemble(
            SPANISH, self.clock, limits=Limits(flood_rate=0, max_strikes=0), gather_notices=True
        )
        self.factory = tcp_factory(self.chat)
        self.clients = Clients()

    def login(self, nick: str) -> Client:
        client = self.clients.connect(self.factory)
        client.send(nick + "\r\n")
        return client

    def test_storm_notices_arrive_after_the_tick_with_exact_content(self) -> None:
        old = self.login("old")
        self.clock.advance(MAX_NOTICE_DELAY)
        old.received()
        writes = old.transport.writes
        writes.clear()
        a, b, c = self.login("a"), self.login("b"), self.login("c")
        self.assertEqual(writes, [])  # nothing written to old yet: gathered
        self.assertEqual(a.received()[-1], "* Bienvenido, a. Escribe /ayuda para ver los comandos.")
        b.received()
        c.received()
        self.clock.advance(MAX_NOTICE_DELAY)
        joined = "{} se ha unido al chat."
        self.assertEqual(len(writes), 1)  # the three notices in one write, after the tick
        self.assertEqual(old.received(), [f"* {joined.format(n)}" for n in "abc"])
        self.assertEqual(a.received(), [f"* {joined.format(n)}" for n in "bc"])
        self.assertEqual(b.received(), [f"* {joined.format('c')}"])
        self.assertEqual(c.received(), [])

    def test_join_then_leave_in_one_tick(self) -> None:
        old = self.login("old")
        self.clock.advance(MAX_NOTICE_DELAY)
        old.received()
        a = self.login("a")
        a.protocol.connectionLost()
        b = self.login("b")
        self.clock.advance(MAX_NOTICE_DELAY)
        self.assertEqual(
            old.received(),
            ["* a se ha unido al chat.", "* a ha salido del chat.", "* b se ha unido al chat."],
        )
        self.assertEqual(b.received()[-1], "* Bienvenido, b. Escribe /ayuda para ver los comandos.")

    def test_pending_notices_go_before_any_message(self) -> None:
        old = self.login("old")
        self.clock.advance(MAX_NOTICE_DELAY)
        old.received()
        bob = self.login("bob")
        bob.send("hola\r\n")
        self.assertEqual(old.received(), ["* bob se ha unido al chat.", "<bob> hola"])
        bob.send("#old psst\r\n")
        self.assertEqual(old.received(), ["*bob* psst"])

    def test_each_recipient_gets_one_write_for_the_whole_storm(self) -> None:
        old = self.login("old")
        self.clock.advance(MAX_NOTICE_DELAY)
        old.received()
        writes = old.transport.writes
        writes.clear()
        for i in range(50):
            self.login(f"u{i}")
        self.clock.advance(MAX_NOTICE_DELAY)
        self.assertEqual(len(writes), 1)
        self.assertEqual(len(old.received()), 50)


class ImmediateNoticeTests(SynchronousTestCase):
    """Without batching (the default of ChatCore), notices are written at once."""

    def test_immediate(self) -> None:
        factory = tcp_factory(assemble(SPANISH, Clock(), limits=Limits(flood_rate=0)))
        clients = Clients()
        old = clients.connect(factory)
        old.send("old\r\n")
        old.received()
        clients.connect(factory).send("new\r\n")
        self.assertEqual(old.received(), ["* new se ha unido al chat."])


class PrivateLookalikeTests(SynchronousTestCase):
    """``#NICK`` matches case-insensitively, but a non-ASCII look-alike that only casefolds to a
    connected nickname (the long s, U+017F, casefolds to "s") is still an invalid nickname."""

    def test_long_s_is_not_s(self) -> None:
        factory = tcp_factory(assemble(SPANISH, Clock(), limits=Limits(flood_rate=0)))
        clients = Clients()
        s, ana = clients.connect(factory), clients.connect(factory)
        s.send("s\r\n")
        ana.send("ana\r\n")
        s.received()
        ana.received()
        ana.send("#\u017f hola\r\n")
        self.assertEqual(ana.received(), ["! Nickname no válido en el mensaje privado: \u017f"])
        self.assertEqual(s.received(), [])
        ana.send("#S hola\r\n")
        self.assertEqual(ana.received(), ["-> *s* hola"])
        self.assertEqual(s.received(), ["*ana* hola"])
