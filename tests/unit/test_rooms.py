"""Unit tests of rooms (protocol v1.1, issue 14; docs/PROTOCOL.md, "Version 1.1: rooms").

The real :class:`ChatCore`, :class:`ChatServer` and :class:`RoomCommands`, assembled as a server
assembles them, with clients from :mod:`tests.support.fakes` on ``StringTransport`` doubles and a
``Clock``: room names, ``/salas``, ``/unirse``, ``/sala``, ``/tema``, permanent rooms,
``--max-rooms``, where messages and join/leave notices go (gathered or not), the room operator,
server operators, and the validation of ``--default-room``, ``--room`` and ``--max-rooms``.
Expected lines are written out literally (:mod:`tests.support.expected`).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from tests.support.expected import (
    CONTROL,
    ROOM_USAGE,
    TOPIC_CONTROL,
    announcement,
    conectados,
    joined,
    kick_done,
    kicked,
    left,
    no_topic,
    room_invalid,
    room_joined,
    room_left,
    rooms_full,
    sala,
    salas,
    tema,
    topic_denied,
    topic_denied_permanent,
    topic_set,
    topic_too_long,
    welcome,
)
from tests.support.fakes import EPOCH, Client, Clients, FakeSession, tcp_factory
from tests.support.logs import record_logs
from tests.unit import test_operators as operator_tests
from twisted_chat import roomnames
from twisted_chat.assembly import RoomPlan, assemble
from twisted_chat.limits import Limits
from twisted_chat.notices import MAX_NOTICE_DELAY
from twisted_chat.room import ChatRoom
from twisted_chat.rooms import RoomCommands
from twisted_chat.settings import ChatSettings, validate
from twisted_chat.tap import Options
from twisted_chat.text import ENGLISH, SPANISH, Catalogue


class RoomsTestCase(SynchronousTestCase):
    """Base: a chat with the rooms of :attr:`plan`, join/leave notices written at once unless
    :attr:`gather` (as a real server does), and helpers to log in and talk."""

    texts: ClassVar[Catalogue] = SPANISH
    plan: ClassVar[RoomPlan] = RoomPlan()
    gather: ClassVar[bool] = False

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(EPOCH.timestamp())
        self.parts = assemble(
            self.texts,
            self.clock,
            limits=Limits(flood_rate=0, max_strikes=0, max_per_ip=0),
            rooms=self.plan,
            gather_notices=self.gather,
        )
        self.room = self.parts.room
        self.factory = tcp_factory(self.parts)
        self.clients = Clients()

    def login(self, nickname: str) -> Client:
        """A new connection logged in as ``nickname``; everyone's output is then cleared."""
        client = self.clients.connect(self.factory)
        client.send(nickname + "\r\n")
        lines = client.received()
        if not lines or lines[-1] != f"* {self.texts.welcome.format(nick=nickname)}":
            raise AssertionError(f"login as {nickname!r} failed: {lines!r}")
        self.flush()
        self.clients.drain()
        return client

    def flush(self) -> None:
        """Let any gathered join/leave notices go out."""
        self.clock.advance(MAX_NOTICE_DELAY)

    def say(self, client: Client, line: str) -> list[str]:
        """Send ``line``; what ``client`` got for it (what it had received before is dropped)."""
        client.received()
        client.send(line + "\r\n")
        return client.received()

    def move(self, client: Client, room: str) -> list[str]:
        """``/unirse room``; what ``client`` got for it (the others' notices left unread)."""
        return self.say(client, f"/unirse {room}")

    def where(self, client: Client) -> str:
        """The room line of ``client``'s room."""
        return self.say(client, "/sala")[0]

    def assertNothingReceived(self, *clients: Client) -> None:
        """None of ``clients`` got anything."""
        for client in clients:
            self.assertEqual(client.received(), [], client.protocol.nickname)


class RoomNameTests(SynchronousTestCase):
    """:mod:`twisted_chat.roomnames`: normalisation, validation and the identity key."""

    def test_normalize(self) -> None:
        self.assertEqual(roomnames.normalize("juegos"), "juegos")
        self.assertEqual(roomnames.normalize(" \tjuegos \t"), "juegos")
        self.assertEqual(roomnames.normalize("#juegos"), "juegos")
        self.assertEqual(roomnames.normalize("##juegos"), "#juegos")  # one # only
        self.assertEqual(roomnames.normalize("#"), "")
        self.assertEqual(roomnames.normalize("Jose\u0301"), "José")

    def test_valid(self) -> None:
        for name in [
            "a",
            "Z",
            "0",
            "2026",
            "9a",
            "a_b-c",
            "x" * 32,
            "Ñandú",
            "ÀÖØöøÿ",
            "ß",
            "año-2026_final",
        ]:
            self.assertTrue(roomnames.is_valid(name), name)

    def test_invalid(self) -> None:
        for name in [
            "",
            "x" * 33,
            "_a",
            "-a",
            "a b",
            "a\tb",
            "#a",
            "a.b",
            "a/b",
            "Ωmega",  # not Latin-1
            "a\N{MULTIPLICATION SIGN}b",
            "a\N{DIVISION SIGN}b",
            "\N{FULLWIDTH LATIN SMALL LETTER A}",
            "e\u0301",  # not NFC: is_valid takes a normalised name
            "a\n",
        ]:
            self.assertFalse(roomnames.is_valid(name), repr(name))

    def test_key_is_the_casefold(self) -> None:
        self.assertEqual(roomnames.key("Juegos"), "juegos")
        self.assertEqual(roomnames.key("JUEGOS"), roomnames.key("juegos"))
        self.assertEqual(roomnames.key("Straße"), roomnames.key("STRASSE"))
        self.assertEqual(roomnames.key("ÑANDÚ"), roomnames.key("ñandú"))
        self.assertEqual(roomnames.key("Jose\u0301"), roomnames.key("JOSÉ"))
        self.assertNotEqual(roomnames.key("José"), roomnames.key("Jose"))


