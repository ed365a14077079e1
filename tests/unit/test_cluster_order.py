"""Unit tests of one order per room (issue 15, "Cluster mode"): :class:`RoomOrder` alone, and a
:class:`~twisted_chat.cluster.room.ClusterRoom` whose users' messages reach its own members when
their envelope comes back from Redis (here, an in-memory link that the test echoes by hand).

End to end, three real nodes show one order: tests/e2e/test_cluster_history.py.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fake_link import cluster_chat
from tests.support.fakes import Clients, FakeSession, tcp_factory
from tests.support.history import MemoryHistoryStorage
from twisted_chat.cluster import envelope
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import PublicMessage
from twisted_chat.cluster.order import ECHO_TIMEOUT, Held, RoomOrder
from twisted_chat.events import Public


def public(text: str) -> Public:
    return Public(f"id-{text}", 1, "general", "ana", text)


class RoomOrderTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.delivered: list[str] = []
        self.order = RoomOrder(self.deliver, self.clock)
        self.sender = FakeSession()

    def deliver(self, held: list[Held]) -> None:
        self.delivered += [event.text for event, _, _ in held]

    def hold(self, *texts: str, channel: str = "c") -> None:
        for text in texts:
            self.order.hold(channel, public(text), self.sender)

    def test_delivered_when_the_envelope_comes_back(self) -> None:
        self.hold("uno", "dos")
        self.order.published("c", "E1", 2)
        self.assertEqual(self.delivered, [])
        self.order.echoed("c", "E1")
        self.assertEqual(self.delivered, ["uno", "dos"])
        self.assertFalse(self.order)

    def test_envelopes_in_turn(self) -> None:
        self.hold("uno")
        self.order.published("c", "E1", 1)
        self.hold("dos")
        self.order.published("c", "E2", 1)
        self.order.echoed("c", "E1")
        self.assertEqual(self.delivered, ["uno"])
        self.order.echoed("c", "E2")
        self.assertEqual(self.delivered, ["uno", "dos"])

    def test_a_lost_envelope_goes_out_with_the_next_one_back(self) -> None:
        self.hold("uno")
        self.order.published("c", "E1", 1)
        self.hold("dos")
        self.order.published("c", "E2", 1)
        self.order.echoed("c", "E2")  # E1 never came back (subscribed too late)
        self.assertEqual(self.delivered, ["uno", "dos"])
        self.order.echoed("c", "E1")  # late: nothing more
        self.assertEqual(self.delivered, ["uno", "dos"])

    def test_not_published_is_delivered_at_once(self) -> None:
        self.hold("uno")
        self.order.published("c", None, 1)
        self.assertEqual(self.delivered, ["uno"])

    def test_the_link_down_delivers_everything_in_order(self) -> None:
        self.hold("uno")
        self.order.published("c", "E1", 1)
        self.hold("dos")  # not published yet
        self.order.release_all()
        self.assertEqual(self.delivered, ["uno", "dos"])
        self.order.published("c", None, 1)  # the outbox dropping it: nothing more
        self.assertEqual(self.delivered, ["uno", "dos"])

    def test_an_envelope_that_never_comes_back_is_given_up(self) -> None:
        self.hold("uno")
        self.order.published("c", "E1", 1)
        self.clock.advance(ECHO_TIMEOUT / 2)
        self.hold("dos")
        self.order.published("c", "E2", 1)
        self.clock.advance(ECHO_TIMEOUT / 2)
        self.assertEqual(self.delivered, ["uno"])
        self.clock.advance(ECHO_TIMEOUT / 2)
        self.assertEqual(self.delivered, ["uno", "dos"])
        self.assertFalse(self.clock.getDelayedCalls())

    def test_channels_apart(self) -> None:
        self.hold("uno", channel="a")
        self.hold("dos", channel="b")
        self.order.published("a", "A1", 1)
        self.order.published("b", "B1", 1)
        self.order.echoed("b", "B1")
        self.assertEqual(self.delivered, ["dos"])
        self.order.echoed("a", "A1")
        self.assertEqual(self.delivered, ["dos", "uno"])


class ClusterRoomOrderTests(SynchronousTestCase):
    """A node with ana and bea here and bob on n2: what ana says reaches bea in Redis's order."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.parts, self.room, self.link = cluster_chat(self.clock)
        self.clients = Clients()
        factory = tcp_factory(self.parts)
        self.room.membership.start()
        self.link.answers["claim"] = 1
        self.link.connect()
        self.ana, self.bea = self.clients.connect(factory), self.clients.connect(factory)
        self.ana.send("ana\n")
        self.bea.send("bea\n")
        self.room.membership.changed(self.room.presence.snapshot("n2", "n2/x", 1, {"bob": "Bob"}))
        self.clock.advance(0)
        self.link.published.clear()
        self.clients.drain()

    def tearDown(self) -> None:
        self.room.membership.stop()

    def echo(self) -> None:
        """Redis sends this node's envelopes back on the channels it listens to."""
        published, self.link.published = self.link.published, []
        for channel, message in published:
            if channel in self.link.channels:
                self.link.on_message(channel, envelope.encode(message.origin, message.events))

    def test_a_message_here_waits_for_redis(self) -> None:
        self.ana.send("hola\n")
        self.clock.advance(0)
        self.assertEqual(self.bea.received(), [])
        self.echo()
        self.assertEqual(self.bea.received(), ["<ana> hola"])
        self.assertEqual(self.ana.received(), [])

    def test_redis_order_wins(self) -> None:
        self.ana.send("uno\n")
        self.clock.advance(0)
        # Bob's message reached Redis first: it comes before ana's own envelope.
        bob = PublicMessage(Public("b1", 2, "general", "Bob", "antes"))
        self.link.on_message("t:room:general", envelope.encode(Origin("n2", "n2/x"), [bob]))
        self.echo()
        self.assertEqual(self.bea.received(), ["<Bob> antes", "<ana> uno"])

    def test_alone_in_the_room_no_wait(self) -> None:
        self.room.membership.changed(self.room.presence.snapshot("n2", "n2/x", 2, {}))
        self.clients.drain()
        self.ana.send("hola\n")
        self.assertEqual(self.bea.received(), ["<ana> hola"])
        self.clock.advance(0)
        self.assertEqual(self.link.published, [])

    def test_an_outage_delivers_what_waits(self) -> None:
        self.ana.send("uno\n")
        self.clock.advance(0)
        self.ana.send("dos\n")  # queued for this turn
        self.link.disconnect()
        self.assertEqual(self.bea.received(), ["<ana> uno", "<ana> dos"])
        self.ana.send("tres\n")  # alone now: at once
        self.assertEqual(self.bea.received(), ["<ana> tres"])

    def test_never_back_delivered_after_the_timeout(self) -> None:
        self.ana.send("hola\n")
        self.clock.advance(0)
        self.clock.advance(ECHO_TIMEOUT)
        said = [line for line in self.bea.received() if line.startswith("<")]
        self.assertEqual(said, ["<ana> hola"])
        self.assertEqual(self.room.order_given_up, 1)  # chat_cluster_order_given_up_total
        self.echo()  # too late: not again
        self.assertEqual([line for line in self.bea.received() if line.startswith("<")], [])


