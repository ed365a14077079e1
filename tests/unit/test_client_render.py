"""Unit tests of the terminal client's pure parts: server line kinds, escaping, colour, address
parsing, and the session's login memory across reconnects (``StringTransport`` and ``Clock``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from twisted.internet.defer import succeed
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_chat.client import render
from twisted_chat.client.cli import Address, parse_address
from twisted_chat.client.connection import (
    ChatClientFactory,
    ChatLineProtocol,
    ChatSession,
    reconnecting_service,
)
from twisted_chat.client.render import Kind, classify, escape


class ClassifyTests(SynchronousTestCase):
    """The five server line forms, told apart by prefix."""

    def test_forms(self) -> None:
        cases = {
            "* Conectados (2): ana, Bob": (Kind.NOTICE, None, "Conectados (2): ana, Bob"),
            "! Comando desconocido": (Kind.ERROR, None, "Comando desconocido"),
            "<Bob> hola a todos": (Kind.PUBLIC, "Bob", "hola a todos"),
            "*Bob* esto es privado": (Kind.PRIVATE, "Bob", "esto es privado"),
            "-> *Bob* esto es privado": (Kind.ECHO, "Bob", "esto es privado"),
            "** Bob baila salsa": (Kind.ACTION, "Bob", "baila salsa"),
            "<Bob>  two spaces kept ": (Kind.PUBLIC, "Bob", " two spaces kept "),
            "something else": (Kind.OTHER, None, "something else"),
            "*": (Kind.OTHER, None, "*"),
        }
        for line, (kind, nick, text) in cases.items():
            parsed = classify(line)
            self.assertEqual((parsed.kind, parsed.nick, parsed.text), (kind, nick, text), line)

    def test_notice_is_not_private(self) -> None:
        """``* `` (space after the star) is a notice even if a star follows later."""
        self.assertIs(classify("* a *b* c").kind, Kind.NOTICE)


class EscapeTests(SynchronousTestCase):
    """No received character can act on the terminal."""

    def test_c0_del_c1(self) -> None:
        self.assertEqual(escape("a\x1b[2Jb"), "a\\x1b[2Jb")
        self.assertEqual(escape("\x07\x08\t\r\n\x7f"), "\\x07\\x08\\x09\\x0d\\x0a\\x7f")
        self.assertEqual(escape("\x85\x9b31m"), "\\x85\\x9b31m")

    def test_bidi_and_format_characters(self) -> None:
        self.assertEqual(escape("abc\u202edef"), "abc\\u202edef")
        self.assertEqual(escape("x\u2066y\u200bz\ufeff"), "x\\u2066y\\u200bz\\ufeff")
        self.assertEqual(escape("a\u2028b"), "a\\u2028b")

    def test_ordinary_text_unchanged(self) -> None:
        for text in ("hola", "ñandú José", "日本語", "emoji 🎉", "a\\x1b"):
            self.assertEqual(escape(text), text)

    def test_render_escapes_in_every_kind(self) -> None:
        for line in ("* \x1b]0;t\x07", "! \x1b[H", "<e\x1bve> x", "<eve> \x1b[2J", "*e* \x9b"):
            for colour in (True, False):
                shown = render.render(classify(line), colour=colour, own_nick="ana")
                stripped = shown
                for sgr in (render.RESET, render.DIM, render.RED, render.PRIVATE_STYLE):
                    stripped = stripped.replace(sgr, "")
                stripped = stripped.replace(render.NICK_STYLE, "").replace(render.MENTION_STYLE, "")
                self.assertNotIn("\x1b", stripped, line)
                self.assertNotIn("\x9b", stripped, line)
                self.assertNotIn("\x07", stripped, line)

    def test_invalid_utf8_visible(self) -> None:
        self.assertEqual(render.decode(b"a\xffb"), "a\\xffb")


class ColourTests(SynchronousTestCase):
    """Colour by kind; no colour at all when it is off."""

    def test_no_colour_is_the_line(self) -> None:
        for line in ("* hola", "! no", "<Bob> ana hola", "*Bob* x", "-> *Bob* x"):
            self.assertEqual(render.render(classify(line), colour=False, own_nick="ana"), line)

    def test_kinds(self) -> None:
        self.assertEqual(render.render(classify("* hola"), colour=True), "\x1b[2m* hola\x1b[0m")
        self.assertEqual(render.render(classify("! no"), colour=True), "\x1b[31m! no\x1b[0m")
        self.assertEqual(
            render.render(classify("*Bob* x"), colour=True), "\x1b[1;35m*Bob* x\x1b[0m"
        )
        self.assertEqual(
            render.render(classify("-> *Bob* x"), colour=True), "\x1b[1;35m-> *Bob* x\x1b[0m"
        )

    def test_actions(self) -> None:
        self.assertEqual(
            render.render(classify("** Bob baila \x1b[2J"), colour=True),
            "\x1b[1m* Bob\x1b[0m baila \\x1b[2J",
        )
        self.assertEqual(render.render(classify("** Bob baila"), colour=False), "** Bob baila")

    def test_own_nick_highlighted_in_public_messages(self) -> None:
        shown = render.render(classify("<Bob> hola ANA, y anabel no"), colour=True, own_nick="ana")
        self.assertEqual(shown, "\x1b[1m<Bob>\x1b[0m hola \x1b[1;33mANA\x1b[0m, y anabel no")

    def test_local_lines(self) -> None:
        self.assertEqual(render.render_local("x", colour=False), "*** x")
        self.assertEqual(render.render_local("x", colour=True), "\x1b[36m*** x\x1b[0m")

    def test_display_width(self) -> None:
        self.assertEqual(render.display_width("ñandú"), 5)
        self.assertEqual(render.display_width("日本"), 4)
        self.assertEqual(render.display_width("e\u0301"), 1)


NOON = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
MADRID = timezone(timedelta(hours=1))


class StoredLineTests(SynchronousTestCase):
    """Version 1.1's stored lines: a public message from the history (dim, with its time) and
    a recado (apart, in bold green), told from every other notice."""

    def test_classify(self) -> None:
        history = classify("* [2026-12-06T03:34:47Z] <ana> hola <b> *c*")
        self.assertEqual(
            (history.kind, history.nick, history.text, history.time),
            (Kind.HISTORY, "ana", "hola <b> *c*", "2026-12-06T03:34:47Z"),
        )
        recado = classify("* [2026-12-06T03:34:47Z] *ana* TEXTO  con espacios ")
        self.assertEqual(
            (recado.kind, recado.nick, recado.text, recado.time),
            (Kind.RECADO, "ana", "TEXTO  con espacios ", "2026-12-06T03:34:47Z"),
        )

    def test_a_stored_action(self) -> None:
        action = classify("* [2026-12-06T03:34:47Z] ** ana baila salsa")
        self.assertEqual(
            (action.kind, action.nick, action.text, action.time),
            (Kind.HISTORY_ACTION, "ana", "baila salsa", "2026-12-06T03:34:47Z"),
        )
        shown = render.render(action, colour=True, tz=UTC)
        self.assertIn("* ana baila salsa", shown)
        self.assertTrue(shown.startswith(render.DIM))
        self.assertEqual(render.render(action, colour=False), action.raw)

    def test_near_misses_are_notices(self) -> None:
        for line in (
            "* [2026-12-06T03:34:47] <ana> hola",  # no Z
            "* [2026-12-06 03:34:47Z] <ana> hola",
            "* [2026-12-06T03:34:47Z]<ana> hola",
            "* [2026-12-06T03:34:47Z] <ana>hola",
            "* [2026-12-06T03:34:47Z] <a na> hola",
            "* [2026-12-06T03:34:47Z] *a*na* hola",
            "* [2026-12-06T03:34:47Z] ana hola",
            "* [hoy] <ana> hola",
            "* Mensajes anteriores: /historial 50 antes abc_-1",
        ):
            parsed = classify(line)
            self.assertEqual((parsed.kind, parsed.time), (Kind.NOTICE, None), line)
        # Not a notice at all: a live public message whose text looks stored stays public.
        self.assertIs(classify("<eve> * [2026-12-06T03:34:47Z] <ana> falso").kind, Kind.PUBLIC)

    def test_stored_time(self) -> None:
        self.assertEqual(render.stored_time("2026-12-06T03:34:47Z", tz=UTC, now=NOON), "03:34")
        self.assertEqual(render.stored_time("2026-12-06T23:34:47Z", tz=UTC, now=NOON), "23:34")
        # In the user's time zone: the day may change too.
        self.assertEqual(
            render.stored_time("2026-12-06T23:34:47Z", tz=MADRID, now=NOON), "2026-12-07 00:34"
        )
        self.assertEqual(
            render.stored_time("2026-11-30T08:00:00Z", tz=UTC, now=NOON), "2026-11-30 08:00"
        )

    def test_history_dim_with_its_time(self) -> None:
        line = classify("* [2026-12-06T03:34:47Z] <ana> hola bob")
        shown = render.render(line, colour=True, own_nick="bob", tz=UTC, now=NOON)
        self.assertEqual(shown, "\x1b[2m[03:34] <ana> hola bob\x1b[0m")
        shown = render.render(line, colour=True, tz=MADRID, now=NOON)
        self.assertEqual(shown, "\x1b[2m[04:34] <ana> hola bob\x1b[0m")

    def test_recado_apart(self) -> None:
        line = classify("* [2026-12-05T03:34:47Z] *ana* ven mañana")
        shown = render.render(line, colour=True, tz=UTC, now=NOON)
        self.assertEqual(shown, "\x1b[1;32m[2026-12-05 03:34] *ana*\x1b[0m ven mañana")
        for header in ("* Tienes 2 recados:", "* Tienes 1 recado:", "* You have 3 memos:"):
            self.assertEqual(
                render.render(classify(header), colour=True), f"\x1b[1;32m{header}\x1b[0m"
            )
        # Only the header itself.
        self.assertEqual(
            render.render(classify("* Tienes 2 recados: no"), colour=True),
            "\x1b[2m* Tienes 2 recados: no\x1b[0m",
        )

    def test_without_colour_as_received(self) -> None:
        for line in (
            "* [2026-12-06T03:34:47Z] <ana> hola",
            "* [2026-12-06T03:34:47Z] *ana* TEXTO",
            "* Tienes 2 recados:",
        ):
            self.assertEqual(render.render(classify(line), colour=False), line)

    def test_stored_lines_escaped(self) -> None:
        for line in (
            "* [2026-12-06T03:34:47Z] <ana> \x1b[2Jhola\x07",
            "* [2026-12-06T03:34:47Z] *ana* \x9b31m\u202eTEXTO",
            "* [2026-12-06T03:34:47Z] <a\x1bna> hola",
            "* [2026-12-06T03:34:47Z] *a\x1b]0;x\x07* hola",
        ):
            for colour in (True, False):
                shown = render.render(classify(line), colour=colour, tz=UTC, now=NOON)
                for sgr in (render.RESET, render.DIM, render.RECADO_STYLE):
                    shown = shown.replace(sgr, "")
                for char in ("\x1b", "\x9b", "\x07", "\u202e"):
                    self.assertNotIn(char, shown, line)


class AddressTests(SynchronousTestCase):
    """``HOST[:PORT]`` with defaults, IPv6 in brackets."""

    def test_forms(self) -> None:
        cases = {
            "": Address("127.0.0.1", 1234),
            "chat.example": Address("chat.example", 1234),
            "chat.example:4000": Address("chat.example", 4000),
            ":4000": Address("127.0.0.1", 4000),
            "[::1]:1234": Address("::1", 1234),
            "[::1]": Address("::1", 1234),
            "::1": Address("::1", 1234),
            "[::1]:": Address("::1", 1234),
        }
        for text, address in cases.items():
            self.assertEqual(parse_address(text), address, text)
        self.assertEqual(str(Address("::1", 5)), "[::1]:5")

    def test_bad(self) -> None:
        for text in ("host:0", "host:65536", "host:x", "[::1", "[::1]x"):
            self.assertRaises(ValueError, parse_address, text)


class RecordingUI:
    """A session UI that records what it was told."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def connected(self, reconnected: bool) -> None:
        self.events.append(("connected", reconnected))

    def server_line(self, line: str) -> None:
        self.events.append(line)

    def disconnected(self, reason: Failure) -> None:
        self.events.append(("lost", reason.type))


