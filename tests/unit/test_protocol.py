"""Unit tests of wire protocol v1 (docs/PROTOCOL.md): protocol, chat core and commands together.

Clients are :class:`ChatProtocol` instances built by the real :class:`ChatTCPFactory`, connected to
``StringTransport`` doubles and fed bytes with ``dataReceived``; time comes from a ``Clock``. The
tests are ``SynchronousTestCase`` classes so they run under both ``pytest`` and ``trial tests``.
Expected lines are written out literally (here and in :mod:`tests.support.expected`): they are the
contract scripts rely on.
"""

from __future__ import annotations

import dataclasses
import os
import re
import string
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.support.expected import (
    AYUDA,
    BAD_UTF8,
    CONTROL,
    EMPTY_COMMAND,
    FIRST_VISIT,
    NICK_INVALID,
    PRIVATE_EMPTY,
    PRIVATE_SELF,
    PROMPT,
    TOO_LONG,
    joined,
    left,
    taken,
    unknown_command,
    welcome,
)
from tests.support.fakes import (
    CRLF,
    DEFAULT_PEER_HOST,
    EPOCH,
    Client,
    Clients,
    FakeSession,
    WriteFailed,
    tcp_factory,
)
from tests.support.logs import record_logs
from twisted_chat.assembly import assemble
from twisted_chat.commands import CommandTable, UserCommands, command
from twisted_chat.limits import Limits
from twisted_chat.operators import OperatorCommands
from twisted_chat.room import ChatSession
from twisted_chat.rooms import RoomCommands
from twisted_chat.tcp import ChatProtocol
from twisted_chat.text import CATALOGUES, ENGLISH, SPANISH, Catalogue


class RecordingLogins:
    """A ``LoginRecorder`` double: records calls and returns Deferreds the test fires.

    With ``answer`` set, each call returns an already-fired Deferred with that previous time.
    """

    _UNSET: ClassVar[object] = object()

    def __init__(self) -> None:
        self.calls: list[tuple[str, datetime]] = []
        self.deferreds: list[Deferred[datetime | None]] = []
        self.answer: Any = self._UNSET

    def record_login(self, nickname: str, when: datetime) -> Deferred[datetime | None]:
        """Record the call; hand back a pending Deferred (or the preset ``answer``)."""
        self.calls.append((nickname, when))
        if self.answer is not self._UNSET:
            return succeed(self.answer)
        d: Deferred[datetime | None] = Deferred()
        self.deferreds.append(d)
        return d


class ChatTestCase(SynchronousTestCase):
    """Base: a chat with a ``Clock`` at :data:`EPOCH`, a login recorder double and clients."""

    texts: ClassVar[Catalogue] = SPANISH

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(EPOCH.timestamp())
        self.logins = RecordingLogins()
        # Wire protocol v1 rules alone: flood control and strikes are tested in test_limits.py.
        self.parts = assemble(
            self.texts, self.clock, logins=self.logins, limits=Limits(flood_rate=0, max_strikes=0)
        )
        self.chat = self.parts.core
        self.factory = tcp_factory(self.parts)
        self.clients = Clients()

    def connect(self) -> Client:
        """A new connection, still at the nickname prompt."""
        return self.clients.connect(self.factory, DEFAULT_PEER_HOST)

    def login(self, nickname: str) -> Client:
        """A new connection logged in as ``nickname``; everyone's output is then cleared."""
        client = self.connect()
        client.send(nickname + "\r\n")
        lines = client.received()
        if len(lines) < 2 or lines[0].startswith("!"):
            raise AssertionError(f"login as {nickname!r} failed: {lines!r}")
        self.clients.drain()
        return client

    def assertNothingReceived(self, *clients: Client) -> None:
        """None of ``clients`` got anything."""
        for client in clients:
            self.assertEqual(client.received(), [])


class HandshakeTests(ChatTestCase):
    """Connect, get one prompt, choose a nickname; rejections get exactly one ``! `` line."""

    def test_one_prompt_on_connect(self) -> None:
        client = self.connect()
        self.assertEqual(client.received(), [PROMPT])

    def test_accepted_first_line_is_the_welcome(self) -> None:
        client = self.connect()
        client.received()
        client.send("ana\r\n")
        self.assertEqual(client.received(), [welcome("ana")])
        self.assertEqual(client.protocol.nickname, "ana")

    def test_welcome_comes_before_the_previous_time(self) -> None:
        self.logins.answer = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
        client = self.connect()
        client.received()
        client.send("ana\r\n")
        self.assertEqual(
            client.received(),
            [welcome("ana"), "* Tu última conexión fue el 2026-11-20T10:00:00+00:00."],
        )

    def test_invalid_nickname_gets_one_error_then_a_new_try_works(self) -> None:
        client = self.connect()
        client.received()
        client.send("1ana\r\n")
        self.assertEqual(client.received(), [NICK_INVALID])
        self.assertIsNone(client.protocol.nickname)
        client.send("ana\r\n")
        self.assertEqual(client.received(), [welcome("ana")])

    def test_invalid_nicknames(self) -> None:
        client = self.connect()
        client.received()
        for bad in [
            "a" * 21,
            "_ana b",
            "_ana",
            "ana!",
            "Ωmega",
            "a\N{MULTIPLICATION SIGN}b",
            "\x1b[31mana",
        ]:
            client.send(bad + "\r\n")
            self.assertEqual(client.received(), [NICK_INVALID], bad)
        self.assertIsNone(client.protocol.nickname)
        self.assertEqual(len(self.chat.room), 0)

    def test_nickname_with_a_password_but_no_accounts_is_refused(self) -> None:
        # "NICK PASSWORD" (issue 3): with no account storage a password can never be right.
        client = self.connect()
        client.received()
        client.send("a b\r\n")
        self.assertEqual(
            client.received(), ["! Nickname o contraseña incorrectos. Elige otro nickname:"]
        )
        self.assertIsNone(client.protocol.nickname)

    def test_latin1_nickname_accepted(self) -> None:
        client = self.connect()
        client.received()
        client.send("Ñandú\r\n")
        self.assertEqual(client.received(), [welcome("Ñandú")])

    def test_blank_nickname_line_is_invalid(self) -> None:
        client = self.connect()
        client.received()
        client.send("\r\n")
        self.assertEqual(client.received(), [NICK_INVALID])
        client.send(" \t \n")
        self.assertEqual(client.received(), [NICK_INVALID])
        client.send("ana\n")
        self.assertEqual(client.received(), [welcome("ana")])

    def test_spaces_around_nickname_stripped(self) -> None:
        client = self.connect()
        client.received()
        client.send("  \tana \t\r\n")
        self.assertEqual(client.received(), [welcome("ana")])
        client.send("/username\r\n")
        self.assertEqual(client.received(), ["* Tu nickname es ana."])

    def test_nickname_is_nfc_normalised(self) -> None:
        client = self.connect()
        client.received()
        client.send("Jose\u0301\r\n")
        self.assertEqual(client.received(), [welcome("José")])
        self.assertEqual(client.protocol.nickname, "José")

    def test_taken_nickname_gets_one_error_then_a_new_try_works(self) -> None:
        self.login("ana")
        client = self.connect()
        client.received()
        client.send("ana\r\n")
        self.assertEqual(client.received(), [taken("ana")])
        self.assertIsNone(client.protocol.nickname)
        client.send("bob\r\n")
        self.assertEqual(client.received(), [welcome("bob")])

    def test_taken_is_case_insensitive(self) -> None:
        self.login("Ana")
        client = self.connect()
        client.received()
        client.send("ANA\r\n")
        self.assertEqual(client.received(), [taken("ANA")])
        client.send("ana\r\n")
        self.assertEqual(client.received(), [taken("ana")])

    def test_taken_after_nfc(self) -> None:
        self.login("José")
        client = self.connect()
        client.received()
        client.send("JOSE\u0301\r\n")
        self.assertEqual(client.received(), [taken("JOSÉ")])

    def test_accented_and_plain_are_different_nicknames(self) -> None:
        self.login("José")
        client = self.connect()
        client.received()
        client.send("Jose\r\n")
        self.assertEqual(client.received(), [welcome("Jose")])

    def test_nickname_free_again_after_its_owner_left(self) -> None:
        ana = self.login("ana")
        ana.lose()
        client = self.connect()
        client.received()
        client.send("ANA\r\n")
        self.assertEqual(client.received(), [welcome("ANA")])

    def test_two_clients_at_the_prompt_race_for_a_nickname(self) -> None:
        first, second = self.connect(), self.connect()
        self.clients.drain()
        first.send("ana\r\n")
        second.send("ana\r\n")
        self.assertEqual(first.received(), [welcome("ana")])
        self.assertEqual(second.received(), [taken("ana")])

    def test_several_lines_in_one_chunk_at_the_prompt(self) -> None:
        client = self.connect()
        client.received()
        client.send("1x\r\nana\r\n/username\r\n")
        self.assertEqual(client.received(), [NICK_INVALID, welcome("ana"), "* Tu nickname es ana."])

    def test_no_command_before_login(self) -> None:
        client = self.connect()
        client.received()
        client.send("/listar\r\n")
        self.assertEqual(client.received(), [NICK_INVALID])

    def test_invalid_utf8_at_the_prompt_gets_one_error(self) -> None:
        client = self.connect()
        client.received()
        client.send(b"an\xffa\r\n")
        self.assertEqual(client.received(), [BAD_UTF8])
        client.send("ana\r\n")
        self.assertEqual(client.received(), [welcome("ana")])

    def test_over_long_line_at_the_prompt_gets_one_error(self) -> None:
        client = self.connect()
        client.received()
        client.send(b"a" * 2000 + b"\r\nana\r\n")
        self.assertEqual(client.received(), [TOO_LONG, welcome("ana")])
        self.assertFalse(client.closing)


