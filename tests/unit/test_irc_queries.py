"""Unit tests of twisted_chat.irc.queries and of what it added to the command table's own
commands: ``ISON``, ``USERHOST``, ``VERSION``, ``INFO``, ``ADMIN``, ``USERS``,
``INVITE`` (and its limit), ``CHANLIMIT`` (``405``), the ``005`` lines, user mode ``+i`` and
what ``WHO`` and ``LUSERS`` make of it; across two nodes, ``ISON``, ``USERHOST`` and
``INVITE`` over the in-memory link. No sockets, a ``Clock`` for time.

The same over real sockets: tests/inprocess/test_irc_queries.py.
"""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fake_link import DONE_SCRIPTS, cluster_chat, start_beside_n2
from tests.support.fakes import Client, Clients, tcp_factory
from tests.support.logs import LogEvents, capture, is_error
from twisted_chat.assembly import RoomPlan, assemble
from twisted_chat.cluster import envelope
from twisted_chat.cluster.envelope import Origin
from twisted_chat.cluster.events import RoomsSet, UserJoined, UserNotice
from twisted_chat.events import Notice, Text
from twisted_chat.irc.commands import ISUPPORT_PER_LINE, NAMES_CHUNK, IrcCommands
from twisted_chat.irc.protocol import IrcFactory
from twisted_chat.irc.queries import INVITE_BURST, INVITE_WINDOW, USERHOST_MAX
from twisted_chat.irc.render import IrcRenderer
from twisted_chat.irc.session import IrcSession
from twisted_chat.limits import Limits
from twisted_chat.roomnames import DEFAULT_MAX_CHANNELS as CHANLIMIT
from twisted_chat.text import ENGLISH, SPANISH, Language
from twisted_chat.wire import LineRenderer

SERVER = "irc.test"