class LateJoinerTests(SynchronousTestCase):
    """A member who joins a room while a message of it waits for Redis gets it once: in the
    room's history (said before it joined), not live as well."""

    def test_a_login_while_a_message_is_held_gets_it_once(self) -> None:
        clock = Clock()
        parts, room, link = cluster_chat(clock, history=MemoryHistoryStorage())
        clients = Clients()
        factory = tcp_factory(parts)
        room.membership.start()
        link.answers["claim"] = 1
        link.connect()
        ana, bea = clients.connect(factory), clients.connect(factory)
        ana.send("ana\n")
        bea.send("bea\n")
        room.membership.changed(room.presence.snapshot("n2", "n2/x", 1, {"bob": "Bob"}))
        clock.advance(0)
        clients.drain()
        ana.send("hola\n")
        clock.advance(0)  # published, waiting to come back
        cora = clients.connect(factory)
        cora.send("cora\n")
        published, link.published = link.published, []
        for channel, message in published:
            if channel in link.channels:
                link.on_message(channel, envelope.encode(message.origin, message.events))
        self.assertIn("<ana> hola", bea.received())
        lines = cora.received()
        self.assertEqual([line for line in lines if "hola" in line], [lines[-1]])
        self.assertTrue(lines[-1].startswith("* [") and lines[-1].endswith("] <ana> hola"), lines)
        self.assertFalse(room._late)  # nothing held: forgotten
        room.membership.stop()
