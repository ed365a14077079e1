"""Unit tests of nickname changes in a cluster (issue 16) with Redis replaced by an in-memory
link: the one script a change runs and the ``nick`` event it publishes, what the script's
answers do, a change during an outage, and what a change on another node does here (the
replica, the rooms, the operator, the mutes, who is told). No sockets, a ``Clock`` for time.

The script itself runs on a real ``redis-server`` in tests/e2e/test_cluster_rename.py.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.expected import renamed
from tests.support.fake_link import cluster_chat
from tests.support.fakes import Clients, tcp_factory
from twisted_chat.cluster import envelope
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import (
    ClusterEvent,
    EventError,
    RoomMoved,
    UserJoined,
    UserRenamed,
    decode,
)
from twisted_chat.cluster.membership import STARTUP_GRACE
from twisted_chat.events import Renamed


class UserRenamedWireTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        event = UserRenamed("ana", "anita", Renamed("m1", 5, None, "ana", "Anita"), 7)
        wire = event.to_wire()
        self.assertEqual(wire, ["nick", "ana", "anita", "m1", 5, "ana", "Anita", 7])
        back = decode(wire)
        assert isinstance(back, UserRenamed)
        self.assertEqual((back.old_key, back.new_key, back.version), ("ana", "anita", 7))
        self.assertEqual(
            (back.event.id, back.event.time, back.event.old, back.event.new),
            ("m1", 5, "ana", "Anita"),
        )

    def test_malformed(self) -> None:
        for bad in (
            ["nick", "ana", "anita", "m1", 5, "ana", "Anita"],
            ["nick", "ana", "anita", "m1", "5", "ana", "Anita", 7],
            ["nick", "ana", None, "m1", 5, "ana", "Anita", 7],
            ["nick", "ana", "anita", "m1", 5, "ana", "Anita", True],
        ):
            with self.assertRaises(EventError):
                decode(bad)


class ClusterRenameTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.fatal: list[str] = []
        self.parts, self.room, self.link = cluster_chat(self.clock, self.fatal)
        self.factory = tcp_factory(self.parts)
        self.clients = Clients()
        self.room.membership.start()

    def tearDown(self) -> None:
        self.room.membership.stop()

    def login(self, nick: str) -> Any:
        client = self.clients.connect(self.factory)
        client.received()
        self.link.answers["claim"] = 1
        client.send(f"{nick}\n")
        self.clock.advance(0)
        self.clients.drain()
        return client

    def envelope_from(self, node: str, *events: ClusterEvent) -> str:
        return envelope.encode(Origin(node, f"{node}/x"), list(events))

    def test_one_script_then_one_event(self) -> None:
        self.link.connect()
        ana = self.login("ana")
        self.link.published.clear()
        self.link.answers["rename"] = 1
        ana.send("/nick Anita\n")
        self.clock.advance(0)
        self.assertEqual(ana.received(), [renamed("ana", "Anita")])
        name, args = self.link.ran[-1]
        self.assertEqual(name, "rename")
        self.assertEqual(args[2:5], ["anita", "Anita", "ana"])
        [event] = [e for e in self.link.events() if isinstance(e, UserRenamed)]
        self.assertEqual((event.old_key, event.new_key, event.event.new), ("ana", "anita", "Anita"))
        self.assertEqual(event.version, args[5])

    def test_taken_on_another_node(self) -> None:
        self.link.connect()
        ana = self.login("ana")
        self.link.answers["rename"] = 0
        ana.send("/nick bob\n")
        self.clock.advance(0)
        self.assertEqual(
            ana.received(), ["! El nickname bob ya está conectado; sigues siendo ana."]
        )
        self.assertIs(self.room.member("ana"), ana.protocol.session)

    def test_taken_by_a_known_remote_user_without_asking_redis(self) -> None:
        self.link.connect()
        ana = self.login("ana")
        self.room.presence.snapshot("n2", "n2/x", 1, {"bob": "Bob"})
        ran = len(self.link.ran)
        ana.send("/nick BOB\n")
        self.assertEqual(
            ana.received(), ["! El nickname BOB ya está conectado; sigues siendo ana."]
        )
        self.assertEqual(len(self.link.ran), ran)

    def test_held_while_the_script_runs(self) -> None:
        self.link.connect()
        ana = self.login("ana")
        ana.send("/nick anita\n/username\n")
        self.assertEqual(ana.received(), [])
        name, pending = self.link.pending.pop()
        self.assertEqual(name, "rename")
        pending.callback(1)
        self.assertEqual(ana.received(), [renamed("ana", "anita"), "* Tu nickname es anita."])

    def test_gone_during_the_script_gives_the_new_nickname_back(self) -> None:
        self.link.connect()
        ana = self.login("ana")
        ana.send("/nick anita\n")
        _, pending = self.link.pending.pop()
        ana.lose()
        pending.callback(1)
        self.assertEqual([n for n, _ in self.link.ran][-2:], ["release", "release"])
        self.assertEqual(self.link.ran[-1][1][1], "anita")
        self.assertNotIn("anita", self.room)
        self.assertEqual(self.room.membership._rename_versions, {})

    def test_outage(self) -> None:
        self.link.connect()
        ana = self.login("ana")
        self.link.disconnect()
        ana.send("/nick anita\n")
        self.assertEqual(
            ana.received(),
            [
                "! El chat no puede cambiar nicknames ahora mismo; inténtalo de nuevo en unos "
                "segundos."
            ],
        )
        self.clock.advance(10)
        ana.send("/nick Ana\n")  # its own nickname: a change of case is made here
        self.assertEqual(ana.received(), [renamed("ana", "Ana")])

    def test_a_change_on_another_node(self) -> None:
        self.link.connect()
        ana = self.login("ana")
        cid = self.login("cid")
        self.room.membership.changed(self.room.presence.snapshot("n2", "n2/x", 1, {}))
        self.link.on_message(
            "t:room",
            self.envelope_from(
                "n2", UserJoined("bob", "Bob", 2), RoomMoved("bob", "juegos", True, 3)
            ),
        )
        ana.send("/unirse juegos\n")
        self.clock.advance(0)
        self.clients.drain()
        self.room.mute_local("bob", self.clock.seconds() + 60)
        self.link.on_message(
            "t:room",
            self.envelope_from(
                "n2", UserRenamed("bob", "roberto", Renamed("m9", 9, None, "Bob", "Roberto"), 4)
            ),
        )
        self.clock.advance(0)
        self.assertEqual(ana.received(), [renamed("Bob", "Roberto")])
        self.assertEqual(cid.received(), [])  # in another room: not told
        juegos = self.room.find_room("juegos")
        assert juegos is not None
        self.assertEqual(juegos.users.get("roberto"), "Roberto")
        self.assertNotIn("bob", juegos.users)
        self.assertEqual(juegos.operator, "roberto")
        self.assertIsNotNone(self.room.muted_until("Roberto", self.clock.seconds()))
        self.assertIsNone(self.room.find("bob"))
        self.assertEqual(self.room.find("ROBERTO").nickname, "Roberto")  # type: ignore[union-attr]
        self.assertEqual(self.room.replication._remote_rooms.get("roberto"), ("juegos",))

    def test_a_change_of_an_unknown_user_reads_the_node_again(self) -> None:
        self.link.connect()
        self.room.membership.changed(self.room.presence.snapshot("n2", "n2/x", 1, {}))
        commands = len(self.link.commands)
        self.link.on_message(
            "t:room",
            self.envelope_from(
                "n2", UserRenamed("zed", "zoe", Renamed("m9", 9, None, "zed", "zoe"), 2)
            ),
        )
        self.assertEqual(self.link.commands[commands][0], "HGETALL")
        self.assertIsNone(self.room.find("zoe"))

    def test_before_registration_it_is_refused(self) -> None:
        self.clock.advance(STARTUP_GRACE)
        self.link.connect()
        ana = self.login("ana")
        self.link.up = False
        self.room.membership.ready = False
        ana.send("/nick anita\n")
        self.assertEqual(len(ana.received()), 1)
