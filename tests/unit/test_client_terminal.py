"""Unit tests of the client's terminal side on an in-memory terminal.

A :class:`~twisted_chat.client.terminal.ChatTerminal` runs under Twisted's ``insults``
``ServerProtocol`` (which parses key bytes, as on a real terminal) over a ``StringTransport``;
what it writes is fed to a ``pyte`` screen, so the tests check what the user would see and where
the cursor is. :class:`InteractiveClient` is tested the same way with its session on a
``StringTransport`` and a ``MemoryReactorClock``.
"""

from __future__ import annotations

from typing import Any

import pyte
from twisted.conch.insults.insults import ServerProtocol
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_chat.client.connection import ChatClientFactory, ChatLineProtocol
from twisted_chat.client.interactive import InteractiveClient, masked
from twisted_chat.client.piped import PipedClient
from twisted_chat.client.render import stored_time
from twisted_chat.client.terminal import ChatTerminal

UP = b"\x1b[A"
DOWN = b"\x1b[B"
LEFT = b"\x1b[D"


class Screen:
    """A ChatTerminal on an emulated terminal of ``columns`` x ``rows``."""

    def __init__(self, terminal: ChatTerminal, columns: int = 40, rows: int = 10) -> None:
        self.screen = pyte.Screen(columns, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.transport = StringTransport()
        self.terminal = terminal
        self.server_protocol = ServerProtocol(lambda: terminal)
        self.server_protocol.makeConnection(self.transport)
        terminal.terminalSize(columns, rows)

    def keys(self, data: bytes) -> None:
        """The user types ``data`` (bytes as a terminal sends them)."""
        self.server_protocol.dataReceived(data)

    def lines(self) -> list[str]:
        """The screen's rows, right-stripped, after everything written so far."""
        self.stream.feed(self.transport.value())
        self.transport.clear()
        return [row.rstrip() for row in self.screen.display]

    def text(self) -> list[str]:
        """The non-empty rows."""
        return [row for row in self.lines() if row]

    @property
    def cursor(self) -> tuple[int, int]:
        self.lines()
        return self.screen.cursor.y, self.screen.cursor.x


class Recorder:
    """Callbacks of a ChatTerminal, recorded."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.quits: list[bool] = []

    def terminal(self) -> ChatTerminal:
        return ChatTerminal(self.lines.append, self.quits.append)


class TerminalTests(SynchronousTestCase):
    """Editing, history and lines printed above the input."""

    def setUp(self) -> None:
        self.recorder = Recorder()
        self.term = Screen(self.recorder.terminal())

    def test_prompt_and_typing(self) -> None:
        self.term.keys(b"hola")
        self.assertEqual(self.term.text(), ["> hola"])
        self.assertEqual(self.term.cursor, (0, 6))

    def test_enter_sends_the_line(self) -> None:
        self.term.keys(b"hola\r")
        self.assertEqual(self.recorder.lines, ["hola"])
        self.assertEqual(self.term.text(), [">"])

    def test_lines_shown_above_the_input_while_typing(self) -> None:
        self.term.keys(b"hola mundo" + LEFT * 3)
        for n in range(3):
            self.term.terminal.show(f"<Bob> mensaje {n}")
        self.assertEqual(
            self.term.text(),
            ["<Bob> mensaje 0", "<Bob> mensaje 1", "<Bob> mensaje 2", "> hola mundo"],
        )
        self.assertEqual(self.term.cursor, (3, 9))
        self.term.keys(b"X\r")
        self.assertEqual(self.recorder.lines, ["hola muXndo"])

    def test_prompt_changes_keep_the_typed_line(self) -> None:
        self.term.keys(b"hola mundo" + LEFT * 3)
        self.term.terminal.set_prompt("[juegos] ana> ")
        self.assertEqual(self.term.text(), ["[juegos] ana> hola mundo"])
        self.assertEqual(self.term.cursor, (0, len("[juegos] ana> hola mu")))
        self.term.terminal.show("<Bob> hola")
        self.assertEqual(self.term.text(), ["<Bob> hola", "[juegos] ana> hola mundo"])
        self.term.keys(b"\r")
        self.assertEqual(self.term.text(), ["<Bob> hola", "[juegos] ana>"])

    def test_prompt_escaped(self) -> None:
        """A prompt built from server text cannot act on the terminal."""
        self.term.lines()
        self.term.terminal.set_prompt("[\x1b[2Jx\u202e] ana> ")
        written = self.term.transport.value()
        self.assertNotIn(b"\x1b[2J", written)
        self.assertNotIn("\u202e".encode(), written)
        self.assertEqual(self.term.text(), ["[\\x1b[2Jx\\u202e] ana>"])

    def test_prompt_set_before_the_terminal_is_there(self) -> None:
        terminal = self.recorder.terminal()
        terminal.set_prompt("ana> ")
        term = Screen(terminal)
        term.keys(b"x")
        self.assertEqual(term.text(), ["ana> x"])

    def test_many_lines_scroll(self) -> None:
        self.term.keys(b"abc")
        for n in range(30):
            self.term.terminal.show(f"line {n}")
        lines = self.term.lines()
        self.assertEqual(lines[-1], "> abc")
        self.assertEqual(lines[-2], "line 29")
        self.assertEqual(self.term.cursor, (9, 5))

    def test_wrapped_input(self) -> None:
        """An input longer than the terminal is wide wraps, and is still redrawn whole."""
        long = b"0123456789" * 5  # 52 columns with the prompt, on a 40-column terminal
        self.term.keys(long)
        self.assertEqual(
            self.term.text(), ["> " + "0123456789" * 3 + "01234567", "89" * 1 + "0123456789"]
        )
        self.term.terminal.show("<Bob> hola")
        self.assertEqual(
            self.term.text(),
            ["<Bob> hola", "> " + "0123456789" * 3 + "01234567", "890123456789"],
        )
        self.term.keys(LEFT * 20)
        self.assertEqual(self.term.cursor, (1, 32))
        self.term.terminal.show("<Bob> otra")
        self.assertEqual(self.term.cursor, (2, 32))
        self.term.keys(b"\r")
        self.assertEqual(self.recorder.lines, [long.decode()])

    def test_exact_width_input(self) -> None:
        self.term.keys(b"x" * 38)  # prompt + 38 = 40 columns: the cursor goes to the next row
        self.assertEqual(self.term.cursor, (1, 0))
        self.term.terminal.show("hola")
        self.assertEqual(self.term.text(), ["hola", "> " + "x" * 38])
        self.assertEqual(self.term.cursor, (2, 0))

    def test_history(self) -> None:
        self.term.keys(b"uno\rdos\r")
        self.term.keys(UP)
        self.assertEqual(self.term.text(), ["> dos"])
        self.term.keys(UP)
        self.assertEqual(self.term.text(), ["> uno"])
        self.term.keys(UP)
        self.assertEqual(self.term.text(), ["> uno"])
        self.term.keys(DOWN)
        self.assertEqual(self.term.text(), ["> dos"])
        self.term.keys(DOWN)
        self.assertEqual(self.term.text(), [">"])
        self.term.keys(UP + b"!\r")
        self.assertEqual(self.recorder.lines, ["uno", "dos", "dos!"])

    def test_utf8_input_split_across_reads(self) -> None:
        data = "ñandú 日本".encode()
        for byte in data:
            self.term.keys(bytes([byte]))
        self.assertEqual(self.term.text(), ["> ñandú 日本"])
        self.term.keys(LEFT + b"\x7f" + b"\r")
        self.assertEqual(self.recorder.lines, ["ñandú 本"])
        self.term.keys(UP)
        self.assertEqual(self.term.text(), ["> ñandú 本"])

    def test_control_characters_not_inserted(self) -> None:
        self.term.keys("a\x07b\u202ec\x1b[31md".encode())
        self.term.keys(b"\r")
        self.assertEqual(self.recorder.lines, ["abcd"])

    def test_editing_keys(self) -> None:
        self.term.keys(b"hola\x01X\x05Y\x08Z")  # Ctrl-A, Ctrl-E, Ctrl-H
        self.term.keys(b"\r")
        self.assertEqual(self.recorder.lines, ["XholaZ"])
        self.term.keys(b"borrar\x15ok\r")  # Ctrl-U
        self.assertEqual(self.recorder.lines[-1], "ok")

    def test_ctrl_d(self) -> None:
        self.term.keys(b"ab" + LEFT + b"\x04")
        self.assertEqual(self.recorder.quits, [])
        self.assertEqual(self.term.text(), ["> a"])
        self.term.keys(b"\x15\x04")
        self.assertEqual(self.recorder.quits, [True])

    def test_ctrl_c(self) -> None:
        self.term.keys(b"escribiendo\x03")
        self.assertEqual(self.recorder.quits, [False])

    def test_finish_erases_the_input(self) -> None:
        self.term.terminal.show("hola")
        self.term.keys(b"abc")
        self.term.terminal.finish()
        self.assertEqual(self.term.text(), ["hola"])
        self.assertEqual(self.term.cursor, (1, 0))
        self.term.terminal.show("ignored after finish")
        self.assertEqual(self.term.text(), ["hola"])

    def test_terminal_gone_quits(self) -> None:
        self.term.server_protocol.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(self.recorder.quits, [False])


class MaskTests(SynchronousTestCase):
    """Passwords are never echoed."""

    def test_masked(self) -> None:
        self.assertEqual(masked("ana secreto", logging_in=True), ("ana ***", True))
        self.assertEqual(masked("ana", logging_in=True), ("ana", False))
        self.assertEqual(masked("/registrar s3creto", logging_in=False), ("/registrar ***", True))
        self.assertEqual(masked("/PASSWORD a b", logging_in=False), ("/PASSWORD ***", True))
        self.assertEqual(masked("hola mundo", logging_in=False), ("hola mundo", False))


@implementer(IStreamClientEndpoint)
class FakeEndpoint:
    """Connections on ``StringTransport``s; nothing happens until a test says so."""

    def __init__(self) -> None:
        self.factory: Any = None

    def connect(self, factory: Any) -> Any:
        from twisted.internet.defer import Deferred

        self.factory = factory
        return Deferred()


class InteractiveTests(SynchronousTestCase):
    """The terminal UI of a session: echo, colour, lost connections, quitting."""

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.reactor.running = True
        self.client = InteractiveClient(
            self.reactor,
            FakeEndpoint(),
            "127.0.0.1:1234",
            "ana",
            colour=False,
        )
        self.term = Screen(self.client.terminal, columns=100, rows=12)
        self.protocol: ChatLineProtocol = ChatClientFactory(self.client.session).buildProtocol(None)
        self.wire = StringTransport()
        self.protocol.makeConnection(self.wire)
        self.protocol.dataReceived(
            b"* Bienvenido a twisted-chat. Elige un nickname:\r\n"
            b"* Bienvenido, ana. Escribe /ayuda para ver los comandos.\r\n"
        )

    def answer_sala(self, room: str = "general") -> None:
        """The server answers the client's own ``/sala``."""
        self.protocol.dataReceived(
            f"* Sala {room} (2): ana, bob\r\n* La sala {room} no tiene tema.\r\n".encode()
        )

    def test_login_and_lines(self) -> None:
        self.protocol.dataReceived(b"<Bob> hola ana\r\n")
        self.assertEqual(
            self.term.text(),
            [
                "*** connected to 127.0.0.1:1234",
                "* Bienvenido a twisted-chat. Elige un nickname:",
                "* Bienvenido, ana. Escribe /ayuda para ver los comandos.",
                "<Bob> hola ana",
                "ana>",
            ],
        )
        self.assertEqual(self.wire.value(), b"ana\r\n/sala\r\n")

    def test_room_asked_after_login_and_its_answer_hidden(self) -> None:
        self.assertEqual(self.term.text()[-1], "ana>")
        self.protocol.dataReceived(b"* Tu \xc3\xbaltima conexi\xc3\xb3n fue ayer.\r\n")
        self.answer_sala()
        self.protocol.dataReceived(b"<bob> hola\r\n")
        self.assertEqual(
            self.term.text()[-4:],
            [
                "* Bienvenido, ana. Escribe /ayuda para ver los comandos.",
                "* Tu última conexión fue ayer.",
                "<bob> hola",
                "[general] ana>",
            ],
        )
        self.assertEqual(self.wire.value(), b"ana\r\n/sala\r\n")  # asked once
        self.term.keys(UP)
        self.assertEqual(self.term.text()[-1], "[general] ana>")  # not in the history

    def test_prompt_follows_every_room_line(self) -> None:
        self.answer_sala()
        self.term.keys(b"/unirse juegos\r")
        self.protocol.dataReceived(b"* Sala juegos (1): @ana\r\n")
        self.assertEqual(self.term.text()[-2:], ["* Sala juegos (1): @ana", "[juegos] ana>"])
        self.term.keys(b"/unirse no#valida\r")
        self.protocol.dataReceived(b"! Nombre de sala no v\xc3\xa1lido: no#valida\r\n")
        self.assertEqual(self.term.text()[-1], "[juegos] ana>")  # an error: still there
        self.term.keys(b"/join Lobby\r")
        self.protocol.dataReceived(b"* Room Lobby (2): ana, bob\r\n* Topic: hi\r\n")
        self.assertEqual(
            self.term.text()[-3:], ["* Room Lobby (2): ana, bob", "* Topic: hi", "[Lobby] ana>"]
        )
        self.term.keys(b"/sala\r")  # the user's own /sala is answered on screen
        self.protocol.dataReceived(b"* Sala Lobby (2): ana, bob\r\n* Tema: hola\r\n")
        self.assertEqual(
            self.term.text()[-3:], ["* Sala Lobby (2): ana, bob", "* Tema: hola", "[Lobby] ana>"]
        )

    def test_prompt_and_login_line_follow_our_nickname_change(self) -> None:
        self.answer_sala()
        self.term.keys(b"/nick Anita\r")
        self.protocol.dataReceived(b"* bob ahora se llama roberto.\r\n")  # someone else's
        self.assertEqual(self.term.text()[-1], "[general] ana>")
        self.protocol.dataReceived(b"* ana ahora se llama Anita.\r\n")
        self.assertEqual(self.term.text()[-2:], ["* ana ahora se llama Anita.", "[general] Anita>"])
        self.assertEqual(self.client.session.nickname, "Anita")
        self.assertEqual(self.client.session.login_line, "Anita")  # a reconnect's
        self.protocol.dataReceived(b"* Anita is now known as ana2.\r\n")  # an English server
        self.assertEqual(self.term.text()[-1], "[general] ana2>")

    def test_server_without_rooms(self) -> None:
        """A server before protocol v1.1 does not know ``/sala``: its error is hidden too."""
        self.protocol.dataReceived(
            b"! Comando desconocido: /sala. Escribe /ayuda para ver los comandos.\r\n"
        )
        self.assertEqual(
            self.term.text()[-2:],
            ["* Bienvenido, ana. Escribe /ayuda para ver los comandos.", "ana>"],
        )

    def test_room_forgotten_when_the_connection_is_lost(self) -> None:
        self.answer_sala("juegos")
        self.assertEqual(self.term.text()[-1], "[juegos] ana>")
        self.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.term.text()[-1], ">")
        protocol = ChatClientFactory(self.client.session).buildProtocol(None)
        wire = StringTransport()
        protocol.makeConnection(wire)
        protocol.dataReceived(
            b"* Bienvenido a twisted-chat. Elige un nickname:\r\n"
            b"* Bienvenido, ana. Escribe /ayuda para ver los comandos.\r\n"
            b"* Sala general (1): ana\r\n* La sala general no tiene tema.\r\n"
        )
        self.assertEqual(wire.value(), b"ana\r\n/sala\r\n")  # asked again
        self.assertEqual(self.term.text()[-1], "[general] ana>")
        self.assertNotIn("* Sala general (1): ana", self.term.text())

    def test_escape_shown_escaped(self) -> None:
        self.protocol.dataReceived(b"<eve> \x1b[2J\x1b]0;owned\x07\r\n")
        self.assertIn("<eve> \\x1b[2J\\x1b]0;owned\\x07", self.term.text())

    def test_own_messages_echoed(self) -> None:
        self.wire.clear()
        self.term.keys(b"hola\r/listar\r#bob psst\r")
        self.assertEqual(self.wire.value(), b"hola\r\n/listar\r\n#bob psst\r\n")
        self.assertEqual(self.term.text()[-3:], ["<ana> hola", "> /listar", "ana>"])

    def test_password_masked_and_forgotten(self) -> None:
        self.term.keys(b"/registrar s3creto\r")
        self.assertNotIn("s3creto", "\n".join(self.term.text()))
        self.term.keys(UP)
        self.assertEqual(self.term.text()[-1], "ana>")
        self.assertIn(b"/registrar s3creto\r\n", self.wire.value())

    def test_lost_connection_is_announced(self) -> None:
        self.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(
            self.term.text()[-2],
            "*** connection to 127.0.0.1:1234 lost (closed by the server); reconnecting...",
        )
        self.term.keys(b"hola\r")
        self.assertEqual(self.term.text()[-2], "*** not connected: line not sent")
        self.assertFalse(self.reactor.hasStopped)

    def test_salir_ends_after_server_closes(self) -> None:
        self.term.keys(b"/salir\r")
        self.assertFalse(self.reactor.hasStopped)
        self.protocol.dataReceived(b"* Hasta pronto, ana.\r\n")
        self.protocol.connectionLost(Failure(ConnectionLost()))
        self.reactor.advance(0)
        self.assertTrue(self.reactor.hasStopped)
        self.assertEqual(self.term.text()[-1], "* Hasta pronto, ana.")

    def test_ctrl_d_says_goodbye_with_a_bounded_wait(self) -> None:
        self.wire.clear()
        self.term.keys(b"\x04")
        self.assertEqual(self.wire.value(), b"/salir\r\n")
        self.assertFalse(self.reactor.hasStopped)
        self.reactor.advance(3.0)
        self.reactor.advance(0)
        self.assertTrue(self.reactor.hasStopped)

    def test_ctrl_c_stops_at_once(self) -> None:
        self.term.keys(b"\x03")
        self.reactor.advance(0)
        self.assertTrue(self.reactor.hasStopped)
        self.assertEqual(
            self.term.text()[-1], "* Bienvenido, ana. Escribe /ayuda para ver los comandos."
        )


