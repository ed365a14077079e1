"""Unit tests of :class:`~twisted_chat.cluster.room.ClusterRoom` with Redis replaced by an
in-memory link: what the room sends, how it answers claims around start-up and outages, how
it applies (and refuses) what other nodes publish. No sockets, a ``Clock`` for time.

The same rules are tested end to end on a real ``redis-server`` in tests/e2e/test_cluster.py.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fake_link import cluster_chat
from tests.support.fakes import Clients, tcp_factory
from tests.support.logs import record_logs
from twisted_chat.assembly import assemble
from twisted_chat.cluster import envelope, scripts
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import (
    ClusterEvent,
    PrivateMessage,
    PublicMessage,
    UserJoined,
    UserLeft,
)
from twisted_chat.cluster.membership import STARTUP_GRACE
from twisted_chat.events import Private, Public
from twisted_chat.limits import Limits
from twisted_chat.room import Claim
from twisted_chat.server import ChatServer
from twisted_chat.tcp import ChatTCPFactory
from twisted_chat.text import SPANISH


class ClusterRoomTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.fatal: list[str] = []
        self.parts, self.room, self.link = cluster_chat(self.clock, self.fatal)
        self.chat = self.parts.core
        self.factory = tcp_factory(self.parts)
        self.clients = Clients()
        self.room.membership.start()

    def tearDown(self) -> None:
        self.room.membership.stop()

    def connect(self) -> Any:
        client = self.clients.connect(self.factory)
        client.received()
        return client

    def envelope_from(self, node: str, *events: ClusterEvent) -> str:
        return envelope.encode(Origin(node, f"{node}/x"), list(events))

    def test_a_login_before_registration_waits_for_it(self) -> None:
        self.link.answers["claim"] = 1
        client = self.connect()
        client.send("ana\n")
        self.assertEqual(client.received(), [])  # held: the node has not joined yet
        self.link.connect()
        self.assertEqual(
            client.received()[0], "* Bienvenido, ana. Escribe /ayuda para ver los comandos."
        )

    def test_a_login_during_an_outage_is_refused_at_once(self) -> None:
        self.clock.advance(STARTUP_GRACE)  # Redis never answered: an outage
        client = self.connect()
        client.send("ana\nbob\n")
        refusal = f"! {SPANISH.cluster_unavailable}"
        self.assertEqual(client.received(), [refusal, refusal])

    def test_claim_taken_elsewhere(self) -> None:
        self.link.connect()
        self.link.answers["claim"] = 0
        client = self.connect()
        client.send("ana\n")
        self.assertEqual(client.received(), [f"! {SPANISH.nick_taken.format(nick='ana')}"])
        self.link.answers["claim"] = 1
        client.send("bea\n")
        self.assertTrue(client.received()[0].startswith("* Bienvenido, bea"))

    def test_a_client_gone_during_its_claim_gives_it_back(self) -> None:
        self.link.connect()
        client = self.connect()
        client.send("ana\n")
        name, claimed = self.link.pending.pop()
        self.assertEqual(name, "claim")
        client.lose()
        claimed.callback(1)
        self.assertEqual([n for n, _ in self.link.ran][-1], "release")
        self.assertNotIn("ana", self.room)

    def test_one_envelope_per_turn_in_order(self) -> None:
        self.link.connect()
        self.link.answers["claim"] = 1
        ana, bea = self.connect(), self.connect()
        ana.send("ana\n")
        bea.send("bea\n")
        self.room.membership.changed(self.room.presence.snapshot("n2", "n2/x", 1, {"bob": "Bob"}))
        self.clock.advance(0)
        self.link.published.clear()
        ana.send("uno\ndos\n#bea tres\n")
        bea.send("cuatro\n")
        self.clock.advance(0)
        self.assertEqual(
            [e.to_wire()[:1] + e.to_wire()[4:] for e in self.link.events()],
            [["pub", "ana", "uno"], ["pub", "ana", "dos"], ["pub", "bea", "cuatro"]],
        )
        self.assertEqual(len(self.link.published), 1)  # one envelope for the whole turn

    def test_remote_users_are_listed_and_reached(self) -> None:
        self.link.connect()
        self.link.answers["claim"] = 1
        ana = self.connect()
        ana.send("ana\n")
        self.room.presence.snapshot("n2", "n2/x", 1, {"bob": "Bob"})
        ana.received()
        ana.send("/listar\n#BOB hola\n")
        self.clock.advance(0)
        self.assertEqual(ana.received(), ["* Conectados (2): ana, Bob", "-> *Bob* hola"])
        channel, message = self.link.published[-1]
        self.assertEqual(channel, "t:to:n2")
        [event] = message.events
        assert isinstance(event, PrivateMessage)
        private = event.event
        self.assertEqual((private.sender, private.recipient, private.text), ("ana", "Bob", "hola"))

    def test_remote_events_reach_local_users(self) -> None:
        self.link.connect()
        self.link.answers["claim"] = 1
        ana = self.connect()
        ana.send("ana\n")
        self.room.presence.snapshot("n2", "n2/x", 1, {})
        ana.received()
        self.link.on_message(
            "t:room",
            self.envelope_from(
                "n2",
                UserJoined("bob", "Bob", 2),
                PublicMessage(Public("m1", 1, "general", "Bob", "hola")),
                PublicMessage(Public("m2", 2, "general", "Bob", "<b>dos</b>")),
                PrivateMessage(Private("m3", 3, None, "Bob", "ana", "psst")),
                UserLeft("bob", 3),
            ),
        )
        self.clock.advance(1)
        self.assertEqual(
            ana.received(),
            [
                "* Bob se ha unido al chat.",
                "<Bob> hola",
                "<Bob> <b>dos</b>",
                "*Bob* psst",
                "* Bob ha salido del chat.",
            ],
        )

    def test_own_envelopes_are_ignored(self) -> None:
        self.link.connect()
        self.link.answers["claim"] = 1
        ana = self.connect()
        ana.send("ana\n")
        ana.received()
        own = Origin("n1", self.room.origin.instance)
        echo = PublicMessage(Public("m", 1, "general", "x", "eco"))
        self.link.on_message("t:room", envelope.encode(own, [echo]))
        self.assertEqual(ana.received(), [])

    def test_malformed_envelopes_are_dropped_and_logged_sparingly(self) -> None:
        logs = record_logs(self)
        self.link.connect()
        self.link.answers["claim"] = 1
        ana = self.connect()
        ana.send("ana\n")
        ana.received()
        for junk in ("{", "[]", '{"v": "2"}', '{"v":2,"node":"n2","inst":"i","events":[["pub"]]}'):
            self.link.on_message("t:room", junk)
        self.assertEqual(ana.received(), [])
        warnings = [e for e in logs.at(LogLevel.warn) if "malformed" in e["log_format"]]
        self.assertEqual(len(warnings), 1)
        self.assertEqual(logs.tracebacks(), [])

    def test_outage_hides_remote_users_and_publishes_nothing(self) -> None:
        self.link.connect()
        self.link.answers["claim"] = 1
        ana = self.connect()
        ana.send("ana\n")
        self.room.presence.snapshot("n2", "n2/x", 1, {"bob": "Bob"})
        self.link.disconnect()
        self.link.published.clear()
        ana.received()
        ana.send("/listar\nhola\n#bob x\n")
        self.clock.advance(0)
        self.assertEqual(
            ana.received(),
            ["* Conectados (1): ana", f"! {SPANISH.private_offline.format(nick='bob')}"],
        )
        self.assertEqual(self.link.events(), [])

    def test_lost_nickname_after_a_partition_disconnects_the_local_user(self) -> None:
        self.link.connect()
        self.link.answers["claim"] = 1
        ana = self.connect()
        ana.send("ana\n")
        ana.received()
        self.link.disconnect()
        self.link.answers["register"] = [1, ["ana"]]  # someone else holds it now
        self.link.connect()
        self.assertEqual(ana.received(), [f"! {SPANISH.nick_lost.format(nick='ana')}"])
        self.assertTrue(ana.closing)

    def test_node_id_of_a_live_node_is_fatal(self) -> None:
        self.link.answers["register"] = [0, "n1/other"]
        pttl = iter([3000, 3000])

        def command(*args: Any) -> defer.Deferred[Any]:
            if args[0] == "PTTL":
                return defer.succeed(next(pttl))
            return defer.succeed("n1/other")

        self.link.command = command  # type: ignore[method-assign]
        self.link.connect()
        self.clock.advance(2)
        self.assertEqual(len(self.fatal), 1)
        self.assertIn("node id 'n1'", self.fatal[0])

    def test_scripts_are_named(self) -> None:
        self.assertEqual(len({s.sha for s in scripts.ALL}), len(scripts.ALL))

    def test_local_room_claims_at_once(self) -> None:
        chat = assemble(SPANISH, self.clock).core
        self.assertEqual(self.successResultOf(chat.room.claim("ana")), Claim.OK)

    def test_an_envelope_of_private_lines_is_one_write_per_recipient(self) -> None:
        server = ChatServer(self.chat, Limits(flood_rate=0, max_per_ip=0), batch_writes=True)
        assert server.batcher is not None
        self.room.attach(None, None, server.batcher.gather)
        self.factory = ChatTCPFactory(server, self.parts.lines)
        self.link.connect()
        self.link.answers["claim"] = 1
        ana = self.connect()
        ana.send("ana\n")
        self.clock.advance(1)
        ana.received()
        ana.transport.writes.clear()
        lines = [PrivateMessage(Private(f"m{i}", i, None, "Bob", "ana", str(i))) for i in range(50)]
        self.link.on_message("t:to:n1", self.envelope_from("n2", *lines))
        self.clock.advance(0)
        self.assertEqual(len(ana.transport.writes), 1)
        self.assertEqual(ana.received(), [f"*Bob* {i}" for i in range(50)])
