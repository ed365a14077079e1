"""Unit tests of IRC users in a cluster: a :class:`~twisted_chat.cluster.room.ClusterRoom` over
the in-memory link, with IRC and line clients on this node (n1) and the users of another node
(n2) arriving as its events. An IRC user's rooms are a set (none, one or several): what this
node publishes and writes for them (the ``rooms`` event, ``#r:`` and ``#R:``), what the other
nodes' ``rooms`` events do here, and what NAMES, WHO, WHOIS, LUSERS, PRIVMSG and KICK make of
the other nodes' users. No sockets, a ``Clock`` for time.

The same, end to end on two nodes and a real Redis: tests/e2e/test_cluster_irc.py.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fake_link import DONE_SCRIPTS, cluster_chat, start_beside_n2
from tests.support.fakes import Client, Clients, tcp_factory
from twisted_chat.assembly import RoomPlan
from twisted_chat.cluster import envelope
from twisted_chat.cluster import events as cluster_events
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import (
    ClusterEvent,
    PrivateMessage,
    PublicMessage,
    RoomKick,
    RoomMoved,
    RoomsSet,
    UserInfoSet,
    UserJoined,
    UserLeft,
    UserRenamed,
)
from twisted_chat.cluster.presence import Presence, room_sets, split_fields, user_info
from twisted_chat.events import Private, Public, Renamed
from twisted_chat.irc.commands import IrcCommands
from twisted_chat.irc.protocol import IrcFactory
from twisted_chat.userinfo import UserInfo

SERVER = "n1.test"


class ClusterIrcTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        # Join and leave notices gathered, as a real server does: a login's JOIN is rendered
        # when they are written, once the login's envelope took the IRC user out of the
        # default room again.
        self.parts, self.room, self.link = cluster_chat(
            self.clock, rooms=RoomPlan(max_rooms=8), gather_notices=True
        )
        self.lines = tcp_factory(self.parts)
        irc = IrcCommands(self.parts.core, self.parts.rooms, self.parts.language, SERVER)
        self.irc = IrcFactory(self.parts.server, irc)
        self.clients = Clients()
        start_beside_n2(
            self.room,
            self.link,
            done=(*DONE_SCRIPTS, "rooms_set"),
            answers={"room_claim": [1, "ours"]},
        )
        self.instance = self.room.origin.instance
        self.version = 1

    def tearDown(self) -> None:
        self.room.membership.stop()

    # -- helpers ------------------------------------------------------------------------------

    def irc_login(self, nick: str) -> Client:
        client = self.clients.connect(self.irc)  # type: ignore[arg-type]
        client.send(f"NICK {nick}\r\nUSER {nick} 0 * :{nick.title()} Real\r\n")
        self.clock.advance(1)
        lines = client.received()
        assert any(f" 001 {nick} " in line for line in lines), lines
        return client

    def line_login(self, nick: str) -> Client:
        client = self.clients.connect(self.lines)
        client.send(f"{nick}\n")
        self.clock.advance(1)
        client.received()
        return client

    def from_n2(self, *events: ClusterEvent, channel: str = "t:room") -> None:
        self.link.on_message(channel, envelope.encode(Origin("n2", "n2/x"), list(events)))
        self.clock.advance(1)

    def v(self) -> int:
        self.version += 1
        return self.version

    def remote_irc_login(self, nick_key: str, nickname: str) -> None:
        """A user of n2 logs in over IRC: its join, and out of the default room, quietly."""
        self.from_n2(
            UserJoined(nick_key, nickname, self.v()),
            RoomsSet(nick_key, (), "", self.v(), quiet=True),
        )

    def rooms_events(self) -> list[RoomsSet]:
        return [e for e in self.link.events() if isinstance(e, RoomsSet)]

    def rooms_set_args(self) -> list[list[Any]]:
        return [args for name, args in self.link.ran if name == "rooms_set"]

    def names(self, client: Client, channel: str) -> list[str]:
        client.send(f"NAMES {channel}\r\n")
        self.clock.advance(0)
        [line] = [x for x in client.received() if " 353 " in x]
        return line.split(" :", 1)[1].split()

    # -- what this node publishes ---------------------------------------------------------------

    def test_an_irc_login_leaves_the_default_room_quietly_everywhere(self) -> None:
        self.irc_login("ana")
        joined = [e for e in self.link.events() if isinstance(e, UserJoined)]
        self.assertEqual([e.nick_key for e in joined], ["ana"])
        [rooms] = self.rooms_events()
        self.assertEqual((rooms.nick_key, rooms.names, rooms.quiet), ("ana", (), True))
        self.assertGreater(rooms.version, joined[0].version)
        # In Redis: no #r: (the default room, for earlier releases), #R: an empty list.
        self.assertEqual(
            self.rooms_set_args()[-1], [self.instance, rooms.version, "", "ana", "", "[]"]
        )

    def test_join_claims_a_new_room_and_publishes_the_set(self) -> None:
        ana = self.irc_login("ana")
        self.link.published.clear()
        ana.send("JOIN #Juegos,#otra\r\n")
        self.clock.advance(0)
        claims = [args for name, args in self.link.ran if name == "room_claim"]
        self.assertEqual(
            [json.loads(a[0]) for a in claims[-2:]],
            [
                [self.instance, "ana", "Juegos"],
                [self.instance, "ana", "otra"],
            ],
        )
        first, second = self.rooms_events()
        self.assertEqual((first.names, first.operator_of), (("Juegos",), "juegos"))
        self.assertEqual((second.names, second.operator_of), (("Juegos", "otra"), "otra"))
        self.assertEqual(self.rooms_set_args()[-1][3:], ["ana", "otra", '["Juegos","otra"]'])
        lines = ana.received()
        self.assertIn(f":ana!ana@{SERVER} JOIN #juegos", lines)
        self.assertIn(f":ana!ana@{SERVER} JOIN #otra", lines)
        self.assertIn("t:room:juegos", self.link.channels)
        # A room known here already is entered without a claim, and without the operator.
        self.link.ran.clear()
        bob = self.irc_login("bob")
        bob.send("JOIN #juegos\r\n")
        self.clock.advance(0)
        self.assertNotIn("room_claim", self.link.scripts())
        self.assertEqual(self.rooms_events()[-1].operator_of, "")

    def test_join_waits_for_the_claim_and_keeps_later_lines(self) -> None:
        ana = self.irc_login("ana")
        del self.link.answers["room_claim"]
        ana.send("JOIN #juegos\r\nPING barrera\r\n")
        self.clock.advance(0)
        self.assertEqual(ana.received(), [])  # the PING waits for the JOIN
        name, claimed = self.link.pending.pop()
        self.assertEqual(name, "room_claim")
        claimed.callback([0, json.dumps(["n2/x", "bob", "JUEGOS"])])  # bob on n2 was first
        lines = ana.received()
        self.assertEqual(lines[0], f":ana!ana@{SERVER} JOIN #juegos")
        self.assertTrue(lines[-1].endswith("PONG n1.test barrera"), lines)
        juegos = self.room.find_room("juegos")
        assert juegos is not None
        self.assertEqual((juegos.name, juegos.operator), ("JUEGOS", "bob"))
        self.assertEqual(self.rooms_events()[-1].operator_of, "")

    def test_join_of_a_room_just_created_on_another_node_lists_its_creator(self) -> None:
        # Bob, an IRC user of n2, joined #juegos first (his claim holds it); his ``rooms``
        # event has not arrived when ana joins it here, nor when carla enters it.
        ana = self.irc_login("ana")
        carla = self.line_login("carla")
        self.remote_irc_login("bob", "Bob")
        self.link.answers["room_claim"] = [0, json.dumps(["n2/x", "bob", "juegos"])]
        ana.received()
        carla.received()
        self.link.published.clear()
        ana.send("JOIN #juegos\r\n")
        self.clock.advance(0)
        lines = ana.received()
        [names] = [x for x in lines if " 353 " in x]
        self.assertEqual(sorted(names.split(" :", 1)[1].split()), ["@Bob", "ana"])
        carla.send("/unirse juegos\n")
        self.clock.advance(0)
        self.assertEqual(carla.received()[0], "* Sala juegos (3): ana, @Bob, carla")
        # What they say is published for bob at once.
        ana.send("PRIVMSG #juegos :hola\r\n")
        carla.send("que tal\n")
        self.clock.advance(0)
        said = [
            e.event.text
            for c, m in self.link.published
            if c == "t:room:juegos"
            for e in m.events
            if isinstance(e, PublicMessage)
        ]
        self.assertEqual(said, ["hola", "que tal"])
        self.clock.advance(1)  # no echo from the fake Redis: shown here after ECHO_TIMEOUT
        self.assertEqual(
            ana.received(),
            [
                f":carla!carla@{SERVER} JOIN #juegos",
                f":carla!carla@{SERVER} PRIVMSG #juegos :que tal",
            ],
        )
        self.assertEqual(carla.received(), ["<ana> hola"])
        # Bob's own event arrives: no JOIN of his after all, no "entered".
        self.from_n2(RoomsSet("bob", ("juegos",), "juegos", self.v()))
        self.assertEqual(ana.received(), [])
        self.assertEqual(carla.received(), [])
        self.assertEqual(self.names(ana, "#juegos"), ["ana", "@Bob", "carla"])

    def test_part_carries_its_reason(self) -> None:
        ana = self.irc_login("ana")
        ana.send("JOIN #a,#b\r\nPART #a :me voy\r\n")
        self.clock.advance(0)
        last = self.rooms_events()[-1]
        self.assertEqual((last.names, last.reason, last.by), (("b",), "me voy", None))
        self.assertEqual(self.rooms_set_args()[-1][3:], ["ana", "b", ""])  # one room: #r: alone

    # -- the other nodes' IRC users here ---------------------------------------------------------

    def test_a_remote_irc_users_login_join_and_part_as_members_here_see_them(self) -> None:
        carla = self.line_login("carla")  # in the default room
        ana = self.irc_login("ana")
        ana.send("JOIN #general,#juegos\r\n")
        self.clock.advance(0)
        ana.received()
        carla.received()
        self.remote_irc_login("bob", "Bob")
        self.assertEqual(carla.received(), ["* Bob se ha unido al chat."])
        self.assertEqual(ana.received(), [])  # in no channel: no JOIN, no PART
        self.from_n2(RoomsSet("bob", ("juegos", ""), "", self.v()))
        self.assertEqual(
            ana.received(),
            [f":Bob!Bob@{SERVER} JOIN #juegos", f":Bob!Bob@{SERVER} JOIN #general"],
        )
        self.assertEqual(carla.received(), ["* Bob ha entrado en la sala general."])
        self.assertEqual(self.names(ana, "#juegos"), ["@ana", "Bob"])
        self.from_n2(RoomsSet("bob", ("juegos",), "", self.v(), reason="adiós"))
        self.assertEqual(ana.received(), [f":Bob!Bob@{SERVER} PART #general :adiós"])
        self.assertEqual(
            carla.received(), ["* Bob ha salido de la sala general (sigue en el chat)."]
        )
        # Sent out of #juegos by its operator on n2: a KICK here.
        self.from_n2(RoomsSet("bob", (), "", self.v(), by="Zoe", reason="fuera"))
        self.assertEqual(ana.received(), [f":Zoe!Zoe@{SERVER} KICK #juegos Bob :fuera"])
        # Leaving the chat from no room: the default room's line users read it, nobody QUITs.
        self.from_n2(UserLeft("bob", self.v()))
        self.assertEqual(carla.received(), ["* Bob ha salido del chat."])
        self.assertEqual(ana.received(), [])

    def test_names_who_whois_lusers_see_the_other_nodes(self) -> None:
        ana = self.irc_login("ana")
        ana.send("JOIN #juegos\r\n")
        self.clock.advance(0)
        self.remote_irc_login("bob", "Bob")
        self.from_n2(RoomsSet("bob", ("juegos", "otra"), "otra", self.v()))
        ana.received()
        self.assertEqual(self.names(ana, "#juegos"), ["@ana", "Bob"])
        ana.send("WHO #juegos\r\n")
        self.clock.advance(0)
        who = [line for line in ana.received() if " 352 " in line]
        self.assertEqual(len(who), 2)
        self.assertIn(f" 352 ana #juegos Bob {SERVER} {SERVER} Bob H :0 Bob", who[1])
        ana.send("WHO b*\r\n")
        self.clock.advance(0)
        self.assertEqual(len([x for x in ana.received() if " 352 ana * Bob " in x]), 1)
        ana.send("WHOIS bob\r\n")
        self.clock.advance(0)
        whois = ana.received()
        self.assertIn(f":{SERVER} 311 ana Bob Bob {SERVER} * :Bob", whois)
        self.assertIn(f":{SERVER} 319 ana Bob :#juegos @#otra", whois)
        self.assertEqual(whois[-1], f":{SERVER} 318 ana Bob :End of /WHOIS list")
        ana.send("LUSERS\r\n")
        self.clock.advance(0)
        lusers = ana.received()
        self.assertIn(f":{SERVER} 251 ana :There are 2 users and 0 invisible on 2 servers", lusers)
        self.assertIn(f":{SERVER} 255 ana :I have 1 clients and 1 servers", lusers)
        self.assertIn(f":{SERVER} 266 ana 2 2 :Current global users 2, max 2", lusers)
        ana.send("LIST\r\n")
        self.clock.advance(0)
        self.assertIn(f":{SERVER} 322 ana #juegos 2 :", ana.received())

    def test_a_private_message_to_a_user_of_another_node_goes_to_its_node(self) -> None:
        ana = self.irc_login("ana")
        self.remote_irc_login("bob", "Bob")
        self.link.published.clear()
        ana.send("PRIVMSG bob :hola\r\n")
        self.clock.advance(0)
        [(channel, message)] = self.link.published
        self.assertEqual(channel, "t:to:n2")
        [private] = message.events
        assert isinstance(private, PrivateMessage)
        self.assertEqual((private.event.recipient, private.event.text), ("Bob", "hola"))
        self.assertEqual(ana.received(), [])  # no 401

    def test_codes_actions_and_ctcp_across_nodes(self) -> None:
        carla = self.line_login("carla")  # in the default room
        ana = self.irc_login("ana")
        ana.send("JOIN #general\r\n")
        self.clock.advance(1)
        ana.received()
        carla.received()
        self.remote_irc_login("bob", "Bob")
        carla.received()
        # A CTCP query to a user of another node goes there (its node knows what it uses).
        self.link.published.clear()
        ana.send("PRIVMSG bob :\x01VERSION\x01\r\n")
        self.clock.advance(0)
        [(channel, message)] = self.link.published
        self.assertEqual(channel, "t:to:n2")
        [private] = message.events
        assert isinstance(private, PrivateMessage)
        self.assertEqual(private.event.text, "\x01VERSION\x01")
        self.assertEqual(ana.received(), [])
        # From n2: what its IRC user said, as sent; here a line user reads it plain, an IRC
        # user as sent; a CTCP query writes nothing to a line user.
        self.from_n2(
            PublicMessage(Public("m1", 1, "general", "Bob", "\x0304rojo\x03 y \x02más\x02")),
            PublicMessage(Public("m2", 2, "general", "Bob", "\x01ACTION baila\x01")),
            PublicMessage(Public("m3", 3, "general", "Bob", "\x01TIME\x01")),
            channel="t:room:general",
        )
        self.assertEqual(carla.received(), ["<Bob> rojo y más", "** Bob baila"])
        self.assertEqual(
            ana.received(),
            [
                f":Bob!Bob@{SERVER} PRIVMSG #general :\x0304rojo\x03 y \x02más\x02",
                f":Bob!Bob@{SERVER} PRIVMSG #general :\x01ACTION baila\x01",
                f":Bob!Bob@{SERVER} PRIVMSG #general :\x01TIME\x01",
            ],
        )
        self.from_n2(
            PrivateMessage(Private("p1", 4, None, "Bob", "carla", "\x01ACTION saluda\x01")),
            PrivateMessage(Private("p2", 5, None, "Bob", "carla", "\x01PING 1\x01")),
            channel="t:to:n1",
        )
        self.assertEqual(carla.received(), ["*Bob* * saluda"])

    def test_a_dead_nodes_irc_users_quit_here(self) -> None:
        ana = self.irc_login("ana")
        ana.send("JOIN #juegos,#otra\r\n")
        self.clock.advance(0)
        self.remote_irc_login("bob", "Bob")
        self.from_n2(RoomsSet("bob", ("juegos", "otra"), "", self.v()))
        ana.received()
        self.room.membership.changed(self.room.presence.forget("n2"))
        self.clock.advance(1)
        self.assertEqual(ana.received().count(f":Bob!Bob@{SERVER} QUIT :Quit"), 2)
        self.assertEqual(self.names(ana, "#juegos"), ["@ana"])

    # -- kicks across nodes ---------------------------------------------------------------------

    def test_kick_of_a_user_of_another_node_asks_its_node(self) -> None:
        ana = self.irc_login("ana")
        ana.send("JOIN #juegos\r\n")
        self.clock.advance(0)
        self.remote_irc_login("bob", "Bob")
        self.from_n2(RoomsSet("bob", ("juegos",), "", self.v()))
        ana.received()
        self.link.published.clear()
        ana.send("KICK #juegos bob :fuera\r\n")
        self.clock.advance(0)
        [(channel, message)] = self.link.published
        self.assertEqual(channel, "t:to:n2")
        self.assertEqual(message.events, [RoomKick("bob", "juegos", "fuera", "ana")])
        self.assertEqual(ana.received(), [])  # the KICK comes with n2's answer
        ana.send("KICK #juegos nadie\r\n")
        self.clock.advance(0)
        self.assertIn(" 441 ana nadie #juegos ", ana.received()[0])

    def test_a_kick_from_another_node_sends_a_user_here_out(self) -> None:
        ana = self.irc_login("ana")
        carla = self.line_login("carla")
        ana.send("JOIN #juegos\r\n")
        carla.send("/unirse juegos\n")
        self.clock.advance(1)
        ana.received()
        carla.received()
        self.from_n2(RoomKick("ana", "juegos", "fuera", "Zoe"), channel="t:to:n1")
        self.assertEqual(ana.received(), [f":Zoe!Zoe@{SERVER} KICK #juegos ana :fuera"])
        last = self.rooms_events()[-1]
        self.assertEqual((last.names, last.by, last.reason), ((), "Zoe", "fuera"))
        self.assertEqual(carla.received(), ["* Zoe ha echado a ana de la sala juegos: fuera"])
        # A line user goes back to the default room, the others told who and why.
        self.from_n2(RoomKick("carla", "juegos", "", "Zoe"), channel="t:to:n1")
        last = self.rooms_events()[-1]
        self.assertEqual((last.nick_key, last.names, last.by), ("carla", ("",), "Zoe"))
        self.assertEqual(self.room.room_of(self.room.member("carla")).key, "general")  # type: ignore[arg-type]

    # -- Redis: the hash, and after an outage ---------------------------------------------------

    def test_the_users_hash_holds_the_sets(self) -> None:
        fields = {
            "bob": "Bob",
            "#r:bob": "otra",
            "#R:bob": '["juegos","otra"]',
            "zoe": "Zoe",
            "#R:zoe": "[]",
            "eva": "Eva",
            "#R:eva": "not json",
        }
        sets = room_sets(fields)
        self.assertEqual(sets, {"bob": ("juegos", "otra"), "zoe": ()})
        users, rooms, operators = split_fields(fields)
        presence = Presence()
        changes = presence.snapshot("n2", "n2/x", 3, users, rooms, operators, sets)
        placed = {p.nick_key: p.after for p in changes.placed}
        self.assertEqual(placed, {"bob": ("juegos", "otra"), "zoe": (), "eva": ("",)})
        # A line user's move (a ``room`` event) makes its rooms one room again.
        moved = presence.moved("n2", "n2/x", "bob", "juegos", False, 4)
        self.assertEqual(
            [(p.before, p.after) for p in moved.placed], [(("juegos", "otra"), ("juegos",))]
        )

    def test_a_snapshot_places_an_irc_user_in_its_rooms(self) -> None:
        ana = self.irc_login("ana")
        ana.send("JOIN #juegos\r\n")
        self.clock.advance(0)
        ana.received()
        flat = [
            "#i",
            "n2/x",
            "#v",
            "9",
            "bob",
            "Bob",
            "#r:bob",
            "juegos",
            "#R:bob",
            '["","juegos"]',
        ]
        self.link.replies["HGETALL"] = flat
        self.room.membership.fetch("n2")
        self.clock.advance(1)
        self.assertEqual(ana.received(), [f":Bob!Bob@{SERVER} JOIN #juegos"])
        self.assertIn("bob", self.room.default.users)

    def test_after_an_outage_the_sets_are_written_again(self) -> None:
        ana = self.irc_login("ana")
        self.irc_login("bob")  # in no room
        ana.send("JOIN #a,#b\r\n")
        self.clock.advance(0)
        self.link.disconnect()
        self.link.ran.clear()
        self.link.connect()
        self.clock.advance(0)
        [args] = self.rooms_set_args()
        self.assertEqual(args[:3], [self.instance, "", ""])
        triples = {args[i]: (args[i + 1], args[i + 2]) for i in range(3, len(args), 3)}
        self.assertEqual(triples, {"ana": ("b", '["a","b"]'), "bob": ("", "[]")})
        self.assertLess(self.link.scripts().index("rooms_set"), len(self.link.scripts()))

    def test_line_users_moves_stay_room_events(self) -> None:
        carla = self.line_login("carla")
        self.link.published.clear()
        carla.send("/unirse juegos\n")
        self.clock.advance(0)
        self.assertEqual([type(e) for e in self.link.events()], [RoomMoved])

    def test_notices_pending_at_an_irc_login_are_not_its_own(self) -> None:
        carla = self.line_login("carla")
        zoe = self.line_login("zoe")
        zoe.received()
        del self.link.answers["claim"]
        ana = self.clients.connect(self.irc)  # type: ignore[arg-type]
        ana.send("NICK ana\r\nUSER ana 0 * :Ana\r\n")
        name, claimed = self.link.pending.pop()
        self.assertEqual(name, "claim")
        carla.lose()  # its leave notice waits, gathered, while Redis answers ana's claim
        claimed.callback(1)
        self.clock.advance(1)
        self.assertEqual([line for line in ana.received() if "carla" in line], [])
        self.assertEqual(
            zoe.received(), ["* carla ha salido del chat.", "* ana se ha unido al chat."]
        )

    # -- what other users may know of a user: real name, away, account, operator, +i -----------

    def info_events(self) -> list[UserInfoSet]:
        return [e for e in self.link.events() if isinstance(e, UserInfoSet)]

    def test_an_irc_login_publishes_its_real_name_alone_after_its_join(self) -> None:
        self.link.answers["user_info"] = 1
        self.irc_login("ana")
        [info] = self.info_events()
        self.assertEqual((info.nick_key, info.info), ("ana", UserInfo(realname="Ana Real")))
        [joined] = [e for e in self.link.events() if isinstance(e, UserJoined)]
        self.assertGreater(info.version, joined.version)
        # In an envelope of its own: a node of an earlier release drops nothing else with it.
        [alone] = [m for _, m in self.link.published if info in m.events]
        self.assertEqual(alone.events, [info])
        # ... and in Redis, the same version.
        [args] = [args for name, args in self.link.ran if name == "user_info"]
        self.assertEqual(args, [self.instance, info.version, "ana", '{"r":"Ana Real"}'])

    def test_a_line_login_has_nothing_more_to_tell(self) -> None:
        self.line_login("carla")
        self.assertEqual(self.info_events(), [])
        self.assertNotIn("user_info", self.link.scripts())

    def test_away_and_invisible_are_published_when_they_change(self) -> None:
        ana = self.irc_login("ana")
        self.link.published.clear()
        ana.send("AWAY :comiendo\r\nMODE ana +i\r\n")
        self.clock.advance(0)
        # One change per turn: AWAY and MODE of one turn are told together.
        [info] = self.info_events()
        self.assertEqual(info.info, UserInfo("Ana Real", "comiendo", invisible=True))
        ana.send("MODE ana +i\r\n")  # no change: nothing told
        self.clock.advance(0)
        self.assertEqual(len(self.info_events()), 1)
        ana.send("AWAY\r\n")
        self.clock.advance(0)
        self.assertEqual(self.info_events()[-1].info, UserInfo("Ana Real", invisible=True))

    def test_the_registration_writes_the_info_again(self) -> None:
        ana = self.irc_login("ana")
        ana.send("AWAY :fuera\r\n")
        self.clock.advance(0)
        self.link.disconnect()
        self.link.ran.clear()
        self.link.connect()
        self.clock.advance(0)
        [args] = [args for name, args in self.link.ran if name == "user_info"]
        # No version of its own (the hello that follows makes the others read the hash).
        self.assertEqual(args, [self.instance, "", "ana", '{"r":"Ana Real","a":"fuera"}'])
        self.assertLess(self.link.scripts().index("user_info"), len(self.link.scripts()))

    def remote_info(self, nick_key: str, info: UserInfo) -> None:
        self.from_n2(UserInfoSet(nick_key, info, self.v()), channel="t:room")

    def test_whois_who_userhost_and_privmsg_tell_what_the_users_node_told(self) -> None:
        ana = self.irc_login("ana")
        self.remote_irc_login("bob", "Bob")
        self.remote_info("bob", UserInfo("Roberto Real", "comiendo", "bob", True))
        ana.received()
        ana.send("WHOIS bob\r\n")
        self.clock.advance(0)
        whois = ana.received()
        self.assertIn(f":{SERVER} 311 ana Bob Bob {SERVER} * :Roberto Real", whois)
        self.assertIn(f":{SERVER} 313 ana Bob :is an IRC operator", whois)
        self.assertIn(f":{SERVER} 301 ana Bob :comiendo", whois)
        self.assertIn(f":{SERVER} 330 ana Bob Bob :is logged in as", whois)
        ana.send("WHO bob\r\n")
        self.clock.advance(0)
        self.assertIn(
            f":{SERVER} 352 ana * Bob {SERVER} {SERVER} Bob G* :0 Roberto Real", ana.received()
        )
        ana.send("WHO bob %nfar\r\n")
        self.clock.advance(0)
        self.assertIn(f":{SERVER} 354 ana Bob G* Bob :Roberto Real", ana.received())
        ana.send("WHO roberto*\r\n")  # by real name
        self.clock.advance(0)
        self.assertEqual(len([x for x in ana.received() if " 352 ana * Bob " in x]), 1)
        ana.send("WHO * o\r\n")
        self.clock.advance(0)
        self.assertEqual(len([x for x in ana.received() if " 352 " in x]), 1)
        ana.send("USERHOST bob\r\n")
        self.clock.advance(0)
        self.assertIn(f":{SERVER} 302 ana :Bob*=-Bob@{SERVER}", ana.received())
        ana.send("PRIVMSG bob :hola\r\n")
        self.clock.advance(0)
        self.assertIn(f":{SERVER} 301 ana Bob :comiendo", ana.received())
        # Back: H, no 301.
        self.remote_info("bob", UserInfo("Roberto Real", None, "bob", True))
        ana.send("PRIVMSG bob :hola\r\nWHO bob\r\n")
        self.clock.advance(0)
        lines = ana.received()
        self.assertFalse([x for x in lines if " 301 " in x])
        self.assertIn(f":{SERVER} 352 ana * Bob {SERVER} {SERVER} Bob H* :0 Roberto Real", lines)

    def test_a_remote_rename_keeps_the_info_and_the_account_rule(self) -> None:
        ana = self.irc_login("ana")
        self.remote_irc_login("bob", "Bob")
        self.remote_info("bob", UserInfo("Roberto", None, "bob", True))
        self.from_n2(UserRenamed("bob", "bobby", Renamed("r1", 0, None, "Bob", "Bobby"), self.v()))
        ana.received()
        ana.send("WHOIS bobby\r\n")
        self.clock.advance(0)
        whois = ana.received()
        self.assertIn(f":{SERVER} 311 ana Bobby Bobby {SERVER} * :Roberto", whois)
        # Its nickname is not the account it proved: neither logged in nor an operator.
        self.assertFalse([x for x in whois if " 330 " in x or " 313 " in x])

    def test_an_operator_by_oper_is_one_under_any_nickname(self) -> None:
        ana = self.irc_login("ana")
        self.remote_irc_login("bob", "Bob")
        self.remote_info("bob", UserInfo(oper=True))
        ana.received()
        ana.send("WHOIS bob\r\nUSERHOST bob\r\n")
        self.clock.advance(0)
        lines = ana.received()
        self.assertIn(f":{SERVER} 313 ana Bob :is an IRC operator", lines)
        self.assertFalse([x for x in lines if " 330 " in x])  # not logged in: no account
        self.assertIn(f":{SERVER} 302 ana :Bob*=+Bob@{SERVER}", lines)

    def test_an_invisible_remote_user_is_hidden_from_masks_of_who_shares_no_room(self) -> None:
        ana = self.irc_login("ana")
        self.remote_irc_login("bob", "Bob")
        self.remote_info("bob", UserInfo(invisible=True))
        ana.received()
        ana.send("WHO b*\r\nWHO bob\r\n")  # the mask hides it; its nickname does not
        self.clock.advance(0)
        self.assertEqual(len([x for x in ana.received() if " 352 ana * Bob " in x]), 1)
        ana.send("JOIN #juegos\r\n")
        self.clock.advance(0)
        self.from_n2(RoomsSet("bob", ("juegos",), "", self.v()))
        ana.received()
        ana.send("WHO b*\r\n")  # a room in common: shown
        self.clock.advance(0)
        self.assertEqual(len([x for x in ana.received() if " 352 ana * Bob " in x]), 1)
        ana.send("LUSERS\r\n")
        self.clock.advance(0)
        self.assertIn(
            f":{SERVER} 251 ana :There are 1 users and 1 invisible on 2 servers", ana.received()
        )

    def test_the_info_comes_with_a_snapshot_and_goes_with_the_user(self) -> None:
        fields = {
            "#i": "n3/x",
            "#v": "4",
            "bob": "Bob",
            "#u:bob": '{"r":"Roberto","a":"fuera","later":[1]}',
            "eve": "Eve",
            "#u:eve": "not json",
        }
        presence = Presence()
        users, rooms, operators = split_fields(dict(fields))
        presence.snapshot("n3", "n3/x", 4, users, rooms, operators, {}, user_info(fields))
        self.assertEqual(presence.info("bob"), UserInfo("Roberto", "fuera"))
        self.assertEqual(presence.info("eve"), UserInfo())
        self.assertIsNone(presence.info("zoe"))
        presence.left("n3", "n3/x", "bob", 5)
        self.assertIsNone(presence.info("bob"))
        self.assertEqual(presence.nodes["n3"].info, {})

    def test_info_of_a_user_never_seen_reads_the_node_again(self) -> None:
        changes = self.room.presence.info_set("n2", "n2/x", "zoe", UserInfo(away="x"), 2)
        self.assertEqual(changes.stale, "n2")

    def test_a_node_of_an_earlier_release_drops_the_info_and_catches_up(self) -> None:
        # What a node that does not know ``uinfo`` does with one: the envelope (which holds
        # it alone) is dropped as malformed, nothing fails; the next event skips a version,
        # so the node reads the users hash again, whose ``#u:`` fields it ignores.
        earlier = {name: cls for name, cls in cluster_events.EVENTS.items() if name != "uinfo"}
        self.patch(cluster_events, "EVENTS", earlier)
        self.remote_irc_login("bob", "Bob")
        self.link.commands.clear()
        self.remote_info("bob", UserInfo(away="fuera"))  # dropped: nothing happens
        self.assertEqual(self.link.commands, [])
        self.assertEqual(self.room.presence.nodes["n2"].version, self.version - 1)
        self.link.replies["HGETALL"] = {
            "#i": "n2/x",
            "#v": str(self.version + 1),
            "bob": "Bob",
            "#u:bob": '{"a":"fuera"}',
            "#R:bob": '["juegos"]',
        }
        self.from_n2(RoomsSet("bob", ("juegos",), "", self.v()))
        self.assertIn(("HGETALL", "t:users:n2"), self.link.commands)
        self.assertIn("bob", self.room.presence.nodes["n2"].users)
