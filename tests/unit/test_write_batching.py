"""Output of a reactor turn: the first line's at once, later lines' gathered into one write.

The factory's :class:`~twisted_chat.server.WriteBatcher` as the service runs it, on a
:class:`~twisted.internet.task.Clock`: ``clock.advance(0)`` ends the turn.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.expected import joined
from tests.support.fakes import Client, Clients, tcp_factory
from twisted_chat.assembly import assemble
from twisted_chat.limits import Limits
from twisted_chat.notices import (
    MAX_NOTICE_DELAY,
    NOTICE_QUIET,
    NOTICE_SPACING_PER_USER,
    notice_delay,
)
from twisted_chat.text import SPANISH


class WriteBatchingTests(SynchronousTestCase):
    """Ordering and grouping of writes with batching on."""

    def setUp(self) -> None:
        self.clock = Clock()
        limits = Limits(flood_rate=0, max_strikes=0)
        chat = assemble(SPANISH, self.clock, limits=limits, gather_notices=True, batch_writes=True)
        self.factory = tcp_factory(chat)
        self.clients = Clients()
        self.ana, self.bob, self.eva = (self.login(n) for n in ("ana", "bob", "eva"))
        self.clock.advance(MAX_NOTICE_DELAY)  # join notices out
        self.clock.advance(0)
        for client in self.clients:
            client.received()
            client.transport.writes.clear()

    def login(self, nick: str) -> Client:
        client = self.clients.connect(self.factory)
        client.send(f"{nick}\r\n")
        self.clock.advance(0)
        return client

    def test_a_lone_line_is_written_at_once(self) -> None:
        """A turn that handles one line writes its output before the turn ends."""
        self.bob.send("hola\r\n")
        self.assertEqual(self.ana.received(), ["<bob> hola"])
        self.assertEqual(self.eva.received(), ["<bob> hola"])
        self.clock.advance(0)
        self.assertEqual(self.ana.transport.writes, [b"<bob> hola\r\n"])

    def test_lines_of_one_chunk_leave_in_one_write_at_the_end_of_the_turn(self) -> None:
        self.bob.send("uno\r\ndos\r\ntres\r\n")
        self.assertEqual(self.ana.transport.writes, [])
        self.clock.advance(0)
        self.assertEqual(self.ana.transport.writes, [b"<bob> uno\r\n<bob> dos\r\n<bob> tres\r\n"])
        self.assertEqual(self.bob.transport.writes, [])  # nothing to bob himself

    def test_a_second_line_in_the_same_turn_is_gathered_after_the_first(self) -> None:
        self.bob.send("uno\r\n")  # first line of the turn: out at once
        self.eva.send("dos\r\n")  # second: gathered
        self.bob.send("tres\r\n")
        self.assertEqual(self.ana.transport.writes, [b"<bob> uno\r\n"])
        self.clock.advance(0)
        self.assertEqual(self.ana.transport.writes[1:], [b"<eva> dos\r\n<bob> tres\r\n"])
        self.bob.send("cuatro\r\n")  # a new turn: at once again
        expected = ["<bob> uno", "<eva> dos", "<bob> tres", "<bob> cuatro"]
        self.assertEqual(self.ana.received(), expected)

    def test_private_messages_and_echoes_keep_their_order(self) -> None:
        self.bob.send("#ana uno\r\n#ana dos\r\n")
        self.eva.send("#ana tres\r\n")
        self.clock.advance(0)
        self.assertEqual(self.ana.received(), ["*bob* uno", "*bob* dos", "*eva* tres"])
        self.assertEqual(self.bob.received(), ["-> *ana* uno", "-> *ana* dos"])
        self.assertEqual(self.bob.transport.writes, [b"-> *ana* uno\r\n-> *ana* dos\r\n"])

    def test_closing_writes_what_was_gathered_first(self) -> None:
        self.bob.send("uno\r\n")
        self.eva.send("dos\r\n")
        self.ana.send("/salir\r\n")  # ana leaves in the same turn, before its end
        self.assertEqual(self.ana.received()[:2], ["<bob> uno", "<eva> dos"])
        self.assertTrue(self.ana.closing)

    def test_pending_notices_and_the_line_that_flushes_them_share_one_write(self) -> None:
        zoe = self.login("zoe")  # her join notice is pending
        zoe.received()
        self.bob.send("hola\r\n")
        self.clock.advance(0)
        both = f"{joined('zoe')}\r\n<bob> hola\r\n".encode()
        self.assertEqual(self.ana.transport.writes, [both])
        self.assertEqual(self.ana.received(), [joined("zoe"), "<bob> hola"])


class NoticeDelayTests(SynchronousTestCase):
    """When gathered join/leave notices go out: after a pause, or at a deadline in a storm."""

    def test_bounds(self) -> None:
        self.assertEqual(notice_delay(100, float("inf")), NOTICE_QUIET)
        self.assertEqual(notice_delay(1_000_000, 0.0), MAX_NOTICE_DELAY)

    def test_deadline_grows_with_the_room_and_counts_from_the_last_flush(self) -> None:
        self.assertAlmostEqual(notice_delay(1000, 0.0), 0.25)
        self.assertAlmostEqual(notice_delay(5000, 0.0), 1.25)
        self.assertAlmostEqual(notice_delay(5000, 1.0), 0.25)
        self.assertEqual(notice_delay(5000, 10.0), NOTICE_QUIET)


class NoticeTimingTests(SynchronousTestCase):
    """The notice timer of a gathering room, on a Clock."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        limits = Limits(flood_rate=0, max_strikes=0)
        chat = assemble(SPANISH, self.clock, limits=limits, gather_notices=True, batch_writes=True)
        self.factory = tcp_factory(chat)
        self.clients = Clients()
        self.ana = self.clients.connect(self.factory)
        self.ana.send("ana\r\n")
        self.clock.advance(1)
        self.ana.received()

    def join(self, nick: str) -> None:
        self.clients.connect(self.factory).send(f"{nick}\r\n")

    def joins_seen_by_ana(self) -> list[str]:
        return [line for line in self.ana.received() if line.endswith(" se ha unido al chat.")]

    def test_a_single_join_goes_out_after_the_quiet_delay(self) -> None:
        self.join("bob")
        self.clock.advance(NOTICE_QUIET * 0.9)
        self.assertEqual(self.joins_seen_by_ana(), [])
        self.clock.advance(NOTICE_QUIET * 0.2)
        self.assertEqual(self.joins_seen_by_ana(), [joined("bob")])

    def test_a_storm_in_a_big_room_is_written_once_soon_after_it_ends(self) -> None:
        for i in range(1000):  # a big room: 250 ms between flushes in a storm
            self.join(f"old{i}")
        self.clock.advance(10)
        self.ana.received()
        self.ana.transport.writes.clear()
        for i in range(20):  # a join every 10 ms for 200 ms
            self.join(f"u{i}")
            self.clock.advance(0.01)
        self.assertEqual(self.joins_seen_by_ana(), [])
        self.clock.advance(NOTICE_QUIET)
        self.assertEqual(len(self.joins_seen_by_ana()), 20)
        self.assertEqual(len(self.ana.transport.writes), 1)

    def test_a_storm_in_a_small_room_is_written_every_quiet_delay(self) -> None:
        for i in range(10):
            self.join(f"u{i}")
            self.clock.advance(0.01)
        self.assertEqual(len(self.joins_seen_by_ana()), 10)
        self.assertGreaterEqual(len(self.ana.transport.writes), 3)

    def test_a_storm_that_goes_on_is_flushed_at_its_deadline(self) -> None:
        for i in range(998):  # with ana and "first": a room of 1000, 250 ms between flushes
            self.join(f"old{i}")
        self.clock.advance(10)
        self.ana.received()
        self.join("first")
        self.clock.advance(NOTICE_QUIET * 1.5)
        self.assertEqual(len(self.joins_seen_by_ana()), 1)  # after a quiet spell: out at once
        previous_flush = self.clock.seconds()
        flushed_at = None
        for step in range(1, 41):  # a join every 10 ms for 400 ms: never a pause
            self.join(f"s{step}")
            self.clock.advance(0.01)
            if flushed_at is None and self.joins_seen_by_ana():
                flushed_at = self.clock.seconds()
        # Flushed at the deadline, 250 ms after the previous flush (within one 20 ms check and
        # this test's 10 ms steps): not before, and not never.
        self.assertIsNotNone(flushed_at, "a storm without pauses was never flushed")
        assert flushed_at is not None
        spacing = 1000 * NOTICE_SPACING_PER_USER
        self.assertGreaterEqual(flushed_at - previous_flush, spacing)
        self.assertLessEqual(flushed_at - previous_flush, spacing + NOTICE_QUIET + 0.01)
