"""Unit tests of nickname changes (issue 16: ``/nick NUEVO``, the core's rename): the rules
(validity, in use, banned, registered, case only, the same spelling, the rate limit), what
follows the nickname (the registry, the rooms' members and operator, mutes, operators and
password logins), who reads the change (once each, rendered once per renderer) and that the
history keeps what was said under the name it was said with.

The real chat (assembled as a server is) over in-memory storage doubles and a ``Clock``, as in
``test_operators.py``.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.accounts import ANA_PASSWORD, BOB_PASSWORD
from tests.support.expected import joined, muted, renamed, username
from tests.support.fakes import Clients, tcp_factory
from tests.unit.test_operators import OperatorTestCase, session_of
from twisted_chat import nicknames
from twisted_chat.assembly import assemble
from twisted_chat.bans import Ban
from twisted_chat.events import EventSource, Renamed
from twisted_chat.irc.render import IrcRenderer
from twisted_chat.limits import Limits
from twisted_chat.room import Room
from twisted_chat.text import SPANISH, Language
from twisted_chat.wire import LineRenderer

USAGE = "! Uso: /nick NUEVO"


def taken(nick: str, old: str) -> str:
    return f"! El nickname {nick} ya está conectado; sigues siendo {old}."


def registered(nick: str) -> str:
    return (
        f"! El nickname {nick} está registrado (reservado): solo puede tomarlo quien haya "
        "entrado con su contraseña en esta conexión."
    )


def too_soon(remaining: str) -> str:
    return f"! Como mucho un cambio de nickname cada 10 s: espera {remaining} más."


class RenameRulesTests(OperatorTestCase):
    """What ``/nick`` accepts and refuses, each answered with one line."""

    def test_a_free_nickname(self) -> None:
        dan = self.login("dan")
        self.assertEqual(self.say(dan, "/nick dani"), [renamed("dan", "dani")])
        self.assertEqual(self.say(dan, "/username"), [username("dani")])
        self.assertIsNone(self.chat.room.find("dan"))
        self.assertIs(self.chat.room.find("DANI"), session_of(dan))

    def test_usage(self) -> None:
        dan = self.login("dan")
        self.assertEqual(self.say(dan, "/nick"), [USAGE])
        self.assertEqual(self.say(dan, "/nick a b"), [USAGE])

    def test_invalid(self) -> None:
        dan = self.login("dan")
        self.assertEqual(
            self.say(dan, "/nick 9lives"),
            [
                "! Nickname no válido: 9lives (de 1 a 20 letras, dígitos, _ o -, empezando por "
                "una letra)."
            ],
        )
        self.assertEqual(self.say(dan, "/username"), [username("dan")])

    def test_in_use_in_any_case(self) -> None:
        dan = self.login("dan")
        self.login("eve")
        self.assertEqual(self.say(dan, "/nick EVE"), [taken("EVE", "dan")])
        self.assertEqual(self.say(dan, "/username"), [username("dan")])

    def test_banned(self) -> None:
        dan = self.login("dan")
        self.bans.apply(Ban("nick", "malo", "", "ana", self.clock.seconds(), None))
        self.assertEqual(
            self.say(dan, "/nick Malo"),
            ["! El nickname Malo está baneado (permanente); sigues siendo dan."],
        )

    def test_registered_refused_without_its_password(self) -> None:
        dan = self.login("dan")
        self.assertEqual(self.say(dan, "/nick Bob"), [registered("Bob")])
        self.assertEqual(self.say(dan, "/username"), [username("dan")])

    def test_case_only(self) -> None:
        dan = self.login("dan")
        eve = self.login("eve")
        self.say(eve, "/unirse sala")  # not in dan's room: not told
        self.clients.drain()
        self.assertEqual(self.say(dan, "/nick Dan"), [renamed("dan", "Dan")])
        self.assertEqual(eve.received(), [])
        self.assertEqual(self.say(dan, "/username"), [username("Dan")])

    def test_the_same_spelling_is_nothing(self) -> None:
        dan = self.login("dan")
        eve = self.login("eve")
        self.assertEqual(self.say(dan, "/nick dan"), ["* Ya te llamas dan."])
        self.assertEqual(eve.received(), [])
        # and it does not count for the rate limit
        self.assertEqual(self.say(dan, "/nick dani"), [renamed("dan", "dani")])

    def test_rate_limit(self) -> None:
        dan = self.login("dan")
        self.assertEqual(self.say(dan, "/nick dani"), [renamed("dan", "dani")])
        self.clock.advance(4)
        self.assertEqual(self.say(dan, "/nick daniel"), [too_soon("6 s")])
        self.assertEqual(self.say(dan, "/nick Dani"), [too_soon("6 s")])
        self.clock.advance(6)
        self.assertEqual(self.say(dan, "/nick daniel"), [renamed("dani", "daniel")])

    def test_a_refusal_does_not_count_for_the_rate_limit(self) -> None:
        dan = self.login("dan")
        self.login("eve")
        self.assertEqual(self.say(dan, "/nick eve"), [taken("eve", "dan")])
        self.assertEqual(self.say(dan, "/nick dani"), [renamed("dan", "dani")])

    def test_the_old_nickname_is_free_at_once(self) -> None:
        dan = self.login("dan")
        self.say(dan, "/nick dani")
        self.login("dan")  # raises if refused
        self.assertEqual(len(self.chat.room), 2)

    def test_rate_limit_forgotten_when_the_connection_goes(self) -> None:
        dan = self.login("dan")
        self.say(dan, "/nick dani")
        dan.lose()
        self.assertEqual(self.chat._renamed_at, {})


class RegisteredNicknameTests(OperatorTestCase):
    """A registered nickname is only for the connection that proved its password; renaming
    away from it ends the password login (and what it allows) until it is taken again."""

    def test_away_and_back_with_the_password(self) -> None:
        ana = self.operator()
        operators = self.chat.operators
        session = session_of(ana)
        self.assertTrue(operators.has_password(session))
        self.assertEqual(self.say(ana, "/nick anita"), [renamed("ana", "anita")])
        self.assertFalse(operators.has_password(session))
        self.assertFalse(operators.is_operator(session))
        self.assertEqual(self.say(ana, "/baneos"), ["! /baneos es solo para operadores."])
        self.clock.advance(10)
        # ana's account is this connection's: it may take it back, in any case
        self.assertEqual(self.say(ana, "/nick Ana"), [renamed("anita", "Ana")])
        self.assertTrue(operators.has_password(session))
        self.assertTrue(operators.is_operator(session))

    def test_another_account_is_not_this_connections(self) -> None:
        ana = self.operator()
        self.assertEqual(self.say(ana, "/nick bob"), [registered("bob")])

    def test_a_free_registered_nickname_after_its_holder_renamed(self) -> None:
        bob = self.login(f"bob {BOB_PASSWORD}")
        self.say(bob, "/nick roberto")
        dan = self.login("dan")
        # free, but registered: still not dan's
        self.assertEqual(self.say(dan, "/nick bob"), [registered("bob")])

    def test_case_change_of_an_unproved_registered_nickname(self) -> None:
        carol = self.login("carol")
        self.say(carol, "/registrar Clave-carol3")
        self.clients.drain()
        # its own nickname: a change of case is allowed though no password was proved
        self.assertEqual(self.say(carol, "/nick Carol"), [renamed("carol", "Carol")])

    def test_password_login_is_recorded_for_its_account(self) -> None:
        ana = self.login(f"ana {ANA_PASSWORD}")
        self.assertEqual(self.chat.operators.account_of(session_of(ana)), "ana")


class WhatFollowsTests(OperatorTestCase):
    """Rooms, operators of rooms and mutes follow the new nickname; the history keeps the
    old name on what was said under it."""

    def test_room_members_and_operator(self) -> None:
        dan = self.login("dan")
        eve = self.login("eve")
        self.say(dan, "/unirse juegos")
        self.say(eve, "/unirse juegos")
        self.clients.drain()
        self.assertEqual(self.say(dan, "/nick dani"), [renamed("dan", "dani")])
        self.assertEqual(eve.received(), [renamed("dan", "dani")])
        self.assertEqual(
            self.say(eve, "/sala"),
            ["* Sala juegos (2): @dani, eve", "* La sala juegos no tiene tema."],
        )
        chatroom = self.chat.room.find_room("juegos")
        assert chatroom is not None
        self.assertEqual(chatroom.operator, "dani")
        self.assertEqual(self.say(dan, "/tema hola"), ["* dani ha cambiado el tema: hola"])

    def test_only_those_who_share_a_room_read_it(self) -> None:
        dan = self.login("dan")
        eve = self.login("eve")
        fay = self.login("fay")
        self.say(fay, "/unirse otra")
        self.clients.drain()
        self.say(dan, "/nick dani")
        self.assertEqual(eve.received(), [renamed("dan", "dani")])
        self.assertEqual(fay.received(), [])

    def test_a_mute_follows(self) -> None:
        ana = self.operator()
        dan = self.login("dan")
        self.say(ana, "/silenciar dan 5")
        self.assertEqual(self.say(dan, "/nick dani"), [renamed("dan", "dani")])
        self.assertEqual(self.say(dan, "hola"), [muted("5 min")])
        # and the old nickname stays muted too (renaming back is no way out)
        self.clock.advance(10)
        self.say(dan, "/nick dan")
        self.assertEqual(self.say(dan, "hola"), [muted("5 min")])

    def test_history_keeps_the_old_name(self) -> None:
        from twisted_chat.history import History

        self.assertIsInstance(self.chat.history, (History, type(None)))
        dan = self.login("dan")
        eve = self.login("eve")
        self.say(dan, "hola")
        self.assertEqual(eve.received(), ["<dan> hola"])
        self.say(dan, "/nick dani")
        self.say(dan, "adiós")
        self.assertEqual(eve.received(), [renamed("dan", "dani"), "<dani> adiós"])

    def test_a_login_after_a_rename_is_announced_under_its_name(self) -> None:
        dan = self.login("dan")
        self.say(dan, "/nick dani")
        other = self.connect()
        other.send("dan\r\n")
        self.assertEqual(dan.received(), [joined("dan")])


class _Member:
    """A member of the room with its own renderer, recording what it is sent."""

    def __init__(self, nickname: str, renderer: object) -> None:
        self.nickname: str | None = nickname
        self.renderer = renderer
        self.host = "192.0.2.1"
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def deliver(self, event: object) -> None:
        self.sent.append(self.renderer.render(event))  # type: ignore[attr-defined]


class CountingRenderer(LineRenderer):
    """A line renderer that counts its renders."""

    def __init__(self) -> None:
        super().__init__(Language(SPANISH))
        self.renders = 0

    def render(self, event: object) -> bytes:
        self.renders += 1
        return super().render(event)  # type: ignore[arg-type]


class RoomRenameTests(OperatorTestCase):
    """:meth:`Room.rename`: once per recipient (an IRC user sharing two rooms with the
    renamer reads it once), rendered once per renderer."""

    def test_once_per_recipient_and_renderer(self) -> None:
        room = Room()
        lines = CountingRenderer()
        irc = IrcRenderer(Language(SPANISH), "irc.test")
        renamer = _Member("ana", irc)
        friend = _Member("bob", irc)
        line_user = _Member("cid", lines)
        stranger = _Member("dee", lines)
        for member in (renamer, friend, line_user, stranger):
            room.add(member, member.nickname or "")  # type: ignore[arg-type]
        room.part_now(renamer, room.default)  # type: ignore[arg-type]
        room.part_now(friend, room.default)  # type: ignore[arg-type]
        room.part_now(stranger, room.default)  # type: ignore[arg-type]
        for name in ("uno", "dos"):
            room.join_now(renamer, name)  # type: ignore[arg-type]
            room.join_now(friend, name)  # type: ignore[arg-type]
        room.join_now(renamer, room.default.name)  # type: ignore[arg-type]
        event = EventSource(self.clock).renamed("ana", "Anita")
        self.assertTrue(room.rename(renamer, event))  # type: ignore[arg-type]
        nick = b":ana!ana@irc.test NICK :Anita\r\n"
        self.assertEqual(renamer.sent, [nick])
        self.assertEqual(friend.sent, [nick])
        self.assertEqual(line_user.sent, [b"* ana ahora se llama Anita.\r\n"])
        self.assertEqual(stranger.sent, [])
        self.assertEqual(lines.renders, 1)
        for chatroom in room.rooms_of(renamer):  # type: ignore[arg-type]
            self.assertEqual(chatroom.users.get("anita"), "Anita")
            self.assertNotIn("ana", chatroom.users)
        self.assertEqual(chatroom.operator, None)
        uno = room.find_room("uno")
        assert uno is not None
        self.assertEqual(uno.operator, "anita")

    def test_refused_when_taken_or_not_logged_in_as_old(self) -> None:
        room = Room()
        lines = LineRenderer(Language(SPANISH))
        ana, bob = _Member("ana", lines), _Member("bob", lines)
        room.add(ana, "ana")  # type: ignore[arg-type]
        room.add(bob, "bob")  # type: ignore[arg-type]
        events = EventSource(self.clock)
        self.assertFalse(room.rename(ana, events.renamed("ana", "Bob")))  # type: ignore[arg-type]
        self.assertFalse(room.rename(ana, events.renamed("carl", "dee")))  # type: ignore[arg-type]
        self.assertEqual(ana.nickname, "ana")

    def test_event_has_an_id_and_a_time(self) -> None:
        event = EventSource(self.clock).renamed("a", "b")
        self.assertIsInstance(event, Renamed)
        self.assertTrue(event.id)
        self.assertEqual(event.time, int(self.clock.seconds() * 1000))
        self.assertIsNone(event.room)


NICKS = ["ana", "Ana", "bob", "BOB", "cid", "dee", "ñu", "Ñu", "x9"]
ROOMS = ["general", "juegos", "club"]
steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2),
        st.sampled_from(["nick", "join", "wait", "leave"]),
        st.sampled_from(NICKS + ROOMS),
    ),
    max_size=30,
)


class RenameInvariantTests(SynchronousTestCase):
    """Whatever three users do with ``/nick``, ``/unirse`` and leaving, in any order: never two
    users with one nickname, and every room's members and operator are logged-in users under
    their current nicknames."""

    @settings(max_examples=60, deadline=None)
    @given(steps)
    def test_invariants(self, plan: list[tuple[int, str, str]]) -> None:
        clock = Clock()
        parts = assemble(
            SPANISH,
            clock,
            limits=Limits(flood_rate=0, max_strikes=0, max_per_ip=0, login_timeout=0),
        )
        factory = tcp_factory(parts)
        clients = Clients()
        users = []
        for nick in ("u0", "u1", "u2"):
            client = clients.connect(factory)
            client.send(f"{nick}\r\n")
            users.append(client)
        room = parts.room
        for who, action, word in plan:
            client = users[who]
            if client.closing:
                continue
            if action == "nick":
                client.send(f"/nick {word}\r\n")
            elif action == "join" and word in ROOMS:
                client.send(f"/unirse {word}\r\n")
            elif action == "wait":
                clock.advance(10)
            elif action == "leave":
                client.lose()
            clients.drain()
            registry = {nicknames.key(m.nickname or ""): m for m in room.members()}
            self.assertEqual(len(registry), len(room))
            for key, member in registry.items():
                self.assertIs(room.member(member.nickname or ""), member)
                self.assertEqual(nicknames.key(member.nickname or ""), key)
            for chatroom in room.rooms.values():
                for key, spelling in chatroom.users.items():
                    self.assertIn(key, registry)
                    self.assertEqual(registry[key].nickname, spelling)
                    self.assertIn(chatroom, room.rooms_of(registry[key]))
                if chatroom.operator is not None:
                    self.assertIn(chatroom.operator, registry)