class IrcQueriesTests(SynchronousTestCase):
    """One node: IRC users ``ana`` and ``bob``, a line user ``lina`` (in ``#general``)."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1796569200)  # 2026-12-06 (a Sunday) 15:00:00 UTC
        self.parts = assemble(
            SPANISH,
            self.clock,
            limits=Limits(flood_rate=0, max_per_ip=0),
            rooms=RoomPlan(max_rooms=CHANLIMIT + 10),
        )
        irc = IrcCommands(self.parts.core, self.parts.rooms, self.parts.language, SERVER)
        self.irc = IrcFactory(self.parts.server, irc)
        self.lines = tcp_factory(self.parts)
        self.clients = Clients()
        self.ana = self.irc_login("ana")
        self.bob = self.irc_login("bob")
        self.lina = self.clients.connect(self.lines)
        self.lina.send("lina\n")
        self.clients.drain()

    def irc_login(self, nick: str) -> Client:
        client = self.clients.connect(self.irc)  # type: ignore[arg-type]
        client.send(f"NICK {nick}\r\nUSER {nick} 0 * :{nick} real\r\n")
        lines = client.received()
        assert any(f" 001 {nick} " in line for line in lines), lines
        return client

    def ask(self, client: Client, line: str) -> list[str]:
        """``line`` sent by ``client``, and what it got back."""
        client.send(line + "\r\n")
        return client.received()

    # -- ISON and USERHOST ---------------------------------------------------------------------

    def test_ison_lists_who_is_here_as_spelled_each_once(self) -> None:
        self.assertEqual(
            self.ask(self.ana, "ISON BOB nadie lina bob"), [f":{SERVER} 303 ana :bob lina"]
        )
        self.assertEqual(self.ask(self.ana, "ISON :nadie otro"), [f":{SERVER} 303 ana :"])
        self.assertEqual(
            self.ask(self.ana, "ISON"), [f":{SERVER} 461 ana ISON :Not enough parameters"]
        )

    def test_ison_reply_stays_one_irc_line(self) -> None:
        nicks = [f"usuario_largo_{i:06d}" for i in range(23)]  # 20 characters each
        for nick in nicks:
            self.irc_login(nick)
        [reply] = self.ask(self.ana, "ISON :" + " ".join(nicks))
        listed = reply.split(" :", 1)[1].split()
        self.assertEqual(listed, nicks[: NAMES_CHUNK // 21])
        self.assertLessEqual(len(reply.encode()) + 2, 512)

    def test_userhost_away_and_at_most_five(self) -> None:
        self.ask(self.bob, "AWAY :comiendo")
        self.assertEqual(
            self.ask(self.ana, "USERHOST bob LINA nadie"),
            [f":{SERVER} 302 ana :bob=-bob@{SERVER} lina=+lina@{SERVER}"],
        )
        [reply] = self.ask(self.ana, "USERHOST " + " ".join(["ana"] * (USERHOST_MAX + 2)))
        self.assertEqual(reply.count("ana=+ana@"), USERHOST_MAX)

    # -- the server -----------------------------------------------------------------------------

    def test_version_says_351_then_the_005_lines(self) -> None:
        lines = self.ask(self.ana, "VERSION")
        self.assertRegex(lines[0], rf"^:{SERVER} 351 ana twisted-chat-\S+\. {SERVER} :")
        isupport = lines[1:]
        self.assertGreaterEqual(len(isupport), 2)
        for line in isupport:
            self.assertIn(" 005 ana ", line)
            self.assertTrue(line.endswith(" :are supported by this server"), line)
            tokens = line.split(" :")[0].split()[3:]
            self.assertLessEqual(len(tokens), ISUPPORT_PER_LINE)
        self.assertIn(f" CHANLIMIT=#:{CHANLIMIT} ", " ".join(isupport))
        self.assertEqual(
            self.ask(self.ana, "VERSION otro.server"),
            [f":{SERVER} 402 ana otro.server :No such server"],
        )

    def test_info_admin_users(self) -> None:
        info = self.ask(self.ana, "INFO")
        self.assertTrue(all(" 371 ana :" in line for line in info[:-1]), info)
        self.assertEqual(info[-1], f":{SERVER} 374 ana :End of INFO list")
        self.assertEqual(
            self.ask(self.ana, "ADMIN"),
            [f":{SERVER} 423 ana {SERVER} :No administrative info available"],
        )
        self.assertEqual(
            self.ask(self.ana, "USERS"), [f":{SERVER} 446 ana :USERS has been disabled"]
        )

    # -- INVITE -------------------------------------------------------------------------------

    def test_invite_an_irc_user_and_a_line_user(self) -> None:
        self.ask(self.ana, "JOIN #Juegos")
        self.ask(self.bob, "AWAY :fuera")
        self.assertEqual(
            self.ask(self.ana, "INVITE BOB #juegos"),
            [f":{SERVER} 341 ana bob #juegos", f":{SERVER} 301 ana bob :fuera"],
        )
        self.assertEqual(self.bob.received(), [f":ana!ana@{SERVER} INVITE bob #juegos"])
        self.assertEqual(
            self.ask(self.ana, "INVITE lina #juegos"), [f":{SERVER} 341 ana lina #juegos"]
        )
        self.assertEqual(self.lina.received(), ["* ana te invita a la sala Juegos: /unirse Juegos"])

    def test_invite_errors(self) -> None:
        self.ask(self.ana, "JOIN #juegos")
        self.ask(self.bob, "JOIN #otra")
        self.assertEqual(
            self.ask(self.ana, "INVITE nadie #juegos"),
            [f":{SERVER} 401 ana nadie :No such nick/channel"],
        )
        self.assertEqual(
            self.ask(self.ana, "INVITE bob #nada"), [f":{SERVER} 403 ana #nada :No such channel"]
        )
        self.assertEqual(
            self.ask(self.ana, "INVITE lina #otra"),
            [f":{SERVER} 442 ana #otra :You're not on that channel"],
        )
        self.assertEqual(
            self.ask(self.bob, "INVITE ana #otra"),
            [f":{SERVER} 341 bob ana #otra"],
        )
        self.assertEqual(self.ana.received(), [f":bob!bob@{SERVER} INVITE ana #otra"])
        self.ask(self.bob, "JOIN #juegos")
        self.ana.received()
        self.assertEqual(
            self.ask(self.ana, "INVITE Bob #juegos"),
            [f":{SERVER} 443 ana bob #juegos :is already on channel"],
        )
        self.assertEqual(
            self.ask(self.ana, "INVITE bob"), [f":{SERVER} 461 ana INVITE :Not enough parameters"]
        )
        self.assertEqual(self.lina.received(), [])

    def test_invitations_are_limited(self) -> None:
        self.ask(self.ana, "JOIN #juegos")
        for _ in range(INVITE_BURST):
            self.assertEqual(len(self.ask(self.ana, "INVITE lina #juegos")), 1)
        self.assertEqual(
            self.ask(self.ana, "INVITE bob #juegos"),
            [f":{SERVER} 263 ana INVITE :Please wait a while and try again."],
        )
        self.assertEqual(len(self.lina.received()), INVITE_BURST)
        self.assertEqual(self.bob.received(), [])
        self.clock.advance(INVITE_WINDOW)
        self.assertEqual(
            self.ask(self.ana, "INVITE bob #juegos"), [f":{SERVER} 341 ana bob #juegos"]
        )
        session = self.ana.protocol.session
        assert isinstance(session, IrcSession)
        self.assertEqual(len(session.invites), 1)  # the window keeps only the recent ones

    # -- CHANLIMIT ----------------------------------------------------------------------------

    def test_at_most_chanlimit_rooms_per_irc_user(self) -> None:
        names = ",".join(f"#s{i}" for i in range(CHANLIMIT))
        self.ask(self.ana, f"JOIN {names}")
        self.assertEqual(
            self.ask(self.ana, "JOIN #una_mas"),
            [f":{SERVER} 405 ana #una_mas :You have joined too many channels"],
        )
        self.assertIsNone(self.parts.room.find_room("una_mas"))
        self.assertEqual(self.ask(self.ana, "JOIN #s0"), [])  # in it already: nothing
        self.ask(self.bob, "JOIN #ajena")
        self.assertEqual(
            self.ask(self.ana, "JOIN #ajena"),
            [f":{SERVER} 405 ana #ajena :You have joined too many channels"],
        )
        self.ask(self.ana, "PART #s0")
        self.assertIn(f":ana!ana@{SERVER} JOIN #ajena", self.ask(self.ana, "JOIN #ajena"))

    # -- +i -----------------------------------------------------------------------------------

    def test_user_mode_i(self) -> None:
        self.assertEqual(self.ask(self.ana, "MODE ana +i"), [f":ana!ana@{SERVER} MODE ana :+i"])
        self.assertEqual(self.ask(self.ana, "MODE ana +i"), [])  # set already
        self.assertEqual(self.ask(self.ana, "MODE ana"), [f":{SERVER} 221 ana +i"])
        self.assertEqual(
            self.ask(self.ana, "MODE ana -i+w"),
            [f":{SERVER} 501 ana :Unknown MODE flag", f":ana!ana@{SERVER} MODE ana :-i"],
        )
        self.assertEqual(self.ask(self.ana, "MODE ana"), [f":{SERVER} 221 ana +"])
        self.assertEqual(
            self.ask(self.ana, "MODE bob +i"),
            [f":{SERVER} 502 ana :Can't view or change the modes of other users"],
        )

    def who(self, client: Client, mask: str) -> list[str]:
        """The nicknames of ``WHO mask``'s replies to ``client``."""
        return [line.split()[7] for line in self.ask(client, f"WHO {mask}") if " 352 " in line]

    def test_invisible_users_hidden_from_who_masks_of_strangers(self) -> None:
        self.ask(self.ana, "MODE ana +i")
        self.assertEqual(self.who(self.bob, "*"), ["bob", "lina"])
        self.assertEqual(self.who(self.bob, "a*"), [])
        self.assertEqual(self.who(self.bob, "ana"), ["ana"])  # a nickname: shown
        self.assertEqual(self.who(self.ana, "a*"), ["ana"])  # itself
        self.ask(self.ana, "JOIN #juegos")
        self.assertEqual(self.who(self.bob, "#juegos"), [])  # a room bob is not in
        self.ask(self.bob, "JOIN #juegos")
        self.assertEqual(self.who(self.bob, "a*"), ["ana"])  # they share a room
        self.assertEqual(self.who(self.bob, "#juegos"), ["ana", "bob"])
        lusers = self.ask(self.bob, "LUSERS")
        self.assertIn(f":{SERVER} 251 bob :There are 2 users and 1 invisible on 1 servers", lusers)

    def test_the_chat_s_own_list_still_shows_everyone(self) -> None:
        self.ask(self.ana, "MODE ana +i")
        self.lina.send("/listar\n")
        [line] = self.lina.received()
        self.assertIn("ana", line)