class StoredLinesTests(SynchronousTestCase):
    """Version 1.1's stored lines on the interactive terminal (with colour) and in piped mode."""

    def setUp(self) -> None:
        self.client = InteractiveClient(
            MemoryReactorClock(), FakeEndpoint(), "127.0.0.1:1234", "ana", colour=True
        )
        self.term = Screen(self.client.terminal, columns=100, rows=12)
        self.protocol: ChatLineProtocol = ChatClientFactory(self.client.session).buildProtocol(None)
        self.protocol.makeConnection(StringTransport())
        self.protocol.dataReceived(
            b"* Bienvenido a twisted-chat. Elige un nickname:\r\n"
            b"* Bienvenido, ana. Escribe /ayuda para ver los comandos.\r\n"
        )
        self.term.lines()

    def test_history_dim_with_its_local_time(self) -> None:
        when = stored_time("2026-12-06T03:34:47Z")  # the local time zone, as the client shows it
        self.protocol.dataReceived(b"* [2026-12-06T03:34:47Z] <bob> hola \x1b[2J\r\n")
        written = self.term.transport.value()
        self.assertIn(f"\x1b[2m[{when}] <bob> hola \\x1b[2J\x1b[0m".encode(), written)
        self.assertIn(f"[{when}] <bob> hola \\x1b[2J", self.term.text())

    def test_recado_apart(self) -> None:
        when = stored_time("2026-12-06T03:34:47Z")
        self.protocol.dataReceived(
            "* Tienes 1 recado:\r\n* [2026-12-06T03:34:47Z] *bob* ven mañana\r\n".encode()
        )
        written = self.term.transport.value()
        self.assertIn(b"\x1b[1;32m* Tienes 1 recado:\x1b[0m", written)
        self.assertIn(f"\x1b[1;32m[{when}] *bob*\x1b[0m ven mañana".encode(), written)
        self.assertEqual(
            self.term.text()[-3:], ["* Tienes 1 recado:", f"[{when}] *bob* ven mañana", "ana>"]
        )

    def test_piped_mode_writes_them_as_received(self) -> None:
        stdout = StringTransport()
        for escape_output in (False, True):
            piped = PipedClient(
                MemoryReactorClock(),
                FakeEndpoint(),
                "127.0.0.1:1234",
                None,
                escape_output=escape_output,
            )
            piped.stdio = stdout
            piped.server_line("* [2026-12-06T03:34:47Z] <bob> hola")
            piped.server_line("* [2026-12-06T03:34:47Z] *bob* ven\x1b[2J")
        self.assertEqual(
            stdout.value(),
            b"* [2026-12-06T03:34:47Z] <bob> hola\n"
            b"* [2026-12-06T03:34:47Z] *bob* ven\x1b[2J\n"  # not a terminal: verbatim
            b"* [2026-12-06T03:34:47Z] <bob> hola\n"
            b"* [2026-12-06T03:34:47Z] *bob* ven\\x1b[2J\n",  # a terminal: escaped
        )
