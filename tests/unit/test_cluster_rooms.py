"""Unit tests of rooms across the cluster (protocol v1.1's "Cluster mode"), on a
:class:`~twisted_chat.cluster.room.ClusterRoom` over the in-memory link: creation claims, moves
and their notices on other nodes, per-room channels, topics, dead nodes, and the merge after a
Redis outage. No sockets, a ``Clock`` for time.

The same rules are tested end to end on three nodes and a real Redis in
tests/e2e/test_cluster_rooms.py.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fake_link import cluster_chat, start_beside_n2
from tests.support.fakes import Clients, tcp_factory
from twisted_chat.assembly import RoomPlan
from twisted_chat.cluster import envelope
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import (
    Announcement,
    ClusterEvent,
    Kick,
    Mute,
    PublicMessage,
    RoomModes,
    RoomMoved,
    TopicSet,
    UserJoined,
    UserLeft,
)
from twisted_chat.cluster.presence import Presence, split_fields
from twisted_chat.events import Notice, Public, Text
from twisted_chat.metrics import ChatCollector

BEAT = 1.0  # a third of the fake cluster's TTL (3 s)


class ClusterRoomsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.parts, self.room, self.link = cluster_chat(self.clock, rooms=RoomPlan(max_rooms=4))
        self.factory = tcp_factory(self.parts)
        self.clients = Clients()
        start_beside_n2(self.room, self.link)
        self.instance = self.room.origin.instance
        self.version = 1

    def tearDown(self) -> None:
        self.room.membership.stop()

    def login(self, nickname: str) -> Any:
        client = self.clients.connect(self.factory)
        client.send(f"{nickname}\n")
        self.clock.advance(1)
        client.received()
        return client

    def claim_answer(self, won: bool, holder: tuple[str, str, str] | None = None) -> None:
        if won:
            self.link.answers["room_claim"] = [1, "ours"]
        else:
            assert holder is not None
            self.link.answers["room_claim"] = [0, json.dumps(list(holder))]

    def from_n2(self, *events: ClusterEvent, channel: str = "t:room") -> None:
        self.link.on_message(channel, envelope.encode(Origin("n2", "n2/x"), list(events)))
        self.clock.advance(1)

    def next_version(self) -> int:
        self.version += 1
        return self.version

    def remote_login(self, nick_key: str, nickname: str) -> None:
        self.from_n2(UserJoined(nick_key, nickname, self.next_version()))

    def remote_move(self, nick_key: str, name: str, operator: bool = False) -> None:
        self.from_n2(RoomMoved(nick_key, name, operator, self.next_version()))

    def drain(self, *clients: Any) -> None:
        self.clock.advance(1)
        for client in clients:
            client.received()

    # -- creation ---------------------------------------------------------------------------

    def test_a_new_room_is_claimed_in_redis_and_its_creator_is_the_operator(self) -> None:
        ana = self.login("ana")
        self.assertIn("t:room:general", self.link.channels)
        self.claim_answer(won=True)
        self.link.published.clear()
        ana.send("/unirse Juegos\n")
        self.clock.advance(0)
        self.assertEqual(ana.received(), ["* Sala Juegos (1): @ana"])
        _, args = [r for r in self.link.ran if r[0] == "room_claim"][-1]
        self.assertEqual(json.loads(args[0]), [self.instance, "ana", "Juegos"])
        self.assertEqual(args[2], "juegos")
        self.assertEqual(
            [r for r in self.link.ran if r[0] == "room_move"][-1][1][:3],
            [self.instance, "ana", "Juegos"],
        )
        [moved] = [e for e in self.link.events() if isinstance(e, RoomMoved)]
        self.assertEqual((moved.nick_key, moved.name, moved.operator), ("ana", "Juegos", True))
        # The room's channel instead of the default room's, which has nobody here any more.
        self.assertIn("t:room:juegos", self.link.channels)
        self.assertNotIn("t:room:general", self.link.channels)

    def test_a_second_creator_joins_the_first_ones_room(self) -> None:
        bea = self.login("bea")
        self.claim_answer(won=False, holder=("n2/x", "bob", "JUEGOS"))
        # Bob's login on n2 has not arrived here yet: n2's users are read from Redis first
        # (its users hash, where bob's room is not written yet either).
        self.link.replies["HGETALL"] = {"#i": "n2/x", "#v": "2", "bob": "Bob"}
        bea.send("/unirse juegos\n")
        self.clock.advance(0)
        self.assertIn(("HGETALL", "t:users:n2"), self.link.commands)
        # Bea, in the default room then, reads that bob logged in (as his login would say).
        self.assertEqual(
            bea.received(), ["* Bob se ha unido al chat.", "* Sala JUEGOS (2): bea, @Bob"]
        )
        juegos = self.room.find_room("juegos")
        assert juegos is not None
        self.assertEqual(juegos.operator, "bob")
        [moved] = [e for e in self.link.events() if isinstance(e, RoomMoved)]
        self.assertFalse(moved.operator)
        # Bob's own move arrives: one room, one operator, and nothing new to tell bea.
        self.version = 2
        self.remote_move("bob", "JUEGOS", operator=True)
        self.assertEqual(juegos.nicknames(), ["bea", "@Bob"])
        self.assertEqual(self.room.default.nicknames(), [])
        self.assertEqual(bea.received(), [])

    # -- a room entered here a moment after another node's user created it ------------------

    def test_a_room_claimed_elsewhere_lists_its_creator_and_publishes_at_once(self) -> None:
        # Bob, on n2, created juegos a moment ago: his claim is in Redis, his own move is on
        # its way. Bea enters juegos here before it arrives.
        bea = self.login("bea")
        self.remote_login("bob", "Bob")
        self.drain(bea)
        self.claim_answer(won=False, holder=("n2/x", "bob", "juegos"))
        self.link.published.clear()
        self.link.commands.clear()
        bea.send("/unirse juegos\n")
        self.clock.advance(0)
        self.assertNotIn("HGETALL", [c[0] for c in self.link.commands])  # bob is known
        self.assertEqual(bea.received(), ["* Sala juegos (2): bea, @Bob"])
        # What bea says now reaches bob: published on the room's channel (and shown to bea
        # when it comes back), not kept on this node.
        bea.send("hola\n")
        self.clock.advance(0)
        said = [
            e.event.text
            for c, m in self.link.published
            if c == "t:room:juegos"
            for e in m.events
            if isinstance(e, PublicMessage)
        ]
        self.assertEqual(said, ["hola"])
        # Bob's move arrives: he was listed already, nobody is told he entered.
        self.remote_move("bob", "juegos", operator=True)
        self.drain(bea)
        self.assertEqual(bea.received(), [])
        juegos = self.room.find_room("juegos")
        assert juegos is not None
        self.assertEqual(juegos.nicknames(), ["bea", "@Bob"])
        self.assertEqual(self.room.default.nicknames(), [])
        # Bob leaves the room: told, and juegos has members here alone again.
        self.remote_move("bob", "otra")
        self.assertEqual(bea.received(), ["* Bob ha salido de la sala juegos (sigue en el chat)."])

    def test_a_room_claimed_elsewhere_publishes_for_a_ttl_even_without_its_creator(self) -> None:
        # The claim's holder is not found in its node's users (its login is not written yet):
        # the room is entered without it, but what is said there is published for a TTL.
        bea = self.login("bea")
        self.link.replies["HGETALL"] = {"#i": "n2/x", "#v": "1"}
        self.claim_answer(won=False, holder=("n2/x", "bob", "juegos"))
        bea.send("/unirse juegos\n")
        self.clock.advance(0)
        self.assertEqual(bea.received(), ["* Sala juegos (1): bea"])
        self.link.published.clear()
        bea.send("uno\n")
        self.clock.advance(0)
        self.assertEqual([c for c, _ in self.link.published], ["t:room:juegos"])
        self.clock.advance(3.5)  # the TTL (3 s) is over: members here alone, not published
        bea.received()
        self.link.published.clear()
        bea.send("dos\n")
        self.clock.advance(0)
        self.assertEqual(self.link.published, [])
        self.assertEqual(bea.received(), [])  # the sender's own line is not echoed
        self.assertEqual(self.room.replication._unsettled, {})

    def test_a_claim_waits_until_this_node_listens_to_the_rooms_channel(self) -> None:
        # Whoever finds the claim held elsewhere may say something in the room at once: this
        # node is subscribed to the room's channel before it claims the room.
        ana = self.login("ana")
        self.link.confirm_later = True
        self.claim_answer(won=True)
        self.link.ran.clear()
        ana.send("/unirse juegos\n")
        self.clock.advance(0)
        self.assertIn("t:room:juegos", self.link.channels)
        self.assertNotIn("room_claim", self.link.scripts())
        self.assertEqual(ana.received(), [])
        self.link.confirming.pop("t:room:juegos").callback(None)
        self.assertEqual(self.link.scripts()[0], "room_claim")
        self.assertEqual(ana.received(), ["* Sala juegos (1): @ana"])
        self.assertIn("t:room:juegos", self.link.channels)
        # A claim lost and not used (the user left meanwhile) gives the channel up.
        bea = self.login("bea")
        bea.send("/unirse dados\n")
        self.clock.advance(0)
        self.assertIn("t:room:dados", self.link.channels)
        bea.lose()
        self.link.confirming.pop("t:room:dados").callback(None)
        self.assertNotIn("t:room:dados", self.link.channels)
        # A SUBSCRIBE unanswered for HOLD_TIMEOUT: the claim goes all the same.
        cy = self.login("cy")
        self.link.ran.clear()
        cy.send("/unirse mus\n")
        self.clock.advance(0.5)
        self.assertNotIn("room_claim", self.link.scripts())
        self.clock.advance(0.5)
        self.assertEqual(cy.received(), ["* Sala mus (1): @cy"])
        self.link.confirming.pop("t:room:mus").callback(None)  # late: changes nothing

    def test_no_node_hears_of_a_member_here_before_this_node_listens_to_its_room(self) -> None:
        ana = self.login("ana")
        self.remote_login("bob", "Bob")
        self.remote_move("bob", "juegos", operator=True)
        self.link.confirm_later = True
        self.link.published.clear()
        ana.send("/unirse juegos\n")
        self.clock.advance(0)
        self.assertEqual(ana.received()[-1], "* Sala juegos (2): ana, @Bob")
        # Her move waits for the SUBSCRIBE's answer: bob's node would publish to the room as
        # soon as it heard of her.
        self.assertEqual([e for e in self.link.events() if isinstance(e, RoomMoved)], [])
        ana.send("hola\n")
        self.clock.advance(0)
        self.assertEqual([c for c, _ in self.link.published], ["t:room:juegos"])  # her line
        self.link.confirming.pop("t:room:juegos").callback(None)
        self.clock.advance(0)
        [moved] = [e for e in self.link.events() if isinstance(e, RoomMoved)]
        self.assertEqual((moved.nick_key, moved.name), ("ana", "juegos"))
        # Unanswered, a subscription holds the events for HOLD_TIMEOUT at most.
        self.remote_login("cy", "Cy")
        self.remote_move("cy", "dados", operator=True)
        self.link.published.clear()
        ana.send("/unirse dados\n")
        self.clock.advance(0.5)
        self.assertIn("t:room:dados", self.link.confirming)
        self.assertEqual([e for e in self.link.events() if isinstance(e, RoomMoved)], [])
        self.clock.advance(0.5)
        [moved] = [e for e in self.link.events() if isinstance(e, RoomMoved)]
        self.assertEqual((moved.nick_key, moved.name), ("ana", "dados"))

    def test_a_room_claimed_by_this_nodes_user_is_not_published(self) -> None:
        ana, bea = self.login("ana"), self.login("bea")
        self.claim_answer(won=False, holder=(self.instance, "ana", "juegos"))
        self.link.answers["room_claim"] = [1, "ours"]
        ana.send("/unirse juegos\n")
        self.clock.advance(0)
        self.claim_answer(won=False, holder=(self.instance, "ana", "juegos"))
        bea.send("/unirse juegos\n")
        self.drain(ana, bea)
        self.link.published.clear()
        bea.send("hola\n")
        self.clock.advance(0)
        self.assertEqual(self.link.published, [])
        self.assertEqual(self.room.replication._unsettled, {})

    def test_a_claim_answered_after_the_user_left_is_given_back(self) -> None:
        ana = self.login("ana")
        ana.send("/unirse juegos\n")
        name, claimed = self.link.pending.pop()
        self.assertEqual(name, "room_claim")
        ana.lose()
        claimed.callback([1, "ours"])
        self.assertIsNone(self.room.find_room("juegos"))
        self.assertIsNone(self.room.default.operator)
        self.assertEqual(self.link.scripts()[-1], "room_release")
        self.assertEqual(self.room.replication._claims, {})
        # The room's channel, subscribed to ahead of the claim, is given up.
        self.assertNotIn("t:room:juegos", self.link.channels)

    def test_announcements_kicks_and_mutes_still_reach_every_room(self) -> None:
        ana, bea = self.login("ana"), self.login("bea")
        self.claim_answer(won=True)
        bea.send("/unirse juegos\n")
        self.drain(ana, bea)
        notice = Notice("n1", 1, None, Text("announcement", by="zoe", text="hola"))
        self.from_n2(Announcement(notice), Mute("bea", 0))
        self.assertEqual(len(ana.received()), 1)
        self.assertEqual(len(bea.received()), 1)
        self.from_n2(Kick("bea", "", "zoe"), channel="t:to:n1")
        self.assertTrue(bea.closing)

    def test_a_known_room_is_entered_without_a_claim(self) -> None:
        ana = self.login("ana")
        self.remote_login("bob", "Bob")
        self.remote_move("bob", "juegos", operator=True)
        ana.send("/unirse JUEGOS\n")
        self.clock.advance(0)
        self.assertNotIn("room_claim", self.link.scripts())
        self.assertEqual(ana.received()[-1], "* Sala juegos (2): ana, @Bob")

    def test_max_rooms_counts_the_rooms_of_other_nodes(self) -> None:
        ana = self.login("ana")
        self.remote_login("bob", "Bob")
        for name in ("a1", "a2", "a3"):
            self.remote_move("bob", name)  # each left empty behind is forgotten
        self.assertEqual([r.key for r in self.room.room_list()], ["a3", "general"])
        for index, nick in enumerate(("c1", "c2")):
            self.remote_login(nick, nick)
            self.remote_move(nick, f"b{index}")
        ana.received()
        ana.send("/unirse otra\n")
        self.clock.advance(0)
        self.assertEqual(ana.received()[0].split(" (")[0], "! No se pueden crear más salas")
        self.assertNotIn("room_claim", self.link.scripts())

    # -- members across nodes ---------------------------------------------------------------

    def test_remote_members_are_in_their_rooms_with_cluster_wide_counts(self) -> None:
        ana = self.login("ana")
        self.remote_login("bob", "Bob")
        self.remote_login("carol", "Carol")
        self.remote_move("bob", "juegos", operator=True)
        ana.received()
        ana.send("/salas\n/sala\n")
        self.assertEqual(
            ana.received(),
            [
                "* Salas (2): general (2), juegos (1)",
                "* Sala general (2): ana, Carol",
                "* La sala general no tiene tema.",
            ],
        )
        ana.send("/listar\n")
        self.assertEqual(ana.received(), ["* Conectados (3): ana, Bob, Carol"])

    def test_a_remote_switch_is_announced_in_both_rooms_here(self) -> None:
        ana, bea = self.login("ana"), self.login("bea")
        self.claim_answer(won=True)
        bea.send("/unirse juegos\n")
        self.remote_login("bob", "Bob")
        self.drain(ana, bea)
        self.remote_move("bob", "juegos")
        self.assertEqual(ana.received(), ["* Bob ha salido de la sala general (sigue en el chat)."])
        self.assertEqual(bea.received(), ["* Bob ha entrado en la sala juegos."])
        self.remote_move("bob", "general")
        self.assertEqual(ana.received(), ["* Bob ha entrado en la sala general."])
        self.assertEqual(bea.received(), ["* Bob ha salido de la sala juegos (sigue en el chat)."])

    def test_remote_logins_and_leaves_are_told_to_the_users_room_only(self) -> None:
        ana, bea = self.login("ana"), self.login("bea")
        self.claim_answer(won=True)
        bea.send("/unirse juegos\n")
        self.drain(ana, bea)
        self.remote_login("bob", "Bob")
        self.assertEqual(ana.received(), ["* Bob se ha unido al chat."])
        self.assertEqual(bea.received(), [])
        self.remote_move("bob", "juegos")
        self.drain(ana, bea)
        self.from_n2(UserLeft("bob", self.next_version()))
        self.assertEqual(ana.received(), [])
        self.assertEqual(bea.received(), ["* Bob ha salido del chat."])

    def test_a_snapshot_places_users_in_their_rooms_with_their_operators(self) -> None:
        ana = self.login("ana")
        flat = {
            "#i": "n3/z",
            "#v": "7",
            "dan": "Dan",
            "eve": "Eve",
            "#r:dan": "Dados",
            "#o:dados": "dan",
        }
        self.link.replies["HGETALL"] = flat
        self.link.answers["survey"].append(["n3", "n3/z", "7"])
        self.room.membership.fetch("n3")
        dados = self.room.find_room("dados")
        assert dados is not None
        self.assertEqual(dados.nicknames(), ["@Dan"])
        self.assertEqual(self.room.default.nicknames(), ["ana", "Eve"])
        self.clock.advance(1)
        self.assertEqual(ana.received(), ["* Eve se ha unido al chat."])  # Dan is in Dados

    def test_split_fields(self) -> None:
        users, rooms, operators = split_fields(
            {"ana": "Ana", "#r:ana": "juegos", "#o:juegos": "ana", "#x": "?"}
        )
        self.assertEqual(
            (users, rooms, operators), ({"ana": "Ana"}, {"ana": "juegos"}, {"juegos": "ana"})
        )

    def test_presence_reports_moves_and_operators(self) -> None:
        presence = Presence()
        presence.snapshot("n2", "n2/x", 1, {"bob": "Bob"})
        changes = presence.moved("n2", "n2/x", "bob", "Juegos", True, 2)
        self.assertEqual(
            [(p.nick_key, p.before, p.after) for p in changes.placed], [("bob", ("",), ("Juegos",))]
        )
        self.assertEqual(changes.operators, [("juegos", None, "bob")])
        changes = presence.left("n2", "n2/x", "bob", 3)
        self.assertEqual([(p.before, p.after) for p in changes.placed], [(("Juegos",), None)])
        self.assertEqual(changes.operators, [("juegos", "bob", None)])
        self.assertEqual(presence.moved("n2", "n2/x", "bob", "x", False, 5).stale, "n2")

    # -- public messages: one channel per room ----------------------------------------------

    def test_public_messages_go_to_the_rooms_channel_and_its_members(self) -> None:
        ana, bea = self.login("ana"), self.login("bea")
        self.claim_answer(won=True)
        bea.send("/unirse juegos\n")
        self.drain(ana, bea)
        self.link.published.clear()
        bea.send("hola\n")
        ana.send("adios\n")
        self.clock.advance(0)
        # Members on this node only: nobody else listens, nothing is published.
        self.assertEqual(self.link.published, [])
        self.remote_login("bob", "Bob")
        self.remote_move("bob", "juegos")
        self.remote_login("cy", "Cy")
        self.drain(ana, bea)
        bea.send("hola\n")
        ana.send("adios\n")
        self.clock.advance(0)
        self.assertEqual([c for c, _ in self.link.published], ["t:room:juegos", "t:room:general"])
        self.assertEqual(ana.received(), [])
        self.assertEqual(bea.received(), [])
        self.from_n2(
            PublicMessage(Public("m1", 1, "juegos", "Bob", "uno")),
            PublicMessage(Public("m2", 2, "juegos", "Bob", "dos")),
            channel="t:room:juegos",
        )
        self.assertEqual(bea.received(), ["<Bob> uno", "<Bob> dos"])
        self.assertEqual(ana.received(), [])
        self.assertEqual(self.room.room_envelopes, {"juegos": 1})

    def test_the_last_member_leaving_a_room_unsubscribes_and_gives_the_claim_back(self) -> None:
        ana = self.login("ana")
        self.claim_answer(won=True)
        ana.send("/unirse juegos\n")
        self.clock.advance(0)
        self.assertIn("t:room:juegos", self.link.channels)
        ana.send("/unirse general\n")
        self.clock.advance(0)
        self.assertNotIn("t:room:juegos", self.link.channels)
        self.assertIn("t:room:general", self.link.channels)
        self.assertIsNone(self.room.find_room("juegos"))
        release = [args for name, args in self.link.ran if name == "room_release"]
        self.assertEqual(release[-1][1:], ["juegos", self.instance, "1"])

    def test_a_room_whose_creator_left_first_forgets_its_topic_with_its_last_member(
        self,
    ) -> None:
        # Bob (node n2) created juegos, set its topic and left the chat (his node gave the
        # claim back, not the topic: ana is still in the room). When ana, the last member,
        # leaves, the room is gone "topic and all": this node forgets the topic in Redis
        # (unless someone claimed the name again meanwhile), or it stays there forever.
        ana = self.login("ana")
        self.claim_answer(won=False, holder=("n2/x", "bob", "juegos"))
        self.remote_login("bob", "Bob")
        self.remote_move("bob", "juegos", operator=True)
        ana.send("/unirse juegos\n")
        self.from_n2(TopicSet("juegos", "ajedrez", "Bob"))
        self.from_n2(UserLeft("bob", self.next_version()))
        self.link.ran.clear()
        ana.send("/unirse general\n")
        self.clock.advance(0)
        self.assertIsNone(self.room.find_room("juegos"))
        release = [args for name, args in self.link.ran if name == "room_release"]
        self.assertEqual(release, [["", "juegos", self.instance, "1"]])

    def test_a_room_emptied_here_gives_back_its_remote_creators_claim(self) -> None:
        # Bob (n2) created juegos and moved on, still in the chat; ana, its last member, leaves
        # it: the claim of bob goes too (named in the release), so that her next /unirse
        # juegos creates a room of her own.
        ana = self.login("ana")
        self.claim_answer(won=False, holder=("n2/x", "bob", "juegos"))
        self.remote_login("bob", "Bob")
        self.remote_move("bob", "juegos", operator=True)
        ana.send("/unirse juegos\n")
        self.remote_move("bob", "general")
        self.link.ran.clear()
        ana.send("/unirse general\n")
        self.clock.advance(0)
        release = [args for name, args in self.link.ran if name == "room_release"]
        self.assertEqual(release, [["", "juegos", self.instance, "1", "bob"]])

    def test_a_room_vanishing_here_because_of_another_nodes_user_forgets_it_too(self) -> None:
        # The last member was another node's user: that node forgets the topic, and so does
        # this one (when the last members leave on two nodes at once, each sees the other's
        # leave last).
        self.remote_login("bob", "Bob")
        self.remote_move("bob", "juegos", operator=True)
        self.link.ran.clear()
        self.remote_move("bob", "general")
        self.assertIsNone(self.room.find_room("juegos"))
        release = [args for name, args in self.link.ran if name == "room_release"]
        self.assertEqual(release, [["", "juegos", self.instance, "1", "bob"]])

    def test_the_claim_is_kept_alive_by_the_heartbeat(self) -> None:
        ana = self.login("ana")
        self.claim_answer(won=True)
        ana.send("/unirse juegos\n")
        self.clock.advance(BEAT)
        refresh = [args for name, args in self.link.ran if name == "room_refresh"]
        self.assertEqual(len(refresh[-1]), 2)
        ana.lose()  # the operator left the chat: the claim goes
        release = [args for name, args in self.link.ran if name == "room_release"]
        self.assertEqual(release[-1][1:3], ["juegos", self.instance])

    def test_metric_of_received_room_envelopes(self) -> None:
        self.login("ana")
        self.from_n2(
            PublicMessage(Public("m1", 1, "general", "Bob", "uno")), channel="t:room:general"
        )
        self.from_n2(PublicMessage(Public("m2", 1, "nada", "Bob", "uno")), channel="t:room:nada")
        metrics = {m.name: m for m in ChatCollector(self.parts.server, None, self.room).collect()}
        samples = metrics["chat_cluster_room_envelopes_received"].samples
        self.assertEqual(
            [(s.name, s.labels, s.value) for s in samples],
            [("chat_cluster_room_envelopes_received_total", {"room": "general"}, 1)],
        )

    # -- modes (IRC's MODE: docs/IRC.md, "Channel modes") ------------------------------------

    def test_modes_set_here_are_published(self) -> None:
        ana, bea = self.login("ana"), self.login("bea")
        self.claim_answer(won=True)
        ana.send("/unirse juegos\n")
        bea.send("/unirse juegos\n")
        self.drain(ana, bea)
        juegos = self.room.find_room("juegos")
        assert juegos is not None
        self.room.set_modes(juegos, True, True, ["bea", "nadie"], "ana", "+smv bea")
        self.clock.advance(0)
        self.assertIn(
            RoomModes("juegos", True, True, ("bea",), "ana", "+smv bea"), self.link.events()
        )
        self.assertEqual(juegos.voiced, {"bea"})

    def test_remote_modes_are_taken_and_told_to_the_rooms_members(self) -> None:
        # Bob (n2) in juegos with bea (its operator) and cris of this node; his node makes it
        # secret and moderated, voicing him: they read the change (no IRC listener here: the
        # chat's notice), ana, outside, no longer sees the room in /salas, and cris may not
        # speak in it (bea, its operator, may).
        ana, bea, cris = self.login("ana"), self.login("bea"), self.login("cris")
        self.claim_answer(won=True)
        bea.send("/unirse juegos\n")  # its operator
        cris.send("/unirse juegos\n")
        self.remote_login("bob", "Bob")
        self.remote_move("bob", "juegos")
        self.drain(ana, bea, cris)
        self.from_n2(RoomModes("juegos", True, True, ("bob", "nadie"), "Bob", "+smv Bob"))
        self.assertEqual(
            bea.received(), ["* Bob ha cambiado los modos de la sala juegos: +smv Bob"]
        )
        self.assertEqual(ana.received(), [])
        juegos = self.room.find_room("juegos")
        assert juegos is not None
        self.assertEqual((juegos.secret, juegos.moderated, juegos.voiced), (True, True, {"bob"}))
        ana.send("/salas\n")
        self.assertEqual(ana.received(), ["* Salas (1): general (1)"])
        cris.received()
        cris.send("hola\n")
        self.assertEqual(
            cris.received(),
            ["! La sala juegos es moderada: solo hablan su operador y quien tiene voz."],
        )
        bea.received()
        bea.send("soy su operadora\n")
        self.clock.advance(0)
        self.assertEqual(bea.received(), [])  # no error: said (published to the room)
        said = [e for e in self.link.events() if isinstance(e, PublicMessage)]
        self.assertEqual([e.event.text for e in said], ["soy su operadora"])
        # Bob leaves the room on his node: his voice goes with him
        self.remote_move("bob", "general")
        self.assertEqual(juegos.voiced, set())
        # a room this node does not know is not made for a change of modes
        self.from_n2(RoomModes("nada", True, False, (), "Bob", "+s"))
        self.assertIsNone(self.room.find_room("nada"))

    # -- topics -----------------------------------------------------------------------------

    def test_a_topic_is_written_to_redis_and_published(self) -> None:
        ana = self.login("ana")
        self.claim_answer(won=True)
        ana.send("/unirse juegos\n/tema ajedrez\n")
        self.clock.advance(0)
        self.assertIn(("HSET", "t:topics", "juegos", '["ajedrez", "ana"]'), self.link.commands)
        self.assertIn(TopicSet("juegos", "ajedrez", "ana"), self.link.events())

    def test_a_remote_topic_is_taken_and_told_to_the_rooms_members(self) -> None:
        ana, bea = self.login("ana"), self.login("bea")
        self.claim_answer(won=True)
        bea.send("/unirse juegos\n")
        self.drain(ana, bea)
        self.from_n2(TopicSet("juegos", "ajedrez", "Bob"))
        self.assertEqual(bea.received(), ["* Bob ha cambiado el tema: ajedrez"])
        self.assertEqual(ana.received(), [])
        bea.send("/tema\n")
        self.assertEqual(bea.received(), ["* Tema: ajedrez"])

    def test_a_room_learnt_from_another_node_reads_its_topic(self) -> None:
        self.link.replies["HGET"] = '["ajedrez", "Bob"]'
        self.remote_login("bob", "Bob")
        self.remote_move("bob", "juegos", operator=True)
        juegos = self.room.find_room("juegos")
        assert juegos is not None
        self.assertEqual((juegos.topic, juegos.topic_by), ("ajedrez", "Bob"))

    # -- failures ---------------------------------------------------------------------------

    def test_a_dead_nodes_users_leave_their_rooms(self) -> None:
        ana = self.login("ana")
        self.claim_answer(won=False, holder=("n2/x", "bob", "juegos"))
        ana.send("/unirse juegos\n")
        self.remote_login("bob", "Bob")
        self.remote_move("bob", "juegos", operator=True)
        self.drain(ana)
        self.link.answers["survey"] = [["n1", self.instance, "3"], ["n2", "", ""]]
        self.clock.advance(BEAT)
        self.clock.advance(1)
        self.assertEqual(ana.received(), ["* Bob ha salido del chat."])
        juegos = self.room.find_room("juegos")
        assert juegos is not None
        self.assertEqual(juegos.nicknames(), ["ana"])  # no operator any more

    def test_during_an_outage_rooms_work_locally_then_merge_back(self) -> None:
        ana, bea = self.login("ana"), self.login("bea")
        self.link.disconnect()
        self.link.ran.clear()
        ana.send("/unirse dados\n")
        bea.send("/unirse dados\n")
        self.clock.advance(0)
        self.assertNotIn("room_claim", self.link.scripts())
        dados = self.room.find_room("dados")
        assert dados is not None
        self.assertEqual(dados.nicknames(), ["@ana", "bea"])
        self.drain(ana, bea)
        ana.send("/tema local\n")
        bea.send("hola\n")
        self.assertEqual(ana.received(), ["* ana ha cambiado el tema: local", "<bea> hola"])
        # Redis is back: it holds another topic for the room (which wins).
        self.link.replies["HGETALL"] = lambda *args: (
            {"dados": '["de Redis", "Bob"]'} if args[1] == "t:topics" else {}
        )
        self.link.answers["restore"] = []
        bea.received()
        self.link.connect()
        restore = [args for name, args in self.link.ran if name == "restore"][-1]
        self.assertEqual(
            restore[3:], [2, "ana", "dados", "bea", "dados", "dados", "ana", restore[-1]]
        )
        self.assertEqual(json.loads(restore[-1])[1:], ["ana", "dados"])
        self.assertEqual((dados.topic, dados.topic_by), ("de Redis", "Bob"))
        self.assertEqual(ana.received(), ["* Bob ha cambiado el tema: de Redis"])

    def test_after_an_outage_a_room_claimed_elsewhere_gets_that_operator(self) -> None:
        ana = self.login("ana")
        self.link.disconnect()
        ana.send("/unirse dados\n")
        self.clock.advance(0)
        self.link.answers["restore"] = [["dados", json.dumps(["n2/x", "bob", "Dados"])]]
        self.link.connect()
        dados = self.room.find_room("dados")
        assert dados is not None
        self.assertEqual((dados.operator, dados.name), ("bob", "Dados"))

    def test_a_topic_set_during_an_outage_is_written_when_redis_lacks_one(self) -> None:
        ana = self.login("ana")
        self.link.disconnect()
        ana.send("/unirse dados\n/tema mio\n")
        self.clock.advance(0)
        self.link.replies["HSETNX"] = 1
        self.link.published.clear()
        self.link.connect()
        self.clock.advance(0)
        self.assertIn(("HSETNX", "t:topics", "dados", '["mio", "ana"]'), self.link.commands)
        self.assertIn(TopicSet("dados", "mio", "ana"), self.link.events())

    def test_after_an_outage_this_nodes_users_rooms_reach_the_others(self) -> None:
        ana = self.login("ana")
        self.link.disconnect()
        ana.send("/unirse dados\n")
        self.clock.advance(0)
        self.link.connect()
        names = self.link.scripts()
        # The rooms are written again before the hello that makes the others read them.
        self.assertLess(names.index("register"), names.index("restore"))
        hello_at = [
            i for i, (c, m) in enumerate(self.link.published) if m.events[0].NAME == "hello"
        ]
        self.assertTrue(hello_at)