class InviteRenderTests(SynchronousTestCase):
    """The invitation as each renderer writes it (a notice's catalogue key and arguments)."""

    def setUp(self) -> None:
        self.notice = Notice("x1", 0, None, Text("room_invited", nick="ana", room="Juegos"))

    def test_irc_invite_line(self) -> None:
        renderer = IrcRenderer(Language(SPANISH), SERVER, {"server-time", "message-tags"})
        self.assertEqual(
            renderer.render_to(self.notice, "bob"), b":ana!ana@irc.test INVITE bob #juegos\r\n"
        )

    def test_line_users_in_each_language(self) -> None:
        self.assertEqual(
            LineRenderer(Language(SPANISH)).render(self.notice),
            b"* ana te invita a la sala Juegos: /unirse Juegos\r\n",
        )
        self.assertEqual(
            LineRenderer(Language(ENGLISH)).render(self.notice),
            b"* ana invites you to the room Juegos: /join Juegos\r\n",
        )


class ClusterQueriesTests(SynchronousTestCase):
    """Node n1 with the IRC user ``ana``; ``Bob`` a user of node n2 (its events over the
    in-memory link)."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.parts, self.room, self.link = cluster_chat(self.clock, rooms=RoomPlan(max_rooms=8))
        irc = IrcCommands(self.parts.core, self.parts.rooms, self.parts.language, SERVER)
        self.irc = IrcFactory(self.parts.server, irc)
        self.clients = Clients()
        start_beside_n2(
            self.room,
            self.link,
            done=(*DONE_SCRIPTS, "rooms_set"),
            answers={"room_claim": [1, "ours"]},
            n2_users_hash=False,
        )
        self.ana = self.clients.connect(self.irc)  # type: ignore[arg-type]
        self.ana.send("NICK ana\r\nUSER ana 0 * :Ana\r\n")
        self.clock.advance(1)
        self.from_n2(UserJoined("bob", "Bob", 2), RoomsSet("bob", (), "", 3, quiet=True))
        self.ana.received()

    def tearDown(self) -> None:
        self.room.membership.stop()

    def from_n2(self, *events: object) -> None:
        message = envelope.encode(Origin("n2", "n2/x"), list(events))  # type: ignore[arg-type]
        self.link.on_message("t:room", message)
        self.clock.advance(1)

    def ask(self, line: str) -> list[str]:
        self.ana.send(line + "\r\n")
        self.clock.advance(0)
        return self.ana.received()

    def test_ison_and_userhost_see_the_other_node(self) -> None:
        self.assertEqual(self.ask("ISON bob nadie"), [f":{SERVER} 303 ana :Bob"])
        self.assertEqual(self.ask("USERHOST bob"), [f":{SERVER} 302 ana :Bob=+Bob@{SERVER}"])

    def test_invite_reaches_a_user_of_another_node_through_its_node(self) -> None:
        self.ask("JOIN #juegos")
        self.link.published.clear()
        self.assertEqual(self.ask("INVITE bob #juegos"), [f":{SERVER} 341 ana Bob #juegos"])
        [(channel, message)] = self.link.published
        self.assertEqual(channel, "t:to:n2")
        [tell] = message.events
        assert isinstance(tell, UserNotice)
        self.assertEqual(tell.nickname, "Bob")
        self.assertEqual(
            (tell.event.text.key, tell.event.text.args),
            ("room_invited", {"nick": "ana", "room": "juegos"}),
        )

    def test_an_invitation_from_another_node_is_an_invite_here(self) -> None:
        notice = Notice("n2-1", 0, None, Text("room_invited", nick="Bob", room="Otra"))
        self.link.on_message(
            "t:to:n1", envelope.encode(Origin("n2", "n2/x"), [UserNotice("ana", notice)])
        )
        self.clock.advance(0)
        self.assertEqual(self.ana.received(), [f":Bob!Bob@{SERVER} INVITE ana #otra"])

    def test_a_notice_this_release_does_not_know_is_dropped(self) -> None:
        """A newer node's notice whose catalogue entry this node lacks: dropped with a warning,
        the user's connection kept (saying it would raise, and fail the delivery)."""
        notice = Notice("n2-2", 0, None, Text("no_such_entry", nick="Bob"))
        with capture(LogEvents(is_error)) as errors:
            self.link.on_message(
                "t:to:n1", envelope.encode(Origin("n2", "n2/x"), [UserNotice("ana", notice)])
            )
            self.clock.advance(0)
        self.assertEqual(self.ana.received(), [])
        self.assertFalse(self.ana.closing)
        self.assertEqual(errors.events, [])
        self.assertEqual(self.ask("ISON ana"), [f":{SERVER} 303 ana :ana"])