class JoinLeaveTests(ChatTestCase):
    """Join and leave notices go to the other logged-in clients only, once, for any reason."""

    def test_join_notice_to_others_only(self) -> None:
        ana = self.login("ana")
        waiting = self.connect()
        waiting.received()
        bob = self.connect()
        bob.received()
        bob.send("bob\r\n")
        self.assertEqual(ana.received(), [joined("bob")])
        self.assertEqual(bob.received(), [welcome("bob")])
        self.assertNothingReceived(waiting)

    def test_no_join_notice_for_a_rejected_nickname(self) -> None:
        ana = self.login("ana")
        client = self.connect()
        client.send("ana\r\n1bad\r\n")
        self.assertNothingReceived(ana)

    def test_leave_notice_on_clean_close(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        waiting = self.connect()
        waiting.received()
        bob.lose(ConnectionDone())
        self.assertEqual(ana.received(), [left("bob")])
        self.assertNothingReceived(waiting)
        self.assertNotIn("bob", self.chat.room)

    def test_leave_notice_on_reset(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        bob.lose(ConnectionLost("Connection reset by peer"))
        self.assertEqual(ana.received(), [left("bob")])

    def test_leave_notice_after_salir_once(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        bob.send("/salir\r\n")
        self.assertNothingReceived(ana)  # still connected until the transport is gone
        bob.lose()
        self.assertEqual(ana.received(), [left("bob")])
        self.assertNothingReceived(ana)

    def test_no_leave_notice_for_a_client_that_never_logged_in(self) -> None:
        ana = self.login("ana")
        waiting = self.connect()
        waiting.send("1bad\r\n")
        waiting.lose()
        self.assertNothingReceived(ana)

    def test_leaver_gets_nothing_after_leaving(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        bob.lose()
        ana.send("hola\r\n")
        self.assertNothingReceived(bob)


class PreviousLoginTests(ChatTestCase):
    """The chat's use of the login recorder: one call per login, then at most one ``* `` line."""

    def _login_pending(self, nickname: str = "ana") -> tuple[Client, Deferred[datetime | None]]:
        client = self.connect()
        client.send(nickname + "\r\n")
        self.assertEqual(client.received(), [PROMPT, welcome(nickname.strip())])
        return client, self.logins.deferreds[-1]

    def test_recorder_called_with_nickname_and_clock_time(self) -> None:
        self.clock.advance(5)
        self._login_pending()
        self.assertEqual(self.logins.calls, [("ana", EPOCH + timedelta(seconds=5))])
        self.assertEqual(self.logins.calls[0][1].utcoffset(), timedelta(0))

    def test_recorder_gets_the_normalised_nickname(self) -> None:
        client = self.connect()
        client.send(" Jose\u0301\t\r\n")
        self.assertEqual(self.logins.calls, [("José", EPOCH)])

    def test_recorder_not_called_for_rejected_nicknames(self) -> None:
        self.login("ana")
        client = self.connect()
        client.send("ana\r\n1bad\r\n\r\n")
        self.assertEqual([nick for nick, _ in self.logins.calls], ["ana"])

    def test_returning_user_is_shown_the_previous_time(self) -> None:
        client, d = self._login_pending()
        d.callback(datetime(2026, 11, 20, 10, 5, 7, tzinfo=UTC))
        self.assertEqual(
            client.received(), ["* Tu última conexión fue el 2026-11-20T10:05:07+00:00."]
        )

    def test_first_visit(self) -> None:
        client, d = self._login_pending()
        d.callback(None)
        self.assertEqual(client.received(), [FIRST_VISIT])

    def test_only_the_user_is_told(self) -> None:
        bob = self.login("bob")
        _, d = self._login_pending()
        bob.received()
        d.callback(None)
        self.assertNothingReceived(bob)

    def test_no_line_when_the_database_fails(self) -> None:
        client, d = self._login_pending()
        d.errback(Failure(RuntimeError("database down")))
        self.assertNothingReceived(client)
        client.send("/username\r\n")
        self.assertEqual(client.received(), ["* Tu nickname es ana."])
        self.assertFalse(client.closing)

    def test_nothing_sent_if_the_user_left_before_it_fired(self) -> None:
        client, d = self._login_pending()
        client.lose()
        d.callback(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
        self.assertEqual(client.transport.value(), b"")

    def test_nothing_sent_if_the_user_quit_before_it_fired(self) -> None:
        client, d = self._login_pending()
        client.send("/salir\r\n")
        client.received()
        d.callback(None)
        self.assertNothingReceived(client)

    def test_new_owner_of_the_nickname_does_not_get_the_old_answer(self) -> None:
        old, d_old = self._login_pending()
        old.lose()
        new, _ = self._login_pending()
        d_old.callback(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
        self.assertNothingReceived(new, old)


class CorePreviousLoginTests(SynchronousTestCase):
    """The core itself (not only the protocol) sends nothing once the user has left."""

    def setUp(self) -> None:
        self.logins = RecordingLogins()
        clock = Clock()
        clock.advance(EPOCH.timestamp())
        self.chat = assemble(SPANISH, clock, logins=self.logins).core

    def _login(self, nickname: str) -> FakeSession:
        session = FakeSession()
        self.chat.connected(session)
        self.chat.line_received(session, nickname)
        self.assertEqual(session.nickname, nickname)
        session.delivered.clear()
        return session

    def test_answer_after_the_user_left_is_dropped(self) -> None:
        session = self._login("ana")
        self.chat.disconnected(session)
        self.logins.deferreds[-1].callback(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
        self.assertEqual(session.delivered, [])

    def test_answer_for_a_previous_owner_of_the_nickname_is_dropped(self) -> None:
        old = self._login("ana")
        self.chat.disconnected(old)
        new = self._login("ANA")
        self.logins.deferreds[0].callback(None)
        self.assertEqual((old.delivered, new.delivered), ([], []))
        self.logins.deferreds[1].callback(None)
        self.assertEqual(new.delivered, [b"* Es tu primera conexi\xc3\xb3n.\r\n"])


class ListarTests(ChatTestCase):
    """``/listar`` and ``/list``: ``* Conectados (N): ana, Bob, carol``, sorted by casefold."""

    def test_format_and_casefold_order(self) -> None:
        carol, bob, ana = self.login("carol"), self.login("Bob"), self.login("ana")
        self.connect()  # at the prompt: not listed
        self.clients.drain()
        ana.send("/listar\r\n")
        self.assertEqual(ana.received(), ["* Conectados (3): ana, Bob, carol"])
        self.assertNothingReceived(bob, carol)

    def test_alias(self) -> None:
        for nick in ["carol", "Bob", "ana"]:
            self.login(nick)
        self.clients[0].send("/list\r\n")
        self.assertEqual(self.clients[0].received(), ["* Conectados (3): ana, Bob, carol"])

    def test_alone(self) -> None:
        ana = self.login("ana")
        ana.send("/listar\r\n")
        self.assertEqual(ana.received(), ["* Conectados (1): ana"])

    def test_latin1_nicknames_order(self) -> None:
        for nick in ["Zoe", "álvaro", "Bob", "ana"]:
            self.login(nick)
        self.clients[0].send("/listar\r\n")
        self.assertEqual(self.clients[0].received(), ["* Conectados (4): ana, Bob, Zoe, álvaro"])

    def test_updates_when_someone_leaves(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        bob.lose()
        ana.received()
        ana.send("/listar\r\n")
        self.assertEqual(ana.received(), ["* Conectados (1): ana"])


class SalirTests(ChatTestCase):
    """``/salir`` and ``/quit``: a goodbye line, then the connection is closed."""

    def test_goodbye_then_close(self) -> None:
        ana = self.login("ana")
        ana.send("/salir\r\n")
        self.assertEqual(ana.received(), ["* Hasta pronto, ana."])
        self.assertTrue(ana.closing)
        self.assertFalse(ana.aborted)  # a clean close: the goodbye line is flushed first

    def test_alias(self) -> None:
        ana = self.login("ana")
        ana.send("/quit\r\n")
        self.assertEqual(ana.received(), ["* Hasta pronto, ana."])
        self.assertTrue(ana.closing)

    def test_lines_after_salir_in_the_same_chunk_are_not_processed(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("/salir\r\nhola\r\n/listar\r\n#bob psst\r\n")
        self.assertEqual(ana.received(), ["* Hasta pronto, ana."])
        self.assertNothingReceived(bob)

    def test_later_chunks_are_not_processed(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("/salir\r\n")
        ana.received()
        ana.send("hola\r\n/listar\r\n")
        self.assertNothingReceived(ana, bob)

    def test_not_closed_by_other_commands(self) -> None:
        ana = self.login("ana")
        ana.send("/listar\r\n/username\r\n/ayuda\r\n/hora\r\nhola\r\n")
        self.assertFalse(ana.closing)


class UsernameTests(ChatTestCase):
    """``/username`` and ``/whoami``: one ``* `` line with your nickname."""

    def test_username(self) -> None:
        bob = self.login("Bob")
        bob.send("/username\r\n")
        self.assertEqual(bob.received(), ["* Tu nickname es Bob."])

    def test_whoami(self) -> None:
        bob = self.login("Bob")
        bob.send("/whoami\r\n")
        self.assertEqual(bob.received(), ["* Tu nickname es Bob."])


class AyudaTests(ChatTestCase):
    """``/ayuda`` and ``/help``: generated from the command table."""

    EXPECTED: ClassVar[list[str]] = AYUDA

    def test_ayuda(self) -> None:
        ana = self.login("ana")
        ana.send("/ayuda\r\n")
        self.assertEqual(ana.received(), self.EXPECTED)

    def test_help(self) -> None:
        ana = self.login("ana")
        ana.send("/help\r\n")
        self.assertEqual(ana.received(), self.EXPECTED)

    def test_lists_every_name_and_alias_of_the_table(self) -> None:
        ana = self.login("ana")
        ana.send("/ayuda\r\n")
        lines = ana.received()
        # Everything but the operators' commands (ana is not an operator).
        specs = [spec for spec in self.chat.commands.specs() if not spec.operator_only]
        self.assertEqual(len(lines), len(specs) + 2)
        self.assertTrue(all(line.startswith("* ") for line in lines))
        text = "\n".join(lines)
        for spec in specs:
            for word in (spec.name, *spec.aliases):
                self.assertRegex(text, rf"/{re.escape(word)}\b")
            self.assertIn(spec.help["es"], text)

    def test_the_command_table(self) -> None:
        table = {spec.name: spec.aliases for spec in self.chat.commands.specs()}
        self.assertEqual(
            table,
            {
                "listar": ("list",),
                "salir": ("quit",),
                "username": ("whoami",),
                "ayuda": ("help",),
                "hora": ("time",),
                "ping": (),
                "registrar": ("register",),
                "password": (),
                "nick": (),
                "me": (),
                "salas": ("rooms",),
                "unirse": ("join",),
                "sala": ("room",),
                "tema": ("topic",),
                "expulsar": ("kick",),
                "silenciar": ("mute",),
                "banear": ("ban",),
                "desbanear": ("unban",),
                "baneos": ("bans",),
                "anuncio": ("announce",),
            },
        )
        self.assertEqual(
            self.chat.commands.names(),
            {"listar", "list", "salir", "quit", "username", "whoami", "ayuda", "help"}
            | {"hora", "time", "ping", "registrar", "register", "password", "nick", "me"}
            | {"salas", "rooms", "unirse", "join", "sala", "room", "tema", "topic"}
            | {"expulsar", "kick", "silenciar", "mute", "banear", "ban", "desbanear", "unban"}
            | {"baneos", "bans", "anuncio", "announce"},
        )
        operator_only = {spec.name for spec in self.chat.commands.specs() if spec.operator_only}
        self.assertEqual(
            operator_only, {"expulsar", "silenciar", "banear", "desbanear", "baneos", "anuncio"}
        )

    def _table(self, *extra: object) -> CommandTable:
        """The chat's command table with the groups ``extra`` after the users' commands."""
        parts = self.parts
        user = UserCommands(parts.room, parts.events)
        table = CommandTable(
            parts.events,
            [
                user,
                RoomCommands(parts.room, parts.events),
                *extra,
                OperatorCommands(parts.room, parts.events, parts.language),
            ],
            is_operator=parts.operators.is_operator,
        )
        user.help = table.help
        return table

    def test_adding_a_command_is_adding_one_method(self) -> None:
        events = self.parts.events

        class Eco:
            @command("eco", "echo", es="repite el texto", en="echoes the text")
            def eco(self, session: ChatSession, args: str) -> None:
                """Answer with a notice naming TEXT."""
                session.deliver(events.notice("username", nick=args))

        self.chat.commands = self._table(Eco())
        ana = self.login("ana")
        ana.send("/ayuda\r\n/ECHO hola\r\n")
        lines = ana.received()
        self.assertEqual(
            lines[:-1], [*self.EXPECTED[:-1], "* /eco, /echo: repite el texto", self.EXPECTED[-1]]
        )
        self.assertEqual(lines[-1], "* Tu nickname es hola.")

    def test_a_name_registered_twice_is_refused(self) -> None:
        class Lista:
            @command("lista", "list", es="x", en="x")
            def lista(self, session: ChatSession, args: str) -> None:
                """Never runs."""

        with self.assertRaises(ValueError):
            self._table(Lista())


class HoraTests(ChatTestCase):
    """``/hora`` and ``/time``: ISO 8601, ``T``, seconds precision, UTC offset."""

    ISO = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}"

    def _hora(self, line: str = "/hora") -> str:
        ana = self.login("ana")
        ana.send(line + "\r\n")
        lines = ana.received()
        self.assertEqual(len(lines), 1, lines)
        match = re.fullmatch(rf"\* Hora del servidor: ({self.ISO})", lines[0])
        if match is None:
            self.fail(f"not an ISO 8601 time with offset: {lines[0]!r}")
        return match.group(1)

    def _use_timezone(self, tz: str) -> None:
        if not hasattr(time, "tzset"):
            raise SkipTest("needs time.tzset")
        old = os.environ.get("TZ")

        def restore() -> None:
            if old is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = old
            time.tzset()

        self.addCleanup(restore)
        os.environ["TZ"] = tz
        time.tzset()

    def test_format_and_value(self) -> None:
        stamp = self._hora()
        self.assertEqual(datetime.fromisoformat(stamp), EPOCH)

    def test_alias(self) -> None:
        self.assertEqual(datetime.fromisoformat(self._hora("/time")), EPOCH)

    def test_seconds_precision(self) -> None:
        self.clock.advance(61.75)
        stamp = self._hora()
        self.assertNotIn(".", stamp)
        self.assertEqual(datetime.fromisoformat(stamp), EPOCH + timedelta(seconds=61))

    def test_utc(self) -> None:
        self._use_timezone("UTC0")
        self.assertEqual(self._hora(), "2026-11-24T08:30:00+00:00")

    def test_positive_offset(self) -> None:
        self._use_timezone("IST-5:30")
        self.assertEqual(self._hora(), "2026-11-24T14:00:00+05:30")

    def test_negative_offset(self) -> None:
        self._use_timezone("EST5")
        self.assertEqual(self._hora(), "2026-11-24T03:30:00-05:00")


class CommandDispatchTests(ChatTestCase):
    """Case-insensitive names, both languages, unknown commands, ignored arguments."""

    def test_case_insensitive(self) -> None:
        ana = self.login("ana")
        ana.send("/LISTAR\r\n/Username\r\n/WhoAmI\r\n")
        self.assertEqual(
            ana.received(),
            ["* Conectados (1): ana", "* Tu nickname es ana.", "* Tu nickname es ana."],
        )

    def test_case_insensitive_salir(self) -> None:
        ana = self.login("ana")
        ana.send("/QUIT\r\n")
        self.assertEqual(ana.received(), ["* Hasta pronto, ana."])
        self.assertTrue(ana.closing)

    def test_slash_alone(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("/\r\n")
        self.assertEqual(ana.received(), [EMPTY_COMMAND])
        ana.send("/ \r\n/ listar\r\n")
        self.assertEqual(ana.received(), [EMPTY_COMMAND, EMPTY_COMMAND])
        self.assertNothingReceived(bob)

    def test_unknown_command(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("/foo\r\n")
        self.assertEqual(ana.received(), [unknown_command("foo")])
        self.assertNothingReceived(bob)

    def test_unknown_command_with_arguments(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("/foo bar baz\r\n")
        self.assertEqual(ana.received(), [unknown_command("foo")])
        self.assertNothingReceived(bob)

    def test_only_registered_commands_are_reachable(self) -> None:
        ana = self.login("ana")
        for name in ["dispatch", "specs", "names", "events", "texts", "clock", "__init__"]:
            ana.send(f"/{name} x\r\n")
            self.assertEqual(ana.received(), [unknown_command(name)], name)
        self.assertFalse(ana.closing)

    def test_arguments_to_commands_taking_none_are_ignored(self) -> None:
        ana = self.login("ana")
        ana.send("/username foo\r\n/listar a b c\r\n/whoami\tx\r\n")
        self.assertEqual(
            ana.received(),
            ["* Tu nickname es ana.", "* Conectados (1): ana", "* Tu nickname es ana."],
        )
        ana.send("/ayuda me\r\n")
        self.assertEqual(ana.received(), AyudaTests.EXPECTED)
        ana.send("/hora ya\r\n")
        self.assertEqual(ana.received()[0][:20], "* Hora del servidor:")
        ana.send("/salir ahora\r\n")
        self.assertEqual(ana.received(), ["* Hasta pronto, ana."])
        self.assertTrue(ana.closing)

    def test_english_aliases_in_spanish_mode(self) -> None:
        ana = self.login("ana")
        ana.send("/list\r\n/whoami\r\n")
        self.assertEqual(ana.received(), ["* Conectados (1): ana", "* Tu nickname es ana."])

    def test_command_must_start_the_line(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send(" /listar\r\n")
        self.assertNothingReceived(ana)
        self.assertEqual(bob.received(), ["<ana>  /listar"])


class PrivateMessageTests(ChatTestCase):
    """``#NICK TEXT``: to NICK as ``*SENDER* TEXT``, echoed as ``-> *NICK* TEXT``."""

    def setUp(self) -> None:
        super().setUp()
        self.ana = self.login("ana")
        self.bob = self.login("Bob")
        self.carol = self.login("carol")

    def test_delivered_and_echoed(self) -> None:
        self.ana.send("#Bob hola\r\n")
        self.assertEqual(self.bob.received(), ["*ana* hola"])
        self.assertEqual(self.ana.received(), ["-> *Bob* hola"])
        self.assertNothingReceived(self.carol)

    def test_case_insensitive_echo_uses_the_recipients_spelling(self) -> None:
        self.ana.send("#BOB hi\r\n#bob hey\r\n")
        self.assertEqual(self.bob.received(), ["*ana* hi", "*ana* hey"])
        self.assertEqual(self.ana.received(), ["-> *Bob* hi", "-> *Bob* hey"])

    def test_nfc_match(self) -> None:
        jose = self.login("José")
        self.ana.send("#JOSE\u0301 hola\r\n")
        self.assertEqual(jose.received(), ["*ana* hola"])
        self.assertEqual(self.ana.received(), ["-> *José* hola"])

    def test_text_verbatim(self) -> None:
        self.ana.send("#Bob  hola   mundo  \r\n")
        self.assertEqual(self.bob.received(), ["*ana*  hola   mundo  "])
        self.assertEqual(self.ana.received(), ["-> *Bob*  hola   mundo  "])

    def test_tab_separator(self) -> None:
        self.ana.send("#Bob\thola\r\n")
        self.assertEqual(self.bob.received(), ["*ana* hola"])

    def test_utf8_text(self) -> None:
        self.ana.send("#Bob ¿qué tal, señor? 🎉\r\n")
        self.assertEqual(self.bob.received(), ["*ana* ¿qué tal, señor? 🎉"])
        self.assertEqual(self.ana.received(), ["-> *Bob* ¿qué tal, señor? 🎉"])

    def test_offline(self) -> None:
        self.ana.send("#zoe hola\r\n")
        self.assertEqual(self.ana.received(), ["! zoe no está conectado."])
        self.assertNothingReceived(self.bob, self.carol)

    def test_offline_is_logged(self) -> None:
        recorder = record_logs(self)
        self.ana.send("#zoe hola\r\n")
        self.assertTrue(
            any(e.get("sender") == "ana" and e.get("target") == "zoe" for e in recorder.events),
            recorder.events,
        )

    def test_at_the_prompt_counts_as_offline(self) -> None:
        waiting = self.connect()
        waiting.received()
        waiting.send("1bad\r\n")
        waiting.received()
        self.ana.send("#dave hola\r\n")
        self.assertEqual(self.ana.received(), ["! dave no está conectado."])
        self.assertNothingReceived(waiting)

    def test_after_the_recipient_left(self) -> None:
        self.bob.lose()
        self.ana.received()
        self.ana.send("#Bob hola\r\n")
        self.assertEqual(self.ana.received(), ["! Bob no está conectado."])

    def test_empty_text(self) -> None:
        self.ana.send("#Bob\r\n")
        self.assertEqual(self.ana.received(), [PRIVATE_EMPTY])
        self.ana.send("#Bob \r\n#Bob    \r\n#Bob \t \r\n")
        self.assertEqual(self.ana.received(), [PRIVATE_EMPTY] * 3)
        self.assertNothingReceived(self.bob, self.carol)

    def test_to_yourself(self) -> None:
        self.ana.send("#ana hola\r\n#ANA hola\r\n")
        self.assertEqual(self.ana.received(), [PRIVATE_SELF, PRIVATE_SELF])
        self.assertNothingReceived(self.bob, self.carol)

    def test_invalid_nickname(self) -> None:
        self.ana.send("#1bob hola\r\n")
        self.assertEqual(self.ana.received(), ["! Nickname no válido en el mensaje privado: 1bob"])
        self.ana.send("#b*b hola\r\n#" + "b" * 21 + " hola\r\n")
        self.assertEqual(len(self.ana.received()), 2)
        self.assertNothingReceived(self.bob, self.carol)

    def test_hash_alone_and_hash_space(self) -> None:
        self.ana.send("#\r\n# Bob hola\r\n")
        lines = self.ana.received()
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(all(line.startswith("! ") for line in lines), lines)
        self.assertNothingReceived(self.bob, self.carol)


class PublicMessageTests(ChatTestCase):
    """Any other non-empty line: ``<SENDER> TEXT`` to every other logged-in client, verbatim."""

    def test_relayed_to_everyone_but_the_sender(self) -> None:
        ana, bob, carol = self.login("ana"), self.login("bob"), self.login("carol")
        waiting = self.connect()
        waiting.received()
        ana.send("hola a todos\r\n")
        self.assertNothingReceived(ana, waiting)
        self.assertEqual(bob.received(), ["<ana> hola a todos"])
        self.assertEqual(carol.received(), ["<ana> hola a todos"])

    def test_verbatim_spaces(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("  hola   mundo \t \r\n")
        self.assertEqual(bob.received(), ["<ana>   hola   mundo \t "])

    def test_not_normalised(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("Jose\u0301 ﬁ\r\n")
        self.assertEqual(bob.received(), ["<ana> Jose\u0301 ﬁ"])

    def test_lines_that_look_like_server_lines(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("* fake\r\n! fake\r\n*bob* fake\r\n")
        self.assertEqual(bob.received(), ["<ana> * fake", "<ana> ! fake", "<ana> *bob* fake"])

    def test_blank_lines_ignored(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("\r\n\n   \r\n\t\r\n \t \t\n")
        self.assertNothingReceived(ana, bob)

    def test_nbsp_line_is_not_blank(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("\u00a0\r\n")
        self.assertEqual(bob.received(), ["<ana> \u00a0"])

    def test_utf8_enye_and_emoji(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("¡Hola, señor! 🎉👍🏽\r\n")
        self.assertEqual(bob.received(), ["<ana> ¡Hola, señor! 🎉👍🏽"])

    def test_utf8_split_across_chunks(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send_bytewise("¡Hola, señor! 🎉\r\n".encode())
        self.assertEqual(bob.received(), ["<ana> ¡Hola, señor! 🎉"])
        self.assertNothingReceived(ana)

    def test_lf_and_crlf(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("uno\ndos\r\ntres\n")
        self.assertEqual(bob.received(), ["<ana> uno", "<ana> dos", "<ana> tres"])

    def test_line_split_across_many_chunks(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        for chunk in [b"ho", b"la ", b"mun", b"do\r", b"\n"]:
            ana.send(chunk)
        self.assertEqual(bob.received(), ["<ana> hola mundo"])

    def test_only_one_trailing_cr_stripped(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("hola\r\r\n")  # the remaining CR is a control character
        self.assertEqual(ana.received(), [CONTROL])
        self.assertNothingReceived(bob)

    def test_tab_is_allowed(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("a\tb\r\n")
        self.assertEqual(bob.received(), ["<ana> a\tb"])


class InputErrorTests(ChatTestCase):
    """Control characters, invalid UTF-8 and over-long lines: one ``! `` line, connection stays."""

    def setUp(self) -> None:
        super().setUp()
        self.ana = self.login("ana")
        self.bob = self.login("bob")

    def _refused(self, data: bytes, error: str) -> None:
        self.ana.send(data)
        self.assertEqual(self.ana.received(), [error], data)
        self.assertNothingReceived(self.bob)
        self.assertFalse(self.ana.closing)

    def test_c0_controls_refused(self) -> None:
        for code in [*range(0x00, 0x09), *range(0x0B, 0x0D), *range(0x0E, 0x20)]:
            self._refused(f"hola{chr(code)}mundo\r\n".encode(), CONTROL)

    def test_cr_inside_a_line_refused(self) -> None:
        self._refused(b"hola\rmundo\r\n", CONTROL)

    def test_del_refused(self) -> None:
        self._refused(b"hola\x7f\r\n", CONTROL)

    def test_c1_controls_refused(self) -> None:
        for code in range(0x80, 0xA0):
            self._refused(f"hola{chr(code)}\r\n".encode(), CONTROL)

    def test_ansi_escape_refused(self) -> None:
        self._refused(b"\x1b[2J\x1b[31mhacked\r\n", CONTROL)

    def test_control_only_line_refused(self) -> None:
        self._refused(b"\x00\r\n", CONTROL)
        self._refused(b"\x1b\r\n", CONTROL)

    def test_control_in_a_command_refused(self) -> None:
        self._refused(b"/listar\x1b[31m\r\n", CONTROL)
        self._refused(b"/salir\x07\r\n", CONTROL)
        self.assertFalse(self.ana.closing)

    def test_control_in_a_private_message_refused(self) -> None:
        self._refused(b"#bob \x1b[2Jhola\r\n", CONTROL)
        self._refused("#bob hola\u009b31m\r\n".encode(), CONTROL)

    def test_next_line_processed_after_a_refused_one(self) -> None:
        self.ana.send(b"\x1b[31m\r\nhola\r\n")
        self.assertEqual(self.ana.received(), [CONTROL])
        self.assertEqual(self.bob.received(), ["<ana> hola"])

    def test_invalid_utf8(self) -> None:
        for data in [b"\xff\xfe", b"caf\xe9", b"\xc0\xaf", b"\xed\xa0\x80", b"\xc3", b"a\x80b"]:
            self._refused(data + b"\r\n", BAD_UTF8)

    def test_invalid_utf8_then_a_good_line_in_the_same_chunk(self) -> None:
        self.ana.send(b"\xff\r\nhola\r\n")
        self.assertEqual(self.ana.received(), [BAD_UTF8])
        self.assertEqual(self.bob.received(), ["<ana> hola"])

    def test_utf8_decoded_per_line_not_per_chunk(self) -> None:
        # A broken line does not spoil its neighbours in the same chunk.
        self.ana.send("uno ñ\r\n".encode() + b"\xc3\r\n" + "dos ñ\r\n".encode())
        self.assertEqual(self.ana.received(), [BAD_UTF8])
        self.assertEqual(self.bob.received(), ["<ana> uno ñ", "<ana> dos ñ"])

    def test_1024_byte_line_with_crlf_is_legal(self) -> None:
        text = "x" * 1024
        self.ana.send(text + "\r\n")
        self.assertNothingReceived(self.ana)
        self.assertEqual(self.bob.received(), [f"<ana> {text}"])

    def test_1024_byte_line_with_lf_is_legal(self) -> None:
        text = "ñ" * 512
        self.ana.send(text + "\n")
        self.assertEqual(self.bob.received(), [f"<ana> {text}"])

    def test_1025_byte_line_is_too_long(self) -> None:
        self._refused(b"x" * 1025 + b"\r\n", TOO_LONG)
        self._refused(b"x" * 1025 + b"\n", TOO_LONG)

    def test_too_long_reported_once_over_many_chunks(self) -> None:
        for _ in range(100):
            self.ana.send(b"x" * 500)
        self.ana.send(b"end\r\n")
        self.assertEqual(self.ana.received(), [TOO_LONG])
        self.assertNothingReceived(self.bob)
        self.ana.send("sigo aquí\r\n")
        self.assertEqual(self.bob.received(), ["<ana> sigo aquí"])

    def test_too_long_byte_by_byte(self) -> None:
        self.ana.send_bytewise(b"x" * 1100 + b"\r\nok\r\n")
        self.assertEqual(self.ana.received(), [TOO_LONG])
        self.assertEqual(self.bob.received(), ["<ana> ok"])

    def test_lines_after_a_long_line_in_the_same_chunk_are_processed(self) -> None:
        self.ana.send(b"antes\r\n" + b"x" * 5000 + b"\r\ndespues\r\n/username\r\n")
        self.assertEqual(self.ana.received(), [TOO_LONG, "* Tu nickname es ana."])
        self.assertEqual(self.bob.received(), ["<ana> antes", "<ana> despues"])

    def test_binary_junk_does_not_break_the_server(self) -> None:
        junk = bytes(range(256)) * 20
        self.ana.send(junk)
        self.ana.send(b"\r\n")
        lines = self.ana.received()
        self.assertTrue(lines, "junk must get at least one error line")
        self.assertTrue(all(line.startswith("! ") for line in lines), lines)
        self.assertNothingReceived(self.bob)
        self.assertFalse(self.ana.closing)
        self.ana.send("/username\r\n")
        self.assertEqual(self.ana.received(), ["* Tu nickname es ana."])


class ServerLineTests(ChatTestCase):
    """Every server line ends in CRLF; the protocol keeps ``LineReceiver``'s shape."""

    def test_every_line_ends_in_crlf(self) -> None:
        bob = self.login("bob")
        ana = self.connect()
        ana.send("1x\r\nana\r\n/listar\r\n/ayuda\r\n/hora\r\n#bob hi\r\n#zoe hi\r\n/foo\r\n")
        bob.send("hola\r\n")
        raw = ana.transport.value()
        self.assertTrue(raw.endswith(CRLF))
        self.assertEqual(raw.count(b"\n"), raw.count(CRLF))
        self.assertEqual(raw.count(b"\r"), raw.count(CRLF))
        self.assertEqual(len(ana.received()), 9 + len(AYUDA))

    def test_is_a_chat_protocol_of_the_factory(self) -> None:
        client = self.connect()
        self.assertIsInstance(client.protocol, ChatProtocol)
        self.assertIs(client.protocol.factory, self.factory)


class DeliveryTests(ChatTestCase):
    """Fan-out: one encoded object for every recipient; a broken recipient stops nobody else."""

    def test_public_message_is_the_same_bytes_object_for_everyone(self) -> None:
        ana = self.login("ana")
        others = [self.login(nick) for nick in ["bob", "carol", "dave"]]
        ana.send("hola\r\n")
        sent = [client.transport.writes[-1] for client in others]
        self.assertEqual(sent[0], b"<ana> hola\r\n")
        for data in sent[1:]:
            self.assertIs(data, sent[0])

    def test_join_and_leave_notices_are_the_same_object_for_everyone(self) -> None:
        others = [self.login(nick) for nick in ["bob", "carol", "dave"]]
        ana = self.login("ana")
        notices = [client.transport.writes[-1] for client in others]
        self.assertEqual(notices[0], b"* ana se ha unido al chat.\r\n")
        for data in notices[1:]:
            self.assertIs(data, notices[0])
        ana.lose()
        notices = [client.transport.writes[-1] for client in others]
        self.assertEqual(notices[0], b"* ana ha salido del chat.\r\n")
        for data in notices[1:]:
            self.assertIs(data, notices[0])

    def test_websocket_members_get_one_frame_built_once_for_all_of_them(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        browsers = []
        frames = self.parts.frames
        for nick in ["carol", "dave"]:
            browser = self.clients.connect(self.factory, DEFAULT_PEER_HOST, frames=frames)
            browser.send(nick + "\r\n")
            self.assertEqual(browser.received(), [PROMPT, welcome(nick)])
            browsers.append(browser)
        self.clients.drain()
        ana.send("hola\r\n")
        self.assertEqual(bob.received(), ["<ana> hola"])
        self.assertEqual([browser.received() for browser in browsers], [["<ana> hola"]] * 2)
        sent = [browser.transport.writes[-1] for browser in browsers]
        self.assertEqual(sent[0], b"\x81\x0a<ana> hola")  # one text frame, without the CRLF
        self.assertIs(sent[1], sent[0])
        ana.send("#carol psst\r\n")
        self.assertEqual(ana.received(), ["-> *carol* psst"])
        self.assertEqual(browsers[0].received(), ["*ana* psst"])
        self.assertNothingReceived(bob, browsers[1])

    def test_a_failing_recipient_does_not_stop_the_others(self) -> None:
        ana, bob, carol, dave = (self.login(n) for n in ["ana", "bob", "carol", "dave"])
        bob.transport.fail_writes = True
        ana.send("hola\r\n")
        self.assertEqual(carol.received(), ["<ana> hola"])
        self.assertEqual(dave.received(), ["<ana> hola"])
        self.assertTrue(bob.aborted)
        self.assertEqual(len(self.flushLoggedErrors(WriteFailed)), 1)
        # The sender carries on, and the broken client leaves through the normal path.
        ana.send("/username\r\n")
        self.assertEqual(ana.received(), ["* Tu nickname es ana."])
        bob.lose(ConnectionLost())
        self.assertEqual(carol.received(), [left("bob")])
        self.assertEqual(ana.received(), [left("bob")])

    def test_a_failing_first_recipient_of_a_join_notice(self) -> None:
        bob, carol = self.login("bob"), self.login("carol")
        bob.transport.fail_writes = True
        ana = self.connect()
        ana.send("ana\r\n")
        self.assertEqual(ana.received(), [PROMPT, welcome("ana")])
        self.assertEqual(carol.received(), [joined("ana")])
        self.assertTrue(bob.aborted)
        self.flushLoggedErrors(WriteFailed)

    def test_a_failing_private_recipient_does_not_break_the_sender(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        bob.transport.fail_writes = True
        ana.send("#bob hola\r\nsigo\r\n")
        self.assertTrue(bob.aborted)
        self.assertFalse(ana.closing)
        self.flushLoggedErrors(WriteFailed)


class EnglishTests(ChatTestCase):
    """``--lang en``: the English catalogue is used; Spanish command names still work."""

    texts = ENGLISH

    def test_prompt_and_welcome(self) -> None:
        client = self.connect()
        self.assertEqual(client.received(), ["* Welcome to twisted-chat. Choose a nickname:"])
        client.send("1bad\r\nana\r\n")
        self.assertEqual(
            client.received(),
            [
                "! Invalid nickname: 1 to 20 letters, digits, _ or -, starting with a letter. "
                "Choose another nickname:",
                "* Welcome, ana. Type /help for the list of commands.",
            ],
        )

    def test_taken_join_and_leave(self) -> None:
        ana = self.login("ana")
        client = self.connect()
        client.received()
        client.send("ANA\r\nbob\r\n")
        self.assertEqual(
            client.received()[0],
            "! The nickname ANA is already connected. Choose another nickname:",
        )
        self.assertEqual(ana.received(), ["* bob joined the chat."])
        client.lose()
        self.assertEqual(ana.received(), ["* bob left the chat."])

    def test_previous_time_and_first_visit(self) -> None:
        client = self.connect()
        client.send("ana\r\n")
        self.logins.deferreds[-1].callback(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
        self.assertEqual(
            client.received()[-1], "* Your last connection was on 2026-11-20T10:00:00+00:00."
        )
        other = self.connect()
        other.send("bob\r\n")
        self.logins.deferreds[-1].callback(None)
        self.assertEqual(other.received()[-1], "* This is your first connection.")

    def test_commands(self) -> None:
        bob, ana = self.login("Bob"), self.login("ana")
        ana.send("/list\r\n/listar\r\n/whoami\r\n/foo x\r\n/\r\n")
        self.assertEqual(
            ana.received(),
            [
                "* Connected (2): ana, Bob",
                "* Connected (2): ana, Bob",
                "* Your nickname is ana.",
                "! Unknown command: /foo. Type /help for the list of commands.",
                "! Missing command name after /. Type /help for the list of commands.",
            ],
        )
        self.assertNothingReceived(bob)

    def test_help(self) -> None:
        ana = self.login("ana")
        ana.send("/help\r\n")
        self.assertEqual(
            ana.received(),
            [
                "* Commands (Spanish names work too):",
                "* /listar, /list: list connected users",
                "* /salir, /quit: close the connection",
                "* /username, /whoami: show your nickname",
                "* /ayuda, /help: show this help",
                "* /hora, /time: show the server time",
                "* /ping: answers * pong",
                "* /registrar, /register PASSWORD: register your nickname with a password",
                "* /password OLD NEW: change your nickname's password",
                "* /nick NEW: change your nickname (at most once every 10 s)",
                "* /me TEXT: an action in your room: the others read ** YOUR_NICK TEXT",
                "* /salas, /rooms: list the rooms",
                "* /unirse, /join ROOM: move to the room ROOM (created if it does not exist)",
                "* /sala, /room: show your room and its topic",
                "* /tema, /topic [TEXT]: show your room's topic; with TEXT, set it",
                "* #nick text: private message to nick; any other line goes to everyone.",
            ],
        )

    def test_time(self) -> None:
        ana = self.login("ana")
        ana.send("/time\r\n/hora\r\n")
        lines = ana.received()
        self.assertEqual(len(lines), 2)
        for line in lines:
            self.assertRegex(line, rf"^\* Server time: {HoraTests.ISO}$")

    def test_quit(self) -> None:
        ana = self.login("ana")
        ana.send("/salir\r\n")
        self.assertEqual(ana.received(), ["* Goodbye, ana."])
        self.assertTrue(ana.closing)

    def test_private_errors(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("#zoe hi\r\n#bob\r\n#ana hi\r\n#1x hi\r\n#bob hi\r\n")
        self.assertEqual(
            ana.received(),
            [
                "! zoe is not connected.",
                "! Empty private message. Usage: #nick text",
                "! You cannot send a private message to yourself.",
                "! Invalid nickname in private message: 1x",
                "-> *bob* hi",
            ],
        )
        self.assertEqual(bob.received(), ["*ana* hi"])

    def test_input_errors(self) -> None:
        ana = self.login("ana")
        ana.send(b"\xff\r\n\x1b[31m\r\n" + b"x" * 1025 + b"\r\n")
        self.assertEqual(
            ana.received(),
            [
                "! The line is not valid UTF-8: discarded.",
                "! The line contains control characters: discarded.",
                "! Line too long (at most 1024 bytes): discarded.",
            ],
        )


#: The placeholders each template takes (the chat formats them with exactly these names).
PLACEHOLDERS: dict[str, set[str]] = {
    "nick_taken": {"nick"},
    "ctcp_not_delivered": {"nick", "command"},
    "welcome": {"nick"},
    "last_seen": {"when"},
    "joined": {"nick"},
    "left": {"nick"},
    "room_joined": {"nick", "room"},
    "room_left": {"nick", "room"},
    "room_kicked": {"by", "nick", "room", "reason"},
    "kick_default": {"nick", "room"},
    "room_invited": {"nick", "room"},
    "salas": {"count", "rooms"},
    "sala": {"room", "count", "nicks"},
    "tema": {"topic"},
    "no_topic": {"room"},
    "topic_set": {"nick", "topic"},
    "room_invalid": {"room"},
    "rooms_full": {"max"},
    "topic_too_long": {"length", "max"},
    "topic_denied": {"room"},
    "topic_denied_permanent": {"room"},
    "history_kept": {"days"},
    "history_missed": {"count", "n", "cursor"},
    "history_header": {"count", "room"},
    "history_empty": {"room"},
    "history_more": {"n", "cursor"},
    "history_usage": {"max"},
    "history_bad_cursor": {"cursor"},
    "search_header": {"count", "room", "text"},
    "search_none": {"room", "text"},
    "search_short": {"min"},
    "search_wait": {"seconds"},
    "recados_header": {"count"},
    "recado_unregistered": {"nick"},
    "recado_bad_nick": {"nick"},
    "recado_stored": {"nick"},
    "recado_delivered": {"nick"},
    "recado_read": {"nick"},
    "recado_sender_limit": {"max", "nick"},
    "recado_recipient_limit": {"max", "nick"},
    "private_offline_memo": {"nick"},
    "forget_done": {"messages", "recados"},
    "renamed": {"nick", "new"},
    "rename_same": {"nick"},
    "rename_invalid": {"nick"},
    "rename_taken": {"nick", "old"},
    "rename_banned": {"nick", "until", "old"},
    "rename_registered": {"nick"},
    "rename_too_soon": {"interval", "remaining"},
    "listar": {"count", "nicks"},
    "salir": {"nick"},
    "username": {"nick"},
    "hora": {"time"},
    "unknown_command": {"name"},
    "private_offline": {"nick"},
    "private_bad_nick": {"nick"},
    "line_too_long": {"limit"},
    "flood_dropped": {"rate"},
    "password_needed": {"nick"},
    "registered": {"nick"},
    "already_registered": {"nick"},
    "nick_lost": {"nick"},
    "operators_only": {"name"},
    "until": {"when"},
    "kicked": {"by", "reason"},
    "kick_done": {"nick"},
    "muted": {"remaining"},
    "room_moderated": {"room"},
    "room_modes": {"nick", "modes", "room"},
    "mute_done": {"nick", "minutes"},
    "mute_lifted": {"nick"},
    "nick_banned": {"nick", "until"},
    "banned_now": {"by", "until", "reason"},
    "ban_done": {"target", "until"},
    "ban_lifted": {"target"},
    "ban_not_found": {"target"},
    "bans_header": {"count"},
    "ban_line": {"target", "until", "by", "reason"},
    "announcement": {"by", "text"},
    "help_line": {"words", "usage", "help"},
    "irc_help_line": {"words", "usage", "help", "irc"},
    "irc_which_room": {"command", "rooms"},
    "irc_no_room": {"command"},
}

#: Entries that are the same in every language (a layout, a word of the protocol).
SAME_IN_EVERY_LANGUAGE = {"lang", "help_line", "irc_help_line", "pong"}


def placeholders(template: str) -> set[str]:
    """The ``str.format`` field names in ``template``."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


class CatalogueTests(SynchronousTestCase):
    """The Spanish and English catalogues are complete and interchangeable."""

    def test_catalogues_by_lang(self) -> None:
        self.assertEqual(CATALOGUES, {"es": SPANISH, "en": ENGLISH})
        self.assertEqual(SPANISH.lang, "es")
        self.assertEqual(ENGLISH.lang, "en")

    def test_every_field_filled(self) -> None:
        for catalogue in (SPANISH, ENGLISH):
            for field in dataclasses.fields(catalogue):
                value = getattr(catalogue, field.name)
                self.assertIsInstance(value, str, field.name)
                self.assertTrue(value.strip(), f"{catalogue.lang}.{field.name} is empty")

    def test_the_languages_differ(self) -> None:
        for field in dataclasses.fields(Catalogue):
            if field.name not in SAME_IN_EVERY_LANGUAGE:
                self.assertNotEqual(
                    getattr(SPANISH, field.name), getattr(ENGLISH, field.name), field.name
                )

    def test_placeholders(self) -> None:
        for catalogue in (SPANISH, ENGLISH):
            for field in dataclasses.fields(catalogue):
                if field.name == "lang":
                    continue
                self.assertEqual(
                    placeholders(getattr(catalogue, field.name)),
                    PLACEHOLDERS.get(field.name, set()),
                    f"{catalogue.lang}.{field.name}",
                )

    def test_no_prefixes_or_control_characters(self) -> None:
        for catalogue in (SPANISH, ENGLISH):
            for field in dataclasses.fields(catalogue):
                value: str = getattr(catalogue, field.name)
                self.assertFalse(value.startswith(("* ", "! ")), field.name)
                self.assertIsNone(re.search("[\x00-\x1f\x7f-\x9f]", value), field.name)

    def test_nickname_prompts_ask_for_another_nickname(self) -> None:
        self.assertTrue(SPANISH.nick_invalid.endswith("Elige otro nickname:"))
        self.assertTrue(SPANISH.nick_taken.endswith("Elige otro nickname:"))
        self.assertTrue(ENGLISH.nick_invalid.endswith("Choose another nickname:"))
        self.assertTrue(ENGLISH.nick_taken.endswith("Choose another nickname:"))