def connect(session: ChatSession) -> tuple[ChatLineProtocol, StringTransport]:
    """A new connection of ``session`` on a ``StringTransport``."""
    protocol = ChatClientFactory(session).buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


PROMPT = b"* Bienvenido a twisted-chat. Elige un nickname:\r\n"


class SessionTests(SynchronousTestCase):
    """The nickname the server accepted is remembered and sent again."""

    def test_nick_sent_first(self) -> None:
        session = ChatSession(RecordingUI(), "ana")
        _, transport = connect(session)
        self.assertEqual(transport.value(), b"ana\r\n")

    def test_accepted_nickname(self) -> None:
        ui = RecordingUI()
        session = ChatSession(ui)
        protocol, transport = connect(session)
        protocol.dataReceived(PROMPT)
        self.assertTrue(session.send("ana"))
        protocol.dataReceived(b"! El nickname ana ya est\xc3\xa1 en uso. Elige otro:\r\n")
        self.assertFalse(session.logged_in)
        session.send("Bea")
        protocol.dataReceived(b"* Bienvenido, Bea. Escribe /ayuda para ver los comandos.\r\n")
        self.assertTrue(session.logged_in)
        self.assertEqual(session.nickname, "Bea")
        self.assertEqual(transport.value(), b"ana\r\nBea\r\n")
        self.assertEqual(ui.events[0], ("connected", False))
        self.assertEqual(ui.events[1], PROMPT.decode().rstrip())

    def test_prompt_is_not_a_welcome(self) -> None:
        """A nickname sent before the prompt arrived is not accepted by the prompt that names
        it (``chat`` appears in ``twisted-chat``)."""
        session = ChatSession(RecordingUI(), "chat")
        protocol, _ = connect(session)
        protocol.dataReceived(PROMPT)
        self.assertFalse(session.logged_in)
        protocol.dataReceived(b"* Bienvenido, chat. Escribe /ayuda\r\n")
        self.assertTrue(session.logged_in)

    def test_lf_only_and_split_lines(self) -> None:
        ui = RecordingUI()
        protocol, _ = connect(ChatSession(ui))
        for byte in b"* a\r\n<b> c\n":
            protocol.dataReceived(bytes([byte]))
        self.assertEqual(ui.events[1:], ["* a", "<b> c"])

    def test_quit_after_login_sends_salir(self) -> None:
        session = ChatSession(RecordingUI(), "ana")
        protocol, transport = connect(session)
        protocol.dataReceived(PROMPT + b"* Bienvenido, ana.\r\n")
        transport.clear()
        session.send("/SALIR")
        self.assertTrue(session.quitting)
        self.assertEqual(transport.value(), b"/SALIR\r\n")

    def test_quit_before_login_closes(self) -> None:
        session = ChatSession(RecordingUI())
        _, transport = connect(session)
        session.quit()
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")


