"""IRC formatting codes, CTCP (``/me``) and long messages (issue 16), without sockets.

:mod:`twisted_chat.formatting`'s checks and plain text; :func:`twisted_chat.irc.render.split_text`
(character boundaries, spaces, colour codes; a Hypothesis property: every piece fits, nothing
is lost); each renderer's form of a formatted message, an action and a CTCP query (IRC: as
sent, split to 512 bytes; v1 lines and WebSocket frames: stripped, ``** NICK TEXT``, nothing);
and the whole chat on recording transports with IRC, line and WebSocket users in one room:
what each reads, what is refused, one rendering per renderer for a broadcast.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.support.fakes import EPOCH, Clients, RecordingTransport, peer_address, tcp_factory
from tests.support.history import HistoryChat
from tests.support.ircunit import SERVER, CountingIrc, CountingLines, epoch_clock, irc_chat
from twisted_chat import formatting
from twisted_chat.events import EventSource
from twisted_chat.irc.protocol import IrcProtocol
from twisted_chat.irc.render import IrcRenderer, split_text
from twisted_chat.tcp import ChatTCPFactory
from twisted_chat.text import SPANISH, Language
from twisted_chat.web.frames import FrameRenderer
from twisted_chat.wire import LineRenderer

COLOURED = "\x0304,01rojo\x03 y \x02negrita\x02 \x1dcursiva\x1d \x1fsub\x1f \x1etachado\x1e"
COLOURED += " \x11mono\x11 \x16inverso\x16 \x04FF8800naranja\x0f fin"
PLAIN = "rojo y negrita cursiva sub tachado mono inverso naranja fin"


def body_size(line: bytes) -> int:
    """The bytes of an IRC ``line`` (with its CRLF) that count against 512: tags aside."""
    if line.startswith(b"@"):
        line = line.split(b" ", 1)[1]
    return len(line) + 2


def irc_lines(data: bytes) -> list[bytes]:
    """The lines of ``data`` (IRC output ending in CRLF), without their CRLF."""
    assert data.endswith(b"\r\n"), data
    return data[:-2].split(b"\r\n")


class FormattingTests(SynchronousTestCase):
    """:mod:`twisted_chat.formatting`."""

    def test_strip_every_code_and_a_colour_s_digits(self) -> None:
        self.assertEqual(formatting.strip_formatting(COLOURED), PLAIN)
        self.assertEqual(formatting.strip_formatting("\x031hola"), "hola")
        self.assertEqual(formatting.strip_formatting("\x03123"), "3")  # two digits at most
        self.assertEqual(formatting.strip_formatting("\x03,5 x"), ",5 x")  # no colour
        self.assertEqual(formatting.strip_formatting("\x0312,345"), "5")
        self.assertEqual(formatting.strip_formatting("\x04zz"), "zz")
        self.assertEqual(formatting.strip_formatting("tab\there"), "tab\there")
        text = "sin códigos"
        self.assertIs(formatting.strip_formatting(text), text)

    def test_refused_controls(self) -> None:
        for char in "\x00\x05\x07\x08\n\r\x0b\x0c\x0e\x10\x12\x15\x17\x1b\x1c\x7f\x85\x9f":
            self.assertTrue(formatting.has_refused_controls(f"a{char}b"), repr(char))
        for char in "\x01\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f\t":
            self.assertFalse(formatting.has_refused_controls(f"a{char}b"), repr(char))
        self.assertFalse(formatting.has_refused_controls("\u200d"))  # not printable, no control

    def test_ctcp_messages(self) -> None:
        valid = formatting.valid_message
        self.assertTrue(valid("\x01ACTION baila\x01"))
        self.assertTrue(valid("\x01ACTION baila"))  # the final delimiter may be left out
        self.assertTrue(valid("\x01VERSION\x01"))
        self.assertTrue(valid("\x02hola\x02"))
        self.assertFalse(valid("\x01"))
        self.assertFalse(valid("\x01\x01"))
        self.assertFalse(valid("hola \x01ACTION baila\x01"))
        self.assertFalse(valid("\x01ACTION a\x01b\x01"))
        self.assertFalse(valid("\x01 ACTION\x01"))
        self.assertEqual(formatting.normalise_ctcp("\x01action baila"), "\x01ACTION baila\x01")
        self.assertEqual(formatting.ctcp_command("\x01ping 123\x01"), "PING")
        self.assertIsNone(formatting.ctcp_command("hola"))
        self.assertTrue(formatting.is_ctcp_query("\x01VERSION\x01"))
        self.assertFalse(formatting.is_ctcp_query(formatting.action("baila")))

    def test_plain_text_is_what_searches_read(self) -> None:
        self.assertEqual(formatting.plain_text(formatting.action("\x02baila\x02")), "baila")
        self.assertEqual(formatting.plain_text("\x01VERSION\x01"), "")
        self.assertEqual(formatting.plain_text("\x0304rojo\x03"), "rojo")


class SplitTests(SynchronousTestCase):
    """:func:`split_text`."""

    def test_fits(self) -> None:
        self.assertEqual(split_text("hola", 10), ["hola"])

    def test_multibyte_characters_at_the_boundary(self) -> None:
        for prefix in range(4):  # the cut falls inside each byte of a 2-, 3- and 4-byte char
            for char in ("ñ", "€", "😀"):
                text = "a" * prefix + char * 40
                pieces = split_text(text, 20)
                self.assertEqual("".join(pieces), text)
                for piece in pieces:
                    self.assertLessEqual(len(piece.encode()), 20)
                    self.assertTrue(piece)

    def test_a_space_near_the_end_is_preferred_and_dropped(self) -> None:
        self.assertEqual(split_text("uno dos tres cuatro", 12), ["uno dos tres", "cuatro"])
        self.assertEqual(split_text("abcdefghij klmn", 16 + 4), ["abcdefghij klmn"])
        # a space in the first half is too early: cut at the byte limit
        self.assertEqual(split_text("ab " + "c" * 30, 16), ["ab " + "c" * 13, "c" * 16, "c"])

    def test_never_inside_a_colour_code(self) -> None:
        text = "a" * 15 + "\x0304,12rojo"
        pieces = split_text(text, 18)
        self.assertEqual(pieces[0], "a" * 15)
        self.assertTrue(pieces[1].startswith("\x0304,12"))
        self.assertEqual("".join(pieces), text)

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(
            st.sampled_from(["a", " ", "ñ", "€", "😀", "\x02", "\x0304", "\x03", "1"]),
            max_size=300,
        ).map("".join),
        st.integers(min_value=16, max_value=120),
    )
    def test_every_piece_fits_and_nothing_is_lost(self, text: str, room: int) -> None:
        pieces = split_text(text, room)
        for piece in pieces:
            self.assertLessEqual(len(piece.encode("utf-8")), room)
        if len(text.encode()) <= room:
            self.assertEqual(pieces, [text])
        # Only spaces at the cuts may go, one at each (a cut at the last byte, a space, leaves
        # no piece after it).
        joined = "".join(pieces)
        self.assertEqual(joined.replace(" ", ""), text.replace(" ", ""))
        self.assertGreaterEqual(len(joined), len(text) - len(pieces))


class RenderTests(SynchronousTestCase):
    """Each renderer's form of formatted text, actions, CTCP queries and long texts."""

    def setUp(self) -> None:
        clock = Clock()
        clock.advance(EPOCH.timestamp())
        self.events = EventSource(clock)
        language = Language(SPANISH)
        self.irc = IrcRenderer(language, SERVER)
        self.tagged = IrcRenderer(language, SERVER, {"server-time", "message-tags"})
        self.lines = LineRenderer(language)
        self.frames = FrameRenderer(self.lines)

    def test_irc_users_read_codes_as_sent(self) -> None:
        event = self.events.public("juegos", "ana", COLOURED)
        self.assertEqual(
            self.irc.render(event),
            f":ana!ana@irc.test PRIVMSG #juegos :{COLOURED}\r\n".encode(),
        )

    def test_line_and_web_users_read_them_stripped(self) -> None:
        event = self.events.public("juegos", "ana", COLOURED)
        self.assertEqual(self.lines.render(event), f"<ana> {PLAIN}\r\n".encode())
        self.assertEqual(
            self.frames.render(event),
            self.frames.render(self.events.public("juegos", "ana", PLAIN)),
        )
        private = self.events.private("ana", "bob", "\x02hola\x02")
        self.assertEqual(self.lines.render(private), b"*ana* hola\r\n")
        self.assertEqual(self.lines.render_echo(private), b"-> *bob* hola\r\n")

    def test_actions(self) -> None:
        event = self.events.public("juegos", "ana", formatting.action("\x02baila\x02 salsa"))
        self.assertEqual(self.lines.render(event), b"** ana baila salsa\r\n")
        self.assertEqual(
            self.irc.render(event),
            b":ana!ana@irc.test PRIVMSG #juegos :\x01ACTION \x02baila\x02 salsa\x01\r\n",
        )
        private = self.events.private("ana", "bob", formatting.action("saluda"))
        self.assertEqual(self.lines.render(private), b"*ana* * saluda\r\n")
        self.assertEqual(self.lines.render_echo(private), b"-> *bob* * saluda\r\n")

    def test_ctcp_queries_reach_irc_users_only(self) -> None:
        event = self.events.public("juegos", "ana", "\x01VERSION\x01")
        self.assertEqual(self.lines.render(event), b"")
        self.assertEqual(self.frames.render(event), b"")
        self.assertEqual(
            self.irc.render(event), b":ana!ana@irc.test PRIVMSG #juegos :\x01VERSION\x01\r\n"
        )

    def test_stored_lines(self) -> None:
        ms = self.events.now_ms()
        action = self.events.replayed("m1", ms, "juegos", "ana", formatting.action("\x02baila"))
        self.assertEqual(self.lines.render(action), b"* [2026-11-24T08:30:00Z] ** ana baila\r\n")
        coloured = self.events.replayed("m2", ms, "juegos", "ana", "\x0304rojo")
        self.assertEqual(self.lines.render(coloured), b"* [2026-11-24T08:30:00Z] <ana> rojo\r\n")
        self.assertEqual(
            self.irc.render(action),
            b":irc.test NOTICE #juegos :[2026-11-24T08:30:00Z] * ana \x02baila\r\n",
        )
        (line,) = irc_lines(self.tagged.render(action))
        self.assertTrue(line.endswith(b"PRIVMSG #juegos :\x01ACTION \x02baila\x01"), line)
        query = self.events.replayed("m3", ms, "juegos", "ana", "\x01VERSION\x01")
        self.assertEqual(self.lines.render(query), b"")
        self.assertEqual(self.irc.render(query), b"")

    def test_a_long_message_is_split_for_irc(self) -> None:
        # 1024 bytes, as a line user may send: 2-byte characters, a space here and there
        text = ("ñandú " * 200)[:600].encode()[:1024].decode("utf-8", "ignore")
        event = self.events.public("juegos", "ana", text)
        for renderer in (self.irc, self.tagged):
            lines = irc_lines(renderer.render(event))
            self.assertGreater(len(lines), 1)
            for line in lines:
                self.assertLessEqual(body_size(line), 512, line)
                self.assertIn(b" PRIVMSG #juegos :", line)
            said = [line.split(b" PRIVMSG #juegos :", 1)[1].decode() for line in lines]
            self.assertEqual(" ".join(said), text)
        tagged = irc_lines(self.tagged.render(event))
        self.assertTrue(tagged[0].startswith(b"@time=2026-11-24T08:30:00.000Z;msgid="))
        for line in tagged[1:]:  # one message id names one message
            self.assertTrue(line.startswith(b"@time=2026-11-24T08:30:00.000Z :ana!"), line)

    def test_without_spaces_at_character_boundaries(self) -> None:
        for char in ("é", "€", "😀"):
            for pad in range(4):
                text = "x" * pad + char * (1020 // len(char.encode()))
                event = self.events.private("ana", "bob", text)
                lines = irc_lines(self.irc.render(event))
                said = []
                for line in lines:
                    self.assertLessEqual(body_size(line), 512)
                    said.append(line.split(b" PRIVMSG bob :", 1)[1].decode("utf-8"))
                self.assertEqual("".join(said), text)

    def test_an_irc_client_s_own_line_is_cut_not_split(self) -> None:
        # an IRC client's PRIVMSG fitted its 512 bytes; the source in front makes it longer:
        # one line, cut at a character boundary (as IRC servers do; irctest's buffering)
        text = "a" * 480 + "😀" * 5
        for kind in ("public", "private"):
            if kind == "public":
                event = self.events.public("juegos", "ana", text)
            else:
                event = self.events.private("ana", "bob", text)  # type: ignore[assignment]
            event.irc = True
            for renderer in (self.irc, self.tagged):
                (line,) = irc_lines(renderer.render(event))
                self.assertLessEqual(body_size(line), 512)
                said = line.rsplit(b" :", 1)[1].decode("utf-8")
                self.assertTrue(text.startswith(said) and len(said) < len(text), said)
            self.assertEqual(self.lines.render(event).decode().split(" ", 1)[1], text + "\r\n")
        action = self.events.public("juegos", "ana", formatting.action("b" * 490))
        action.irc = True
        (line,) = irc_lines(self.irc.render(action))
        self.assertLessEqual(body_size(line), 512)
        self.assertTrue(line.endswith(b"bbb\x01"))

    def test_a_long_action_is_split_into_actions(self) -> None:
        event = self.events.public("juegos", "ana", formatting.action("baila " * 160))
        lines = irc_lines(self.irc.render(event))
        self.assertGreater(len(lines), 1)
        for line in lines:
            self.assertLessEqual(body_size(line), 512)
            self.assertIn(b"PRIVMSG #juegos :\x01ACTION baila", line)
            self.assertTrue(line.endswith(b"\x01"))

    def test_long_notices_topics_and_stored_lines(self) -> None:
        ms = self.events.now_ms()
        notice = self.events.notice("announcement", by="ana", text="€" * 340)
        for line in irc_lines(self.irc.render_to(notice, "bob")):
            self.assertLessEqual(body_size(line), 512)
            self.assertTrue(line.startswith(b":irc.test NOTICE bob :"))
        stored = self.events.replayed("m1", ms, "juegos", "ana", "ü" * 500)
        for renderer in (self.irc, self.tagged):
            lines = irc_lines(renderer.render(stored))
            self.assertEqual(len(lines), 3)
            for line in lines:
                self.assertLessEqual(body_size(line), 512)
        topic = self.events.topic("juegos", "ana", "😀" * 300, "juegos")
        (line,) = irc_lines(self.irc.render(topic))
        self.assertLessEqual(body_size(line), 512)
        line.decode("utf-8")  # cut at a character boundary
        self.assertTrue(line.startswith(b":ana!ana@irc.test TOPIC #juegos :\xf0\x9f\x98\x80"))
        numeric = self.irc.numeric("332", "bob", "#juegos", "😀" * 300)
        self.assertLessEqual(body_size(numeric[:-2]), 512)
        numeric.decode("utf-8")


class MixedRoomTests(SynchronousTestCase):
    """IRC users, a line user and a WebSocket user in one room, on recording transports."""

    def setUp(self) -> None:
        self.clock = epoch_clock()
        self.parts, self.irc, self.factory = irc_chat(self.clock)
        self.port = 41000
        self.clients = Clients()
        self.ana, self.ana_out = self.irc_user("ana")
        self.bob, self.bob_out = self.irc_user("bob")
        self.carol = self.clients.connect(tcp_factory(self.parts))
        self.carol.send("carol\r\n")
        self.dora = self.clients.connect(tcp_factory(self.parts), frames=self.parts.frames)
        self.dora.send("dora\r\n")
        for proto in (self.ana, self.bob):
            proto.dataReceived(b"JOIN #general\r\n")
        self.drain()

    def irc_user(self, nick: str) -> tuple[IrcProtocol, RecordingTransport]:
        self.port += 1
        address = peer_address("198.51.100.7", self.port)
        transport = RecordingTransport(peerAddress=address)
        proto = self.factory.buildProtocol(address)
        proto.makeConnection(transport)
        proto.dataReceived(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
        return proto, transport

    def drain(self) -> None:
        self.clients.drain()
        self.ana_out.clear()
        self.bob_out.clear()

    @staticmethod
    def out(transport: RecordingTransport) -> bytes:
        data = transport.value()
        transport.clear()
        return bytes(data)

    def test_formatted_message_from_irc(self) -> None:
        self.ana.dataReceived(f"PRIVMSG #general :{COLOURED}\r\n".encode())
        self.assertEqual(
            self.out(self.bob_out), f":ana!ana@irc.test PRIVMSG #general :{COLOURED}\r\n".encode()
        )
        self.assertEqual(self.carol.received(), [f"<ana> {PLAIN}"])
        self.assertEqual(self.dora.received(), [f"<ana> {PLAIN}"])
        self.assertEqual(self.out(self.ana_out), b"")

    def test_formatting_is_rendered_once_per_renderer(self) -> None:
        irc = CountingIrc(self.parts.language, SERVER)
        self.irc._renderers[irc.caps] = irc
        lines = CountingLines(self.parts.language)
        frames = FrameRenderer(lines)
        line_factory = ChatTCPFactory(self.parts.server, lines)
        for nick in ("eve", "fede", "gus"):  # readers of each renderer
            self.irc_user(nick)[0].dataReceived(b"JOIN #general\r\n")
            self.clients.connect(line_factory).send(f"{nick}2\r\n")
            self.clients.connect(line_factory, frames=frames).send(f"{nick}3\r\n")
        sender, _ = self.irc_user("hugo")
        sender.dataReceived(b"JOIN #general\r\n")
        self.drain()
        CountingIrc.renders = CountingLines.renders = 0
        sender.dataReceived(b"PRIVMSG #general :\x02hola\x02\r\n")
        # the frames are made from the line renderer's line: one line rendering for both
        # one IRC rendering; one line rendering for the TCP readers, one for the WebSocket's
        # (their frame renderer renders its line with the line renderer it wraps)
        self.assertEqual((CountingIrc.renders, CountingLines.renders), (1, 2))
        self.assertEqual(self.clients[-1].received(), ["<hugo> hola"])
        self.assertEqual(self.clients[-2].received(), ["<hugo> hola"])

    def test_action_from_irc_and_from_a_line_user(self) -> None:
        self.ana.dataReceived(b"PRIVMSG #general :\x01ACTION baila\x01\r\n")
        self.assertEqual(
            self.out(self.bob_out), b":ana!ana@irc.test PRIVMSG #general :\x01ACTION baila\x01\r\n"
        )
        self.assertEqual(self.carol.received(), ["** ana baila"])
        self.assertEqual(self.dora.received(), ["** ana baila"])
        self.carol.send("/me saluda a \x02todos\r\n")  # codes from a line user: refused
        self.assertEqual(
            self.carol.received(), ["! La línea contiene caracteres de control: descartada."]
        )
        self.dora.send("\x02hola\r\n")  # and from a WebSocket user
        self.assertEqual(
            self.dora.received(), ["! La línea contiene caracteres de control: descartada."]
        )
        self.carol.send("/me saluda\r\n/me\r\n")
        self.assertEqual(self.carol.received(), ["! Uso: /me TEXTO"])
        self.assertEqual(self.dora.received(), ["** carol saluda"])
        self.assertEqual(
            self.out(self.ana_out),
            b":carol!carol@irc.test PRIVMSG #general :\x01ACTION saluda\x01\r\n",
        )

    def test_a_raw_me_is_an_action_in_a_room_the_user_is_in(self) -> None:
        # irssi or WeeChat send an unknown /me... they do not: /me is CTCP; a raw ME works too
        self.ana.dataReceived(b"ME saluda\r\n")  # one channel: that one
        self.assertEqual(
            self.out(self.bob_out), b":ana!ana@irc.test PRIVMSG #general :\x01ACTION saluda\x01\r\n"
        )
        self.assertEqual(self.carol.received(), ["** ana saluda"])
        self.ana.dataReceived(b"JOIN #juegos\r\nME otra vez\r\n")
        got = self.out(self.ana_out).decode()
        self.assertIn("#general, #juegos", got)  # in two channels: which one?
        self.ana.dataReceived(b"ME #juegos salta\r\nPART #general\r\nME\r\n")
        got = self.out(self.ana_out).decode()
        self.assertIn(":irc.test NOTICE ana :Uso: /me TEXTO", got)
        # not in #juegos, where ana jumped: only ana's part
        self.assertEqual(
            self.carol.received(), ["* ana ha salido de la sala general (sigue en el chat)."]
        )
        self.ana.dataReceived(b"PART #juegos\r\nME solo\r\n")  # in no channel: a NOTICE
        self.assertIn(":irc.test NOTICE ana :", self.out(self.ana_out).decode())
        self.assertEqual(self.carol.received(), [])

    def test_an_action_without_its_final_delimiter(self) -> None:
        self.ana.dataReceived(b"PRIVMSG #general :\x01action baila\r\n")
        self.assertEqual(
            self.out(self.bob_out), b":ana!ana@irc.test PRIVMSG #general :\x01ACTION baila\x01\r\n"
        )
        self.assertEqual(self.carol.received(), ["** ana baila"])

    def test_ctcp_queries(self) -> None:
        self.ana.dataReceived(b"PRIVMSG bob :\x01VERSION\x01\r\n")
        self.assertEqual(
            self.out(self.bob_out), b":ana!ana@irc.test PRIVMSG bob :\x01VERSION\x01\r\n"
        )
        self.bob.dataReceived(b"NOTICE ana :\x01VERSION irssi 1.4\x01\r\n")
        self.assertEqual(
            self.out(self.ana_out), b":bob!bob@irc.test NOTICE ana :\x01VERSION irssi 1.4\x01\r\n"
        )
        self.ana.dataReceived(b"PRIVMSG carol :\x01PING 123\x01\r\nNOTICE dora :\x01PING 1\x01\r\n")
        self.assertEqual(
            self.out(self.ana_out),
            ":irc.test NOTICE ana :carol no usa IRC: la petición CTCP PING no se le "
            "entrega.\r\n".encode(),
        )
        self.ana.dataReceived(b"PRIVMSG #general :\x01VERSION\x01\r\n")
        self.assertEqual(
            self.out(self.bob_out), b":ana!ana@irc.test PRIVMSG #general :\x01VERSION\x01\r\n"
        )
        self.assertEqual(self.carol.received(), [])
        self.assertEqual(self.dora.received(), [])

    def test_other_control_characters_and_misplaced_codes_are_refused(self) -> None:
        refused = ":irc.test NOTICE ana :La línea contiene caracteres de control: descartada."
        for line in (
            b"PRIVMSG #general :a\x1bb",
            b"PRIVMSG #general :\x01",
            b"PRIVMSG #general :hola \x01ACTION x\x01",
            b"PRIVMSG #general :\x01ACTION a\x01b",
            b"TOPIC #general :\x02negrita",
            b"PART #general :\x02adios",
            b"AWAY :\x0304fuera",
            b"@label=\x02 PRIVMSG #general :hola",
            b"PRIVMSG #gen\x02eral :hola",
        ):
            self.ana.dataReceived(line + b"\r\n")
            self.assertEqual(self.out(self.ana_out), refused.encode() + b"\r\n", line)
        self.ana.dataReceived(b"PRIVMSG #general :\x02\x02\r\nNOTICE #general :\x0304\r\n")
        self.assertEqual(self.out(self.ana_out), b":irc.test 412 ana :No text to send\r\n")
        self.assertEqual(self.out(self.bob_out), b"")
        self.assertEqual(self.carol.received(), [])

    def test_a_line_user_s_long_message_reaches_irc_split(self) -> None:
        text = " ".join(["canción"] * 113)  # 1016 bytes
        self.carol.send(f"{text}\r\n")
        lines = irc_lines(self.out(self.ana_out))
        self.assertEqual(len(lines), 3)
        said = []
        for line in lines:
            self.assertLessEqual(len(line) + 2, 512)
            prefix = b":carol!carol@irc.test PRIVMSG #general :"
            self.assertTrue(line.startswith(prefix))
            said.append(line[len(prefix) :].decode())
        self.assertEqual(" ".join(said), text)
        self.assertEqual(self.dora.received(), [f"<carol> {text}"])

    def test_private_messages_both_ways(self) -> None:
        self.carol.send("#ana " + "ö" * 500 + "\r\n")
        lines = irc_lines(self.out(self.ana_out))
        self.assertEqual(len(lines), 3)
        self.assertEqual("".join(line.split(b" :", 1)[1].decode() for line in lines), "ö" * 500)
        self.ana.dataReceived(b"PRIVMSG carol :\x0304hola\x03 \x01\r\n")
        self.assertIn("caracteres de control", self.out(self.ana_out).decode())
        self.carol.received()
        self.ana.dataReceived(
            b"PRIVMSG carol :\x0304hola\x03\r\nPRIVMSG dora :\x01ACTION salta\r\n"
        )
        self.assertEqual(self.carol.received(), ["*ana* hola"])
        self.assertEqual(self.dora.received(), ["*ana* * salta"])


class HistoryTests(SynchronousTestCase):
    """Stored messages keep their codes; replays and searches read them plain."""

    def test_stored_as_sent_shown_stripped(self) -> None:
        chat = HistoryChat()
        ana = chat.login("ana")
        bob = chat.login("bob")
        chat.core.line_received(ana, "/me baila salsa")
        # what an IRC user's coloured message is in the core: a public event, said and kept
        event = chat.parts.events.public("general", "ana", "\x0304rojo\x03 y verde")
        chat.room.say(event, ana)
        assert chat.history is not None
        chat.history.said(event)
        chat.storage.write()
        texts = [message.text for message in chat.storage.room("general")]
        self.assertEqual(texts[-2:], ["\x01ACTION baila salsa\x01", "\x0304rojo\x03 y verde"])
        bob.delivered.clear()
        chat.core.line_received(bob, "/historial 2")
        got = [line.decode() for line in bob.delivered]
        self.assertEqual(
            got[1:],
            [
                "* [2026-11-24T08:30:00Z] ** ana baila salsa\r\n",
                "* [2026-11-24T08:30:00Z] <ana> rojo y verde\r\n",
            ],
        )