class JoinTests(RoomsTestCase):
    """``/unirse SALA`` (``/join``): leave the room, enter SALA (created if new), see it."""

    def test_login_puts_you_in_the_default_room(self) -> None:
        ana = self.login("ana")
        self.assertEqual(self.say(ana, "/sala"), [sala("general", "ana"), no_topic("general")])

    def test_create_a_room(self) -> None:
        ana = self.login("ana")
        bob = self.login("bob")
        self.assertEqual(self.move(ana, "juegos"), [sala("juegos", "@ana")])
        self.assertEqual(bob.received(), [room_left("ana", "general")])
        self.assertEqual(self.say(bob, "/salas"), [salas(("general", 1), ("juegos", 1))])

    def test_join_an_existing_room(self) -> None:
        ana, bob, carol = self.login("ana"), self.login("Bob"), self.login("carol")
        self.move(ana, "juegos")
        self.move(carol, "juegos")
        self.clients.drain()
        self.assertEqual(self.move(bob, "juegos"), [sala("juegos", "@ana", "Bob", "carol")])
        self.assertEqual(ana.received(), [room_joined("Bob", "juegos")])
        self.assertEqual(carol.received(), [room_joined("Bob", "juegos")])

    def test_english_alias_and_case(self) -> None:
        ana = self.login("ana")
        self.assertEqual(self.say(ana, "/JOIN juegos"), [sala("juegos", "@ana")])
        self.assertEqual(self.say(ana, "/Unirse general"), [sala("general", "ana")])

    def test_the_room_you_are_in_shows_it_again_without_notices(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.move(ana, "juegos")
        self.move(bob, "juegos")
        self.clients.drain()
        self.assertEqual(self.move(ana, "JUEGOS"), [sala("juegos", "@ana", "bob")])
        self.assertEqual(self.move(ana, "#juegos"), [sala("juegos", "@ana", "bob")])
        self.assertNothingReceived(bob)
        self.say(ana, "/tema dados")
        self.clients.drain()
        self.assertEqual(self.move(ana, "juegos"), [sala("juegos", "@ana", "bob"), tema("dados")])
        self.assertNothingReceived(bob)
        self.assertEqual(self.move(bob, "general"), [sala("general", "bob")])

    def test_topic_line_after_the_room_line(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.move(ana, "juegos")
        self.say(ana, "/tema partida a las 9")
        self.assertEqual(
            self.move(bob, "juegos"), [sala("juegos", "@ana", "bob"), tema("partida a las 9")]
        )

    def test_hash_before_the_name_is_ignored(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.assertEqual(self.move(ana, "#juegos"), [sala("juegos", "@ana")])
        self.assertEqual(self.move(bob, "juegos"), [sala("juegos", "@ana", "bob")])

    def test_identity_is_the_casefold_and_the_creator_spelling_is_shown(self) -> None:
        ana, bob, carol = self.login("ana"), self.login("bob"), self.login("carol")
        self.assertEqual(self.move(ana, "Straße"), [sala("Straße", "@ana")])
        self.assertEqual(self.move(bob, "STRASSE"), [sala("Straße", "@ana", "bob")])
        self.assertEqual(self.move(carol, "strasse"), [sala("Straße", "@ana", "bob", "carol")])
        self.assertEqual(self.say(carol, "/salas"), [salas(("general", 0), ("Straße", 3))])

    def test_nfc(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.assertEqual(self.move(ana, "Jose\u0301"), [sala("José", "@ana")])
        self.assertEqual(self.move(bob, "JOSÉ"), [sala("José", "@ana", "bob")])
        self.assertEqual(self.say(bob, "/salas"), [salas(("general", 0), ("José", 2))])

    def test_accented_and_plain_are_different_rooms(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.move(ana, "José")
        self.assertEqual(self.move(bob, "Jose"), [sala("Jose", "@bob")])

    def test_latin1_letters_and_digits(self) -> None:
        ana = self.login("ana")
        for name in ["Ñandú", "ÀÖØöøÿ", "2026", "9-b_c", "x" * 32]:
            self.assertEqual(self.move(ana, name), [sala(name, "@ana")], name)

    def test_invalid_names_get_one_line_and_you_stay(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.move(ana, "juegos")
        self.clients.drain()
        for typed, shown in [
            ("x" * 33, "x" * 33),
            ("_juegos", "_juegos"),
            ("-juegos", "-juegos"),
            ("mis juegos", "mis juegos"),
            ("##juegos", "#juegos"),
            ("# juegos", " juegos"),
            ("Ωmega", "Ωmega"),
            ("a.b", "a.b"),
            ("a\N{MULTIPLICATION SIGN}b", "a\N{MULTIPLICATION SIGN}b"),
        ]:
            self.assertEqual(self.move(ana, typed), [room_invalid(shown)], typed)
        self.assertEqual(self.where(ana), sala("juegos", "@ana"))
        self.assertEqual(self.say(ana, "/salas"), [salas(("general", 1), ("juegos", 1))])
        self.assertNothingReceived(bob)

    def test_missing_name_gets_the_usage_line(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        for line in ["/unirse", "/unirse ", "/unirse \t ", "/join #", "/unirse  # "]:
            self.assertEqual(self.say(ana, line), [ROOM_USAGE], line)
        self.assertEqual(self.where(ana), sala("general", "ana", "bob"))
        self.assertNothingReceived(bob)

    def test_spaces_around_the_name_are_ignored(self) -> None:
        ana = self.login("ana")
        self.assertEqual(self.say(ana, "/unirse \t juegos \t"), [sala("juegos", "@ana")])

    def test_members_sorted_by_casefold_with_the_operator_marked(self) -> None:
        zoe = self.login("Zoe")
        self.move(zoe, "juegos")
        for nick in ["carol", "Bob", "Ñu", "ana"]:
            self.move(self.login(nick), "juegos")
        self.assertEqual(self.where(zoe), sala("juegos", "ana", "Bob", "carol", "@Zoe", "Ñu"))

    def test_the_mover_gets_no_notice_of_its_own(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.move(bob, "juegos")
        self.clients.drain()
        self.assertEqual(self.move(ana, "juegos"), [sala("juegos", "ana", "@bob")])
        self.assertEqual(self.move(ana, "general"), [sala("general", "ana")])
        self.assertEqual(bob.received(), [room_joined("ana", "juegos"), room_left("ana", "juegos")])

    def test_a_third_room_hears_nothing(self) -> None:
        ana, bob, carol = self.login("ana"), self.login("bob"), self.login("carol")
        self.move(carol, "cine")
        self.move(bob, "juegos")
        self.clients.drain()
        self.move(ana, "juegos")
        self.assertNothingReceived(carol)


class DefaultRoomTests(RoomsTestCase):
    """``--default-room``: where a login puts you; it is permanent."""

    plan = RoomPlan(default="Lobby")

    def test_login_puts_you_in_the_default_room(self) -> None:
        ana = self.login("ana")
        self.assertEqual(self.where(ana), sala("Lobby", "ana"))
        self.move(ana, "general")
        self.assertEqual(self.say(ana, "/salas"), [salas(("general", 1), ("Lobby", 0))])
        self.assertEqual(self.move(ana, "LOBBY"), [sala("Lobby", "ana")])


class RoomListTests(RoomsTestCase):
    """``/salas`` (``/rooms``): every room, sorted by casefold name, with its member count."""

    plan = RoomPlan(permanent=("Lobby", "anuncios"))

    def test_permanent_rooms_listed_with_zero(self) -> None:
        ana = self.login("ana")
        self.assertEqual(
            self.say(ana, "/salas"), [salas(("anuncios", 0), ("general", 1), ("Lobby", 0))]
        )
        self.assertEqual(
            self.say(ana, "/ROOMS"), [salas(("anuncios", 0), ("general", 1), ("Lobby", 0))]
        )

    def test_sorted_by_casefold_name_with_counts(self) -> None:
        ana, bob, carol, dave = (self.login(n) for n in ["ana", "bob", "carol", "dave"])
        self.move(ana, "Zeta")
        self.move(bob, "beta")
        self.move(carol, "Beta2")
        self.move(dave, "zeta")
        self.assertEqual(
            self.say(ana, "/salas"),
            [
                salas(
                    ("anuncios", 0),
                    ("beta", 1),
                    ("Beta2", 1),
                    ("general", 0),
                    ("Lobby", 0),
                    ("Zeta", 2),
                )
            ],
        )

    def test_arguments_are_ignored(self) -> None:
        ana = self.login("ana")
        self.assertEqual(len(self.say(ana, "/salas todas")), 1)


class RoomModeTests(RoomsTestCase):
    """The modes IRC's ``MODE`` sets (docs/IRC.md, "Channel modes") as line users live them:
    a secret room is not in outsiders' ``/salas``; in a moderated one only the operator,
    voiced members and server operators speak; voice follows a rename and goes with a part."""

    def chatroom(self, name: str) -> ChatRoom:
        found = self.room.find_room(name)
        assert found is not None
        return found

    def test_secret_rooms_are_listed_to_their_members_only(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.move(ana, "Zeta")
        zeta = self.chatroom("zeta")
        self.room.set_modes(zeta, secret=True, moderated=False, voiced=())
        self.assertEqual(self.say(bob, "/salas"), [salas(("general", 1))])
        self.assertEqual(self.say(ana, "/salas"), [salas(("general", 1), ("Zeta", 1))])
        self.move(bob, "zeta")  # secret is not closed: anyone may come in
        self.assertEqual(self.say(bob, "/salas"), [salas(("general", 0), ("Zeta", 2))])
        self.assertEqual(zeta.modes(), "+nts")

    def test_moderated_room(self) -> None:
        ana, bob, carol = self.login("ana"), self.login("bob"), self.login("carol")
        self.move(ana, "zeta")  # its operator
        self.move(bob, "zeta")
        self.move(carol, "zeta")
        zeta = self.chatroom("zeta")
        self.room.set_modes(zeta, secret=False, moderated=True, voiced=["carol", "nadie"])
        self.assertEqual(zeta.voiced, {"carol"})  # members only
        self.assertEqual(zeta.modes(), "+mnt")
        self.clients.drain()
        self.assertEqual(
            self.say(bob, "hola"),
            ["! La sala zeta es moderada: solo hablan su operador y quien tiene voz."],
        )
        self.assertEqual(  # an action is a public message: held back the same
            self.say(bob, "/me grita"),
            ["! La sala zeta es moderada: solo hablan su operador y quien tiene voz."],
        )
        self.assertNothingReceived(ana, carol)
        self.say(carol, "tengo voz")
        self.assertEqual(ana.received(), ["<carol> tengo voz"])
        self.assertEqual(bob.received(), ["<carol> tengo voz"])
        self.say(ana, "y yo")
        self.assertEqual(bob.received(), ["<ana> y yo"])
        # voice follows a rename, and goes when the member leaves the room
        self.say(carol, "/nick carola")
        self.assertEqual(zeta.voiced, {"carola"})
        self.clock.advance(11)
        self.move(carol, "general")
        self.assertEqual(zeta.voiced, set())
        self.room.set_modes(zeta, secret=False, moderated=False, voiced=())
        self.say(bob, "ya")
        self.assertEqual(ana.received()[-1], "<bob> ya")


class VanishingRoomTests(RoomsTestCase):
    """A room that is not permanent disappears, topic and all, with its last member."""

    plan = RoomPlan(permanent=("Lobby",))

    def test_last_member_switching_away(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.move(ana, "juegos")
        self.say(ana, "/tema dados")
        self.move(ana, "general")
        self.assertEqual(self.say(bob, "/salas"), [salas(("general", 2), ("Lobby", 0))])
        self.assertIsNone(self.room.find_room("juegos"))
        # Created again: a new room, no topic, its new creator the operator.
        self.assertEqual(self.move(bob, "JUEGOS"), [sala("JUEGOS", "@bob")])
        self.assertEqual(self.say(bob, "/tema"), [no_topic("JUEGOS")])

    def test_last_member_disconnecting(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.move(ana, "juegos")
        self.say(ana, "/tema dados")
        ana.lose()
        self.assertEqual(self.say(bob, "/salas"), [salas(("general", 1), ("Lobby", 0))])
        self.assertEqual(self.move(bob, "juegos"), [sala("juegos", "@bob")])
        self.assertEqual(self.say(bob, "/sala"), [sala("juegos", "@bob"), no_topic("juegos")])

    def test_kept_while_someone_is_in_it(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.move(ana, "juegos")
        self.say(ana, "/tema dados")
        self.move(bob, "juegos")
        ana.lose()
        self.assertEqual(self.say(bob, "/sala"), [sala("juegos", "bob"), tema("dados")])

    def test_permanent_rooms_stay_empty_with_their_topic(self) -> None:
        ana = self.login("ana")
        self.move(ana, "Lobby")
        self.room.set_topic(self.room.rooms["lobby"], "bienvenidos", "ops")
        self.move(ana, "general")
        self.assertEqual(self.say(ana, "/salas"), [salas(("general", 1), ("Lobby", 0))])
        self.assertEqual(self.move(ana, "lobby"), [sala("Lobby", "ana"), tema("bienvenidos")])
        ana.lose()
        self.assertEqual(self.room.rooms["lobby"].topic, "bienvenidos")
        self.assertEqual(self.room.rooms["general"].topic, None)


class MaxRoomsTests(RoomsTestCase):
    """``--max-rooms``: how many rooms may exist at once, permanent ones included."""

    plan = RoomPlan(permanent=("Lobby",), max_rooms=3)

    def test_the_next_creation_is_refused_with_one_line(self) -> None:
        ana, bob, carol = self.login("ana"), self.login("bob"), self.login("carol")
        self.assertEqual(self.move(ana, "juegos"), [sala("juegos", "@ana")])
        self.clients.drain()
        self.assertEqual(self.move(bob, "cine"), [rooms_full(3)])
        self.assertEqual(self.where(bob), sala("general", "bob", "carol"))
        self.assertNothingReceived(ana, carol)
        self.assertEqual(
            self.say(bob, "/salas"), [salas(("general", 2), ("juegos", 1), ("Lobby", 0))]
        )
        # Existing rooms can still be joined.
        self.assertEqual(self.move(bob, "juegos"), [sala("juegos", "@ana", "bob")])
        self.assertEqual(self.move(carol, "lobby"), [sala("Lobby", "carol")])

    def test_a_room_that_vanished_makes_place(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.move(ana, "juegos")
        self.assertEqual(self.move(bob, "cine"), [rooms_full(3)])
        self.move(ana, "general")
        self.assertEqual(self.move(bob, "cine"), [sala("cine", "@bob")])

    def test_one_room_only(self) -> None:
        self.setUp_with(RoomPlan(max_rooms=1))
        ana = self.login("ana")
        self.assertEqual(self.move(ana, "juegos"), [rooms_full(1)])
        self.assertEqual(self.where(ana), sala("general", "ana"))

    def setUp_with(self, plan: RoomPlan) -> None:
        """Start over with the rooms of ``plan``."""
        self.plan = plan  # type: ignore[misc]
        self.setUp()


class TopicTests(RoomsTestCase):
    """``/tema`` (``/topic``): show the topic, or set it (the room's operator here)."""

    plan = RoomPlan(permanent=("Lobby",))

    def setUp(self) -> None:
        super().setUp()
        self.ana, self.bob, self.carol = self.login("ana"), self.login("bob"), self.login("carol")
        self.move(self.ana, "juegos")
        self.move(self.bob, "juegos")
        self.clients.drain()

    def test_no_topic(self) -> None:
        self.assertEqual(self.say(self.bob, "/tema"), [no_topic("juegos")])
        self.assertEqual(self.say(self.bob, "/topic  \t"), [no_topic("juegos")])
        self.assertEqual(
            self.say(self.bob, "/sala"), [sala("juegos", "@ana", "bob"), no_topic("juegos")]
        )
        self.assertEqual(self.say(self.carol, "/tema"), [no_topic("general")])

    def test_the_room_operator_sets_it_and_every_member_is_told(self) -> None:
        self.assertEqual(
            self.say(self.ana, "/tema torneo el sábado"), [topic_set("ana", "torneo el sábado")]
        )
        self.assertEqual(self.bob.received(), [topic_set("ana", "torneo el sábado")])
        self.assertNothingReceived(self.carol)
        self.assertEqual(self.say(self.bob, "/tema"), [tema("torneo el sábado")])
        self.assertEqual(
            self.say(self.bob, "/room"), [sala("juegos", "@ana", "bob"), tema("torneo el sábado")]
        )
        self.assertEqual(self.say(self.ana, "/TOPIC otro"), [topic_set("ana", "otro")])
        self.assertEqual(self.say(self.bob, "/tema"), [tema("otro")])

    def test_anyone_else_gets_one_line_and_nothing_changes(self) -> None:
        self.say(self.ana, "/tema dados")
        self.clients.drain()
        self.assertEqual(self.say(self.bob, "/tema mío"), [topic_denied("juegos")])
        self.assertNothingReceived(self.ana, self.carol)
        self.assertEqual(self.say(self.bob, "/tema"), [tema("dados")])

    def test_the_permanent_default_room_only_for_server_operators(self) -> None:
        self.assertEqual(self.say(self.carol, "/tema hola"), [topic_denied_permanent("general")])
        self.assertEqual(self.say(self.carol, "/tema"), [no_topic("general")])
        self.move(self.carol, "lobby")
        self.assertEqual(self.say(self.carol, "/tema hola"), [topic_denied_permanent("Lobby")])

    def test_300_characters_but_not_301(self) -> None:
        self.assertEqual(self.say(self.ana, "/tema " + "x" * 301), [topic_too_long(301)])
        self.assertNothingReceived(self.bob)
        self.assertEqual(self.say(self.ana, "/tema"), [no_topic("juegos")])
        self.assertEqual(self.say(self.ana, "/tema " + "ñ" * 300), [topic_set("ana", "ñ" * 300)])
        self.assertEqual(self.say(self.bob, "/tema"), [tema("ñ" * 300)])

    def test_a_too_long_topic_is_refused_before_the_permission(self) -> None:
        self.assertEqual(self.say(self.bob, "/tema " + "x" * 301), [topic_too_long(301)])

    def test_spaces_around_the_topic_are_trimmed_inner_ones_kept(self) -> None:
        self.assertEqual(self.say(self.ana, "/tema  a  b \t"), [topic_set("ana", "a  b")])

    def test_control_characters_on_the_line_are_refused_by_the_line_check(self) -> None:
        self.assertEqual(self.say(self.ana, "/tema a\x1b[31mb"), [CONTROL])
        self.assertNothingReceived(self.bob)
        self.assertEqual(self.say(self.ana, "/tema"), [no_topic("juegos")])

    def test_control_characters_reaching_the_command(self) -> None:
        # The line check refuses them first; a path that bypasses it (another transport, a
        # cluster command) still meets the command's own check.
        commands: RoomCommands = self.parts.rooms
        fake = FakeSession()
        fake.nickname = "ana"
        # ``fake`` is not a member: its room is the default room, and it asks as a server
        # operator, so only the control characters stand in its way.
        commands.is_operator = lambda _session: True
        for topic in ["a\x1bb", "a\x00", "\x7f", "a\x85b", "a\rb", "a\nb"]:
            fake.delivered.clear()
            commands.tema(fake, topic)
            self.assertEqual(fake.delivered, [(TOPIC_CONTROL + "\r\n").encode()], repr(topic))
        self.assertIsNone(self.room.rooms["general"].topic)
        self.assertNothingReceived(self.ana, self.bob, self.carol)

    def test_a_tab_is_not_a_control_character(self) -> None:
        self.assertEqual(self.say(self.ana, "/tema a\tb"), [topic_set("ana", "a\tb")])

    def test_the_operator_is_lost_when_the_creator_disconnects(self) -> None:
        self.say(self.ana, "/tema dados")
        self.clients.drain()
        self.ana.lose()
        self.assertEqual(self.bob.received(), [left("ana")])
        self.assertEqual(self.say(self.bob, "/sala"), [sala("juegos", "bob"), tema("dados")])
        self.assertEqual(self.say(self.bob, "/tema mío"), [topic_denied("juegos")])
        # Back with the same nickname: not the operator any more.
        ana = self.login("ana")
        self.assertEqual(self.move(ana, "juegos"), [sala("juegos", "ana", "bob"), tema("dados")])
        self.assertEqual(self.say(ana, "/tema otro"), [topic_denied("juegos")])

    def test_the_creator_stays_the_operator_while_connected(self) -> None:
        self.move(self.ana, "general")
        self.assertEqual(self.where(self.bob), sala("juegos", "bob"))
        self.assertEqual(self.move(self.ana, "juegos"), [sala("juegos", "@ana", "bob")])
        self.assertEqual(self.say(self.ana, "/tema dados"), [topic_set("ana", "dados")])

    def test_the_operator_of_one_room_is_not_the_operator_of_another(self) -> None:
        self.move(self.carol, "cine")
        self.move(self.ana, "cine")
        self.assertEqual(self.say(self.ana, "/tema x"), [topic_denied("cine")])


class RoutingTests(RoomsTestCase):
    """Public lines stay in the room; private messages and ``/listar`` cross rooms."""

    def setUp(self) -> None:
        super().setUp()
        self.ana, self.bob, self.carol, self.dave = (
            self.login(n) for n in ["ana", "Bob", "carol", "dave"]
        )
        self.move(self.ana, "juegos")
        self.move(self.bob, "juegos")
        self.clients.drain()

    def test_a_public_line_reaches_the_other_members_of_the_room_only(self) -> None:
        self.assertEqual(self.say(self.ana, "hola sala"), [])
        self.assertEqual(self.bob.received(), ["<ana> hola sala"])
        self.assertNothingReceived(self.carol, self.dave)
        self.say(self.carol, "hola general")
        self.assertEqual(self.dave.received(), ["<carol> hola general"])
        self.assertNothingReceived(self.ana, self.bob)

    def test_private_messages_cross_rooms(self) -> None:
        self.assertEqual(self.say(self.ana, "#CAROL psst"), ["-> *carol* psst"])
        self.assertEqual(self.carol.received(), ["*ana* psst"])
        self.assertEqual(self.say(self.carol, "#bob hola"), ["-> *Bob* hola"])
        self.assertEqual(self.bob.received(), ["*carol* hola"])
        self.assertNothingReceived(self.ana, self.dave)

    def test_listar_lists_everyone_whatever_their_room(self) -> None:
        everyone = conectados("ana", "Bob", "carol", "dave")
        self.assertEqual(self.say(self.ana, "/listar"), [everyone])
        self.assertEqual(self.say(self.dave, "/list"), [everyone])

    def test_login_and_leave_notices_go_to_the_room_concerned(self) -> None:
        erin = self.login_keeping("erin")
        self.assertEqual(self.carol.received(), [joined("erin")])
        self.assertEqual(self.dave.received(), [joined("erin")])
        self.assertNothingReceived(self.ana, self.bob)
        erin.lose()
        self.assertEqual(self.carol.received(), [left("erin")])
        self.assertEqual(self.dave.received(), [left("erin")])
        self.assertNothingReceived(self.ana, self.bob)
        self.say(self.ana, "/salir")
        self.ana.lose()  # the server closed it; the transport double reports it
        self.assertEqual(self.bob.received(), [left("ana")])
        self.assertNothingReceived(self.carol, self.dave)

    def login_keeping(self, nickname: str) -> Client:
        """Log in ``nickname`` and leave the others' output unread."""
        client = self.clients.connect(self.factory)
        client.send(nickname + "\r\n")
        self.assertEqual(client.received()[-1], welcome(nickname))
        return client


class EnglishTests(RoomsTestCase):
    """The same lines with ``--lang en``."""

    texts = ENGLISH

    def test_the_lines_in_english(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.assertEqual(self.say(ana, "/join games"), ["* Room games (1): @ana"])
        self.assertEqual(bob.received(), ["* ana left the room general (still in the chat)."])
        self.assertEqual(self.say(ana, "/topic"), ["* The room games has no topic."])
        self.assertEqual(self.say(ana, "/topic dice"), ["* ana set the topic: dice"])
        self.assertEqual(
            self.say(bob, "/unirse games"), ["* Room games (2): @ana, bob", "* Topic: dice"]
        )
        self.assertEqual(ana.received(), ["* bob joined the room games."])
        self.assertEqual(self.say(bob, "/rooms"), ["* Rooms (2): games (2), general (0)"])
        self.assertEqual(self.say(bob, "/room"), ["* Room games (2): @ana, bob", "* Topic: dice"])
        self.assertEqual(
            self.say(bob, "/topic mine"),
            ["! Only the room's operator (games) or a server operator may set the topic."],
        )
        self.assertEqual(
            self.say(bob, "/topic " + "x" * 301),
            ["! The topic is too long (301 characters; at most 300)."],
        )
        self.assertEqual(self.say(bob, "/join"), ["! Usage: /join ROOM"])
        self.assertEqual(
            self.say(bob, "/join _x"),
            [
                "! Invalid room name: _x (1 to 32 letters, digits, _ or -, starting with a "
                "letter or a digit)"
            ],
        )
        self.move(bob, "general")
        self.assertEqual(
            self.say(bob, "/topic x"),
            ["! Only a server operator may set the topic of the room general."],
        )

    def test_rooms_full_in_english(self) -> None:
        self.plan = RoomPlan(max_rooms=1)  # type: ignore[misc]
        self.setUp()
        ana = self.login("ana")
        self.assertEqual(
            self.say(ana, "/join games"),
            ["! No more rooms can be created (at most 1). Join one of /rooms."],
        )


class GatheredNoticeTests(RoomsTestCase):
    """Join/leave notices gathered as a server gathers them, each routed to its own room."""

    gather = True

    def test_login_storm_with_users_in_two_rooms(self) -> None:
        ana, bob, carol = self.login("ana"), self.login("bob"), self.login("carol")
        self.move(ana, "juegos")
        self.move(bob, "juegos")
        self.flush()
        self.clients.drain()
        newcomers = []
        for nick in ["n1", "n2", "n3"]:
            client = self.clients.connect(self.factory)
            client.send(nick + "\r\n")
            self.assertEqual(client.received()[-1], welcome(nick))
            newcomers.append(client)
        self.assertNothingReceived(ana, bob, carol)  # gathered
        newcomers[1].lose()
        self.flush()
        self.assertNothingReceived(ana, bob)
        self.assertEqual(carol.received(), [joined("n1"), joined("n2"), joined("n3"), left("n2")])
        n1, _, n3 = newcomers
        self.assertEqual(n1.received(), [joined("n2"), joined("n3"), left("n2")])
        self.assertEqual(n3.received(), [left("n2")])

    def test_moves_and_logins_in_one_gathering(self) -> None:
        ana, bob, carol = self.login("ana"), self.login("bob"), self.login("carol")
        self.move(ana, "juegos")
        self.flush()
        self.clients.drain()
        dave = self.clients.connect(self.factory)
        dave.send("dave\r\n")
        dave.received()
        carol.lose()  # left, gathered, in general
        # bob moves while notices are pending: he gets general's notices first, then the room.
        self.assertEqual(
            self.move(bob, "juegos"), [joined("dave"), left("carol"), sala("juegos", "@ana", "bob")]
        )
        self.assertNothingReceived(ana)  # bob's own notices are gathered
        self.flush()
        self.assertEqual(ana.received(), [room_joined("bob", "juegos")])
        self.assertEqual(dave.received(), [left("carol"), room_left("bob", "general")])
        self.assertNothingReceived(bob)

    def test_a_newcomer_gets_only_the_notices_after_its_own_join(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.move(ana, "juegos")
        self.flush()
        self.clients.drain()
        erin = self.clients.connect(self.factory)
        erin.send("erin\r\n")
        erin.received()
        self.move(bob, "juegos")  # flushes erin's join (to bob, in general) first
        bob.received()
        frank = self.clients.connect(self.factory)
        frank.send("frank\r\n")
        frank.received()
        self.say(ana, "/unirse general")  # flushes bob's move first
        ana.received()
        self.flush()
        self.assertEqual(bob.received(), [room_left("ana", "juegos")])  # not his own join notice
        self.assertEqual(
            erin.received(),
            [room_left("bob", "general"), joined("frank"), room_joined("ana", "general")],
        )
        self.assertEqual(frank.received(), [room_joined("ana", "general")])
        self.assertEqual(ana.received(), [])

    def test_pending_notices_come_before_a_message_of_the_room(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.move(ana, "juegos")
        self.flush()
        self.clients.drain()
        self.move(bob, "juegos")
        self.say(bob, "hola")
        self.assertEqual(ana.received(), [room_joined("bob", "juegos"), "<bob> hola"])


class OperatorRoomTests(operator_tests.OperatorTestCase):
    """Server operators (``--operator``, logged in with the password) and rooms."""

    plan: ClassVar[RoomPlan] = RoomPlan(permanent=("Lobby",))

    def setUp(self) -> None:
        super().setUp()
        self.parts = assemble(
            SPANISH,
            self.clock,
            accounts=self.accounts,
            bans=self.bans,
            operators=self.operators,
            limits=Limits(flood_rate=0, max_strikes=0, max_per_ip=0, login_timeout=0),
            rooms=self.plan,
        )
        self.chat = self.parts.core
        self.server = self.parts.server
        self.factory = tcp_factory(self.parts)

    def say(self, client: Client, line: str) -> list[str]:
        """Send ``line``; what ``client`` got for it (what it had received before is dropped)."""
        client.received()
        return super().say(client, line)

    def test_a_server_operator_sets_the_topic_of_a_permanent_room(self) -> None:
        ana, dave = self.operator(), self.login("dave")
        self.assertEqual(self.say(ana, "/tema bienvenidos"), [topic_set("ana", "bienvenidos")])
        self.assertEqual(dave.received(), [topic_set("ana", "bienvenidos")])
        self.say(ana, "/unirse Lobby")
        self.assertEqual(self.say(ana, "/tema normas"), [topic_set("ana", "normas")])
        self.assertEqual(
            self.say(dave, "/unirse lobby"), [sala("Lobby", "ana", "dave"), tema("normas")]
        )

    def test_a_server_operator_sets_the_topic_of_anyone_s_room(self) -> None:
        ana, dave = self.operator(), self.login("dave")
        self.say(dave, "/unirse juegos")
        self.assertEqual(self.say(ana, "/unirse juegos"), [sala("juegos", "ana", "@dave")])
        self.assertEqual(self.say(ana, "/tema orden"), [topic_set("ana", "orden")])
        self.assertEqual(dave.received(), [room_joined("ana", "juegos"), topic_set("ana", "orden")])

    def test_named_but_not_logged_in_with_a_password_is_not_a_server_operator(self) -> None:
        carol = self.login("carol")
        self.assertEqual(self.say(carol, "/tema x"), [topic_denied_permanent("general")])

    def test_the_topic_rules_hold_for_operators(self) -> None:
        ana = self.operator()
        self.assertEqual(self.say(ana, "/tema " + "x" * 301), [topic_too_long(301)])
        self.assertEqual(self.say(ana, "/tema " + "x" * 300), [topic_set("ana", "x" * 300)])

    def test_anuncio_reaches_every_room(self) -> None:
        ana, erin, dave = self.operator(), self.login("erin"), self.login("dave")
        self.say(erin, "/unirse juegos")
        self.say(dave, "/unirse Lobby")
        self.clients.drain()
        self.assertEqual(
            self.say(ana, "/anuncio hola a todos"), [announcement("ana", "hola a todos")]
        )
        self.assertEqual(erin.received(), [announcement("ana", "hola a todos")])
        self.assertEqual(dave.received(), [announcement("ana", "hola a todos")])

    def test_kick_across_rooms_tells_the_kicked_user_s_room(self) -> None:
        ana, erin, dave = self.operator(), self.login("erin"), self.login("dave")
        self.say(erin, "/unirse juegos")
        self.say(dave, "/unirse juegos")
        self.clients.drain()
        self.assertEqual(self.say(ana, "/expulsar erin spam"), [kick_done("erin")])
        self.assertEqual(erin.received(), [kicked("ana", "spam")])
        erin.lose()
        self.assertEqual(dave.received(), [left("erin")])
        self.assertEqual(ana.received(), [])

    def test_room_commands_are_listed_in_the_operator_s_help(self) -> None:
        ana = self.operator()
        help_lines = self.say(ana, "/ayuda")
        self.assertIn(
            "* /unirse, /join SALA: te lleva a la sala SALA (la crea si no existe)", help_lines
        )


class SettingsTests(SynchronousTestCase):
    """``--default-room``, ``--room`` and ``--max-rooms`` validated into :class:`ChatSettings`."""

    def test_defaults(self) -> None:
        self.assertEqual(validate({}).chat, ChatSettings())
        self.assertEqual(ChatSettings().default_room, "general")
        self.assertEqual(ChatSettings().rooms, ())
        self.assertEqual(ChatSettings().max_rooms, 1000)

    def test_names_are_normalised(self) -> None:
        chat = validate(
            {"default-room": "#Lobby", "rooms": ["Jose\u0301", " #Cine "], "max-rooms": "5"}
        ).chat
        self.assertEqual(chat.default_room, "Lobby")
        self.assertEqual(chat.rooms, ("José", "Cine"))
        self.assertEqual(chat.max_rooms, 5)

    def test_duplicates_collapse_the_first_spelling_wins(self) -> None:
        chat = validate({"rooms": ["General", "Juegos", "juegos", "#JUEGOS", "general"]}).chat
        self.assertEqual(chat.default_room, "general")
        self.assertEqual(chat.rooms, ("Juegos",))
        chat = validate({"default-room": "Lobby", "rooms": ["lobby"], "max-rooms": "1"}).chat
        self.assertEqual((chat.default_room, chat.rooms, chat.max_rooms), ("Lobby", (), 1))

    def test_bad_names(self) -> None:
        for option, value in [
            ("default-room", "_x"),
            ("default-room", "x" * 33),
            ("default-room", ""),
            ("default-room", "a b"),
            ("rooms", ["ok", "-x"]),
            ("rooms", ["Ωmega"]),
        ]:
            with self.assertRaises(UsageError, msg=f"{option} {value!r}") as caught:
                validate({option: value})
            flag = "room" if option == "rooms" else option
            self.assertIn(f"bad --{flag} ", str(caught.exception))

    def test_max_rooms_below_the_permanent_rooms_is_a_usage_error(self) -> None:
        with self.assertRaises(UsageError) as caught:
            validate({"rooms": ["a", "b"], "max-rooms": "2"})
        self.assertEqual(
            str(caught.exception),
            "bad --max-rooms '2': there are 3 permanent rooms (--default-room and --room)",
        )
        self.assertEqual(validate({"rooms": ["a", "b"], "max-rooms": "3"}).chat.max_rooms, 3)
        for bad in ["0", "-1", "x"]:
            with self.assertRaises(UsageError):
                validate({"max-rooms": bad})

    def test_on_the_command_line(self) -> None:
        options = Options()
        options.parseOptions(
            ["--default-room", "#Plaza", "--room", "plaza", "--room", "Cine", "--max-rooms", "2"]
        )
        self.assertEqual(
            options.settings.chat, ChatSettings(default_room="Plaza", rooms=("Cine",), max_rooms=2)
        )
        with self.assertRaises(UsageError) as caught:
            Options().parseOptions(["--room", "a", "--room", "B", "--max-rooms", "2"])
        self.assertEqual(
            str(caught.exception),
            "bad --max-rooms '2': there are 3 permanent rooms (--default-room and --room)",
        )

    def test_from_the_config_file(self) -> None:
        chat = validate({"rooms": ["cine", "juegos"]}, from_file={"rooms"}, path="c.toml").chat
        self.assertEqual(chat.rooms, ("cine", "juegos"))
        with self.assertRaises(UsageError) as caught:
            validate({"rooms": ["_x"]}, from_file={"rooms"}, path="c.toml")
        self.assertIn("--config c.toml: 'rooms': bad --room '_x'", str(caught.exception))


class MemoryTopicStorage:
    """A ``TopicStorage`` double: topics in a dict; ``available = False`` is an outage."""

    def __init__(self, rows: dict[str, tuple[str, str, str]] | None = None) -> None:
        #: room key -> (name, topic, set by)
        self.rows = dict(rows or {})
        self.available = True
        self.loads = 0

    def load_topics(self) -> Deferred[list[tuple[str, str, str]]]:
        """Every stored topic, or a failure during an outage."""
        self.loads += 1
        if not self.available:
            return fail(RuntimeError("load: database unavailable"))
        return succeed([(key, topic, by) for key, (_, topic, by) in self.rows.items()])

    def save_topic(
        self, room_key: str, name: str, topic: str, set_by: str, when: datetime
    ) -> Deferred[None]:
        """Store the topic, or fail during an outage."""
        if not self.available:
            return fail(RuntimeError("save: database unavailable"))
        self.rows[room_key] = (name, topic, set_by)
        return succeed(None)


class StoredTopicTests(RoomsTestCase):
    """The topics of permanent rooms: loaded at start-up, stored when set (TopicKeeper)."""

    plan = RoomPlan(permanent=("Lobby",))

    def assemble_with(self, storage: MemoryTopicStorage) -> None:
        """Start over with ``storage`` keeping the topics; a server operator's session is any
        session for the room commands."""
        self.storage = storage
        self.parts = assemble(
            self.texts,
            self.clock,
            limits=Limits(flood_rate=0, max_strikes=0, max_per_ip=0),
            rooms=self.plan,
            topics=storage,
        )
        self.room = self.parts.room
        self.factory = tcp_factory(self.parts)
        self.keeper = self.parts.topics
        assert self.keeper is not None

    def test_loaded_into_the_permanent_rooms_only(self) -> None:
        self.assemble_with(
            MemoryTopicStorage(
                {
                    "general": ("general", "bienvenidos", "ana"),
                    "lobby": ("Lobby", "normas", "carol"),
                    "juegos": ("juegos", "ya no es permanente", "ana"),
                }
            )
        )
        assert self.keeper is not None
        self.keeper.load()
        self.assertTrue(self.keeper.loaded)
        bob = self.login("bob")
        self.assertEqual(self.say(bob, "/tema"), [tema("bienvenidos")])
        self.assertEqual(self.move(bob, "lobby"), [sala("Lobby", "bob"), tema("normas")])
        self.assertEqual(self.move(bob, "juegos"), [sala("juegos", "@bob")])
        self.assertEqual(self.say(bob, "/tema"), [no_topic("juegos")])

    def test_logins_do_not_wait_for_the_topics(self) -> None:
        storage = MemoryTopicStorage({"general": ("general", "bienvenidos", "ana")})
        storage.available = False
        self.assemble_with(storage)
        assert self.keeper is not None
        self.keeper.load()
        self.assertFalse(self.keeper.loaded)
        bob = self.login("bob")
        self.assertEqual(self.say(bob, "/tema"), [no_topic("general")])
        storage.available = True
        self.clock.advance(60)  # the retry, with backoff
        self.assertTrue(self.keeper.loaded)
        self.assertEqual(self.say(bob, "/tema"), [tema("bienvenidos")])

    def test_a_topic_set_since_start_up_wins(self) -> None:
        storage = MemoryTopicStorage({"general": ("general", "viejo", "ana")})
        storage.available = False
        self.assemble_with(storage)
        assert self.keeper is not None
        self.keeper.load()
        self.parts.rooms.is_operator = lambda _session: True
        bob = self.login("bob")
        storage.available = True
        self.assertEqual(self.say(bob, "/tema nuevo"), [topic_set("bob", "nuevo")])
        self.clock.advance(60)
        self.assertTrue(self.keeper.loaded)
        self.assertEqual(self.say(bob, "/tema"), [tema("nuevo")])

    def test_stored_when_set_in_a_permanent_room_only(self) -> None:
        self.assemble_with(MemoryTopicStorage())
        self.parts.rooms.is_operator = lambda _session: True
        bob = self.login("bob")
        self.say(bob, "/tema bienvenidos")
        self.move(bob, "LOBBY")
        self.say(bob, "/tema normas")
        self.move(bob, "juegos")
        self.say(bob, "/tema efímero")
        self.assertEqual(
            self.storage.rows,
            {"general": ("general", "bienvenidos", "bob"), "lobby": ("Lobby", "normas", "bob")},
        )

    def test_an_outage_when_storing_keeps_the_topic_in_memory(self) -> None:
        storage = MemoryTopicStorage()
        self.assemble_with(storage)
        self.parts.rooms.is_operator = lambda _session: True
        bob = self.login("bob")
        storage.available = False
        logs = record_logs(self)
        self.assertEqual(self.say(bob, "/tema bienvenidos"), [topic_set("bob", "bienvenidos")])
        self.assertEqual(self.say(bob, "/tema"), [tema("bienvenidos")])
        self.assertEqual(storage.rows, {})
        self.assertTrue(
            any("not stored" in text for text in logs.describe()), "the outage is logged"
        )