@implementer(IStreamClientEndpoint)
class FakeEndpoint:
    """An endpoint whose every connection is a ``StringTransport``."""

    def __init__(self) -> None:
        self.protocols: list[Any] = []
        self.transports: list[StringTransport] = []

    def connect(self, factory: Any) -> Any:
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.protocols.append(protocol)
        self.transports.append(transport)
        return succeed(protocol)


class ReconnectTests(SynchronousTestCase):
    """After a lost connection the service reconnects with backoff and logs in again."""

    def test_reconnect_logs_in_again(self) -> None:
        clock = Clock()
        ui = RecordingUI()
        session = ChatSession(ui)
        endpoint = FakeEndpoint()
        service = reconnecting_service(endpoint, session, clock)
        service.startService()
        self.assertEqual(len(endpoint.protocols), 1)
        first = endpoint.protocols[0]
        first.dataReceived(PROMPT)
        session.send("ana secreto")
        first.dataReceived(b"* Bienvenido, ana. Escribe /ayuda\r\n")
        self.assertEqual(session.nickname, "ana")
        first.connectionLost(Failure(ConnectionLost("gone")))
        self.assertIn(("lost", ConnectionLost), ui.events)
        self.assertFalse(session.connected)
        self.assertFalse(session.send("hola"))
        clock.advance(0.4)
        self.assertEqual(len(endpoint.protocols), 1)
        clock.advance(2.0)  # the first retry comes within 1 s plus up to 1 s of jitter
        self.assertEqual(len(endpoint.protocols), 2)
        self.assertEqual(ui.events[-1], ("connected", True))
        self.assertEqual(endpoint.transports[1].value(), b"ana secreto\r\n")
        # After /salir the disconnect is the end: stopping the service stops the retries.
        endpoint.protocols[1].dataReceived(PROMPT + b"* Bienvenido, ana.\r\n")
        session.send("/salir")
        self.assertTrue(session.quitting)
        service.stopService()
        endpoint.protocols[1].connectionLost(Failure(ConnectionDone()))
        clock.advance(60)
        self.assertEqual(len(endpoint.protocols), 2)


class RenamedToTests(SynchronousTestCase):
    """The client tells its own nickname change from anyone else's."""

    def test_forms(self) -> None:
        from twisted_chat.client.connection import renamed_to

        self.assertEqual(renamed_to("* ana ahora se llama Anita.", "ANA"), "Anita")
        self.assertEqual(renamed_to("* ana is now known as b.", "ana"), "b")
        self.assertIsNone(renamed_to("* bob ahora se llama Anita.", "ana"))
        self.assertIsNone(renamed_to("<ana> ana ahora se llama x.", "ana"))
        self.assertIsNone(renamed_to("* ana ahora se llama Anita", "ana"))
