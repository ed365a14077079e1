"""The IRC renderer (:mod:`twisted_chat.irc.render`) and the IRC adapter on a recording
transport (no sockets): every event's IRC form, per capability set, numerics for the chat's
errors, rendering once per renderer for a broadcast, a Hypothesis property of the whole
adapter (no line a client sends raises, and a ``PING`` after it is always answered), SASL
PLAIN's details (chunks, abort, mechanisms, lines held during the check) and the session's
limits (login timeout, strikes, flood) as an IRC client meets them."""

from __future__ import annotations

import base64
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tests.support.accounts import (
    ANA_PASSWORD,
    CountingHasher,
    MemoryAccountStorage,
    ThreadRunner,
)
from tests.support.fakes import EPOCH, RecordingTransport, decode_lines, peer_address
from tests.support.ircunit import SERVER, CountingIrc, epoch_clock, irc_chat
from twisted_chat.accounts import Accounts
from twisted_chat.assembly import assemble
from twisted_chat.events import Error, Event, EventSource, Notice, Replayed, Text
from twisted_chat.irc.commands import WELCOME_WAIT, IrcCommands
from twisted_chat.irc.protocol import IrcFactory, IrcProtocol
from twisted_chat.irc.render import IrcRenderer, server_time
from twisted_chat.limits import Limits
from twisted_chat.text import SPANISH, Language

#: 2026-11-24T08:30:00.250Z in ms.
MS = int(EPOCH.timestamp() * 1000) + 250


def lines(data: bytes) -> list[str]:
    """``data`` as its lines (each must end in CRLF)."""
    return decode_lines(data)


class RendererTests(SynchronousTestCase):
    """Each event's form."""

    def setUp(self) -> None:
        clock = Clock()
        clock.advance(MS / 1000)
        self.events = EventSource(clock)
        self.language = Language(SPANISH)
        self.plain = IrcRenderer(self.language, SERVER)
        self.tagged = IrcRenderer(
            self.language, SERVER, {"server-time", "message-tags", "echo-message", "sasl"}
        )

    def test_server_time(self) -> None:
        self.assertEqual(server_time(MS), "2026-11-24T08:30:00.250Z")

    def test_caps_that_do_not_change_lines_are_not_the_renderer_s(self) -> None:
        self.assertEqual(self.tagged.caps, {"server-time", "message-tags", "echo-message"})

    def test_public_private_and_notice_forms(self) -> None:
        public = self.events.public("juegos", "ana", "hola a todos")
        self.assertEqual(
            lines(self.plain.render(public)), [":ana!ana@irc.test PRIVMSG #juegos :hola a todos"]
        )
        (tagged,) = lines(self.tagged.render(public))
        self.assertEqual(
            tagged,
            f"@time=2026-11-24T08:30:00.250Z;msgid={public.id} "
            ":ana!ana@irc.test PRIVMSG #juegos :hola a todos",
        )
        public.notice = True
        self.assertEqual(
            lines(self.plain.render(public)), [":ana!ana@irc.test NOTICE #juegos :hola a todos"]
        )
        private = self.events.private("ana", "bob", "psst")
        self.assertEqual(lines(self.plain.render(private)), [":ana!ana@irc.test PRIVMSG bob :psst"])

    def test_echo_only_with_echo_message(self) -> None:
        private = self.events.private("ana", "bob", "psst")
        self.assertEqual(self.plain.render_echo(private), b"")
        self.assertTrue(
            lines(self.tagged.render_echo(private))[0].endswith(
                ":ana!ana@irc.test PRIVMSG bob :psst"
            )
        )

    def test_joins_parts_quits_topics(self) -> None:
        cases: list[tuple[Event, str]] = [
            (self.events.joined("general", "ana"), ":ana!ana@irc.test JOIN #general"),
            (self.events.joined("juegos", "ana", "Juegos"), ":ana!ana@irc.test JOIN #juegos"),
            (self.events.left("juegos", "ana", "Juegos"), ":ana!ana@irc.test PART #juegos"),
            (self.events.left("general", "ana"), ":ana!ana@irc.test QUIT :Quit"),
            (
                self.events.topic("juegos", "ana", "cartas y dados", "Juegos"),
                ":ana!ana@irc.test TOPIC #juegos :cartas y dados",
            ),
        ]
        for event, expected in cases:
            with self.subTest(expected=expected):
                self.assertEqual(lines(self.plain.render(event)), [expected])

    def test_notices_and_errors_to_one_reader(self) -> None:
        notice = self.events.notice("first_visit")
        self.assertEqual(
            lines(self.plain.render_to(notice, "ana")),
            [":irc.test NOTICE ana :Es tu primera conexión."],
        )
        self.assertEqual(
            self.plain.render_to(self.events.notice("welcome", nick="ana"), "ana"), b""
        )
        taken = self.events.error("nick_taken", nick="Ana")
        (line,) = lines(self.plain.render_to(taken, "*", "ana"))
        self.assertTrue(line.startswith(":irc.test 433 * Ana :El nickname Ana"), line)
        invalid = self.events.error("nick_invalid")
        (line,) = lines(self.plain.render_to(invalid, "*", "1abc"))
        self.assertTrue(line.startswith(":irc.test 432 * 1abc :"), line)
        too_long = Error("x", MS, None, Text("line_too_long", limit=1024))
        self.assertEqual(
            lines(self.plain.render_to(too_long, "ana")),
            [":irc.test 417 ana :Input line was too long"],
        )
        denied = self.events.error("topic_denied", room="Juegos")
        (line,) = lines(self.plain.render_to(denied, "ana"))
        self.assertTrue(line.startswith(":irc.test 482 ana #juegos :"), line)
        # the chat's news for everyone (a shutdown, an announcement)
        news = Notice("x", MS, None, Text("shutting_down"))
        (line,) = lines(self.plain.render(news))
        self.assertTrue(line.startswith(":irc.test NOTICE * :"), line)

    def test_history_with_and_without_server_time(self) -> None:
        stored = self.events.replayed("m1", MS, "general", "ana", "de ayer")
        self.assertEqual(
            lines(self.plain.render(stored)),
            [":irc.test NOTICE #general :[2026-11-24T08:30:00Z] <ana> de ayer"],
        )
        self.assertEqual(
            lines(self.tagged.render(stored)),
            ["@time=2026-11-24T08:30:00.250Z;msgid=m1 :ana!ana@irc.test PRIVMSG #general :de ayer"],
        )
        recado: Replayed = self.events.recado("m2", MS, "ana", "te espero")
        self.assertEqual(
            lines(self.plain.render_to(recado, "bob")),
            [":irc.test NOTICE bob :[2026-11-24T08:30:00Z] *ana* te espero"],
        )
        self.assertTrue(
            lines(self.tagged.render_to(recado, "bob"))[0].endswith(
                ":ana!ana@irc.test PRIVMSG bob :te espero"
            )
        )


class AdapterTests(SynchronousTestCase):
    """The IRC adapter over a real session, on recording transports."""

    def setUp(self) -> None:
        self.clock = epoch_clock()
        self.parts, self.irc, self.factory = irc_chat(self.clock)
        self.port = 40000

    def connect(self) -> tuple[IrcProtocol, RecordingTransport]:
        """A new IRC connection (nothing sent)."""
        self.port += 1
        address = peer_address("198.51.100.7", self.port)
        transport = RecordingTransport(peerAddress=address)
        proto = self.factory.buildProtocol(address)
        proto.makeConnection(transport)
        return proto, transport

    def received(self, transport: RecordingTransport) -> list[str]:
        """What ``transport`` was written since the last call."""
        data = transport.value()
        transport.clear()
        return lines(data)

    def user(self, nick: str) -> tuple[IrcProtocol, RecordingTransport]:
        """A registered IRC user."""
        proto, transport = self.connect()
        proto.dataReceived(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
        got = self.received(transport)
        self.assertTrue(got[0].startswith(f":{SERVER} 001 {nick} "), got)
        return proto, transport

    def test_one_render_per_renderer_per_broadcast(self) -> None:
        counting = CountingIrc(self.parts.language, SERVER)
        self.irc._renderers[counting.caps] = counting
        users = [self.user(nick) for nick in ("ana", "bob", "cris", "dani")]
        for proto, _ in users:
            proto.dataReceived(b"JOIN #general\r\n")
        for _, transport in users:
            self.received(transport)
        CountingIrc.renders = 0
        users[0][0].dataReceived(b"PRIVMSG #general :hola\r\n")
        self.assertEqual(CountingIrc.renders, 1)
        for _, transport in users[1:]:
            self.assertEqual(self.received(transport), [":ana!ana@irc.test PRIVMSG #general :hola"])

    def test_invalid_utf8_empty_realname_and_userhost_in_names(self) -> None:
        proto, transport = self.connect()
        proto.dataReceived(b"CAP REQ :userhost-in-names\r\nUSER ana 0 * :\r\nNICK ana\r\n")
        proto.dataReceived(b"PRIVMSG #a :\xff\r\n")
        self.assertEqual(
            self.received(transport),
            [
                f":{SERVER} CAP * ACK :userhost-in-names",
                f":{SERVER} 461 * USER :Not enough parameters",
                f":{SERVER} FAIL * INVALID_UTF8 :La línea no es UTF-8 válido: descartada.",
            ],
        )
        proto.dataReceived(b"USER ana 0 * :Ana\r\nCAP END\r\nJOIN #juegos\r\n")
        got = self.received(transport)
        self.assertIn(f":{SERVER} 353 ana = #juegos :@ana!ana@irc.test", got)

    def test_the_server_closes_with_error(self) -> None:
        proto, transport = self.user("ana")
        self.received(transport)
        assert proto.session is not None
        proto.session.disconnect("kicked", Text("kicked", by="op", reason="x"))
        got = self.received(transport)
        self.assertTrue(got[0].startswith(f":{SERVER} NOTICE ana :"), got)
        self.assertEqual(got[-1], "ERROR :Closing link (kicked)")
        self.assertTrue(transport.disconnecting)

    def test_registration_waits_for_a_password_check(self) -> None:
        proto, transport = self.connect()
        proto.dataReceived(b"PASS whatever\r\nNICK ana\r\nUSER ana 0 * :a\r\nPING x\r\n")
        got = self.received(transport)
        # no accounts at all: a password can never be right
        self.assertTrue(got[0].startswith(f":{SERVER} 464 * :"), got)
        self.assertEqual(got[1:], [f":{SERVER} PONG {SERVER} x"])

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(
            st.one_of(
                st.binary(max_size=80),
                st.sampled_from(
                    [
                        b"NICK ana",
                        b"USER a 0 * :b",
                        b"CAP LS 302",
                        b"CAP REQ :sasl server-time",
                        b"CAP END",
                        b"AUTHENTICATE PLAIN",
                        b"AUTHENTICATE AGFuYQB4",
                        b"JOIN #a,#b",
                        b"PART #a",
                        b"PRIVMSG #a :x",
                        b"NOTICE ana :x",
                        b"TOPIC #a :t",
                        b"NAMES #a",
                        b"@a=b;c :src PRIVMSG #general :\xc3\xb1",
                        b"QUIT",
                    ]
                ),
            ),
            max_size=12,
        )
    )
    def test_any_lines_then_ping_is_answered(self, chunks: list[bytes]) -> None:
        proto, transport = self.connect()
        proto.dataReceived(b"\r\n".join(chunks) + b"\r\n")
        proto.dataReceived(b"PING :the end\r\n")
        got = self.received(transport)
        if not transport.disconnecting:
            self.assertEqual(got[-1], f":{SERVER} PONG {SERVER} :the end")
        else:
            self.assertTrue(got[-1].startswith("ERROR :"), got)
        proto.connectionLost(Failure(ConnectionDone()))


class SaslAndPolicyTests(SynchronousTestCase):
    """SASL PLAIN's details and the session's limits, on the IRC adapter (``ana`` registered;
    the password check runs at once, or when the test says with ``runner.manual``)."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(EPOCH.timestamp())
        storage = MemoryAccountStorage()
        hasher = CountingHasher()
        storage.rows["ana"] = ("ana", hasher.hash(ANA_PASSWORD), EPOCH)
        self.runner = ThreadRunner()
        accounts = Accounts(storage, self.clock, self.runner, hasher=hasher)
        accounts.load()
        self.parts = assemble(
            SPANISH,
            self.clock,
            accounts=accounts,
            limits=Limits(flood_rate=10, flood_burst=20, max_strikes=3, login_timeout=60),
        )
        irc = IrcCommands(self.parts.core, self.parts.rooms, self.parts.language, SERVER)
        self.factory = IrcFactory(self.parts.server, irc)

    def connect(self) -> tuple[IrcProtocol, RecordingTransport]:
        """A new IRC connection that enabled ``sasl``."""
        address = peer_address("198.51.100.8", 40001)
        transport = RecordingTransport(peerAddress=address)
        proto = self.factory.buildProtocol(address)
        proto.makeConnection(transport)
        proto.dataReceived(b"CAP REQ sasl\r\n")
        self.assertEqual(lines(transport.value()), [f":{SERVER} CAP * ACK :sasl"])
        transport.clear()
        return proto, transport

    @staticmethod
    def said(transport: RecordingTransport) -> list[str]:
        data = transport.value()
        transport.clear()
        return lines(data)

    def test_chunked_payload(self) -> None:
        proto, transport = self.connect()
        payload = base64.b64encode(f"ana\0ana\0{ANA_PASSWORD}".encode()).decode()
        # a payload of 600 bytes comes in two lines: 400, then the rest
        padded = base64.b64encode(f"\0ana\0{ANA_PASSWORD}".ljust(450).encode()).decode()
        self.assertEqual(len(padded), 600)
        proto.dataReceived(b"AUTHENTICATE PLAIN\r\n")
        self.assertEqual(self.said(transport), ["AUTHENTICATE +"])
        proto.dataReceived(f"AUTHENTICATE {padded[:400]}\r\n".encode())
        self.assertEqual(self.said(transport), [])  # more to come
        proto.dataReceived(f"AUTHENTICATE {padded[400:]}\r\n".encode())
        # the password with trailing spaces is another password
        self.assertEqual(self.said(transport), [f":{SERVER} 904 * :SASL authentication failed"])
        proto.dataReceived(f"AUTHENTICATE PLAIN\r\nAUTHENTICATE {payload}\r\n".encode())
        got = self.said(transport)
        self.assertEqual(
            got,
            [
                "AUTHENTICATE +",
                f":{SERVER} 900 * ana!ana@198.51.100.8 ana :You are now logged in as ana",
                f":{SERVER} 903 * :SASL authentication successful",
            ],
        )
        proto.dataReceived(b"AUTHENTICATE PLAIN\r\n")
        self.assertEqual(
            self.said(transport), [f":{SERVER} 907 * :You have already authenticated using SASL"]
        )

    def test_a_payload_of_exactly_400_ends_with_a_plus(self) -> None:
        proto, transport = self.connect()
        password = ANA_PASSWORD
        raw = f"\0ana\0{password}".encode()
        # pad the authzid-less payload to exactly 300 bytes (400 in base64) with a wrong
        # password: what counts is that "+" ends it
        raw = raw + b"x" * (300 - len(raw))
        payload = base64.b64encode(raw).decode()
        self.assertEqual(len(payload), 400)
        proto.dataReceived(f"AUTHENTICATE PLAIN\r\nAUTHENTICATE {payload}\r\n".encode())
        self.assertEqual(self.said(transport), ["AUTHENTICATE +"])
        proto.dataReceived(b"AUTHENTICATE +\r\n")
        self.assertEqual(self.said(transport), [f":{SERVER} 904 * :SASL authentication failed"])

    def test_abort_other_mechanisms_and_bad_payloads(self) -> None:
        proto, transport = self.connect()
        proto.dataReceived(b"AUTHENTICATE EXTERNAL\r\n")
        self.assertEqual(
            self.said(transport),
            [
                f":{SERVER} 908 * PLAIN :are available SASL mechanisms",
                f":{SERVER} 904 * :SASL authentication failed",
            ],
        )
        proto.dataReceived(b"AUTHENTICATE PLAIN\r\nAUTHENTICATE *\r\n")
        self.assertEqual(
            self.said(transport),
            ["AUTHENTICATE +", f":{SERVER} 906 * :SASL authentication aborted"],
        )
        other = base64.b64encode(f"bob\0ana\0{ANA_PASSWORD}".encode()).decode()
        for bad in ("not base64!", base64.b64encode(b"\xff\0a\0b").decode(), other):
            with self.subTest(payload=bad):
                proto.dataReceived(f"AUTHENTICATE PLAIN\r\nAUTHENTICATE {bad}\r\n".encode())
                self.assertEqual(
                    self.said(transport),
                    ["AUTHENTICATE +", f":{SERVER} 904 * :SASL authentication failed"],
                )
        proto.dataReceived(b"AUTHENTICATE PLAIN\r\nAUTHENTICATE " + b"A" * 401 + b"\r\n")
        self.assertEqual(
            self.said(transport), ["AUTHENTICATE +", f":{SERVER} 905 * :SASL message too long"]
        )

    def test_lines_wait_while_the_password_is_checked(self) -> None:
        proto, transport = self.connect()
        self.runner.manual = True
        payload = base64.b64encode(f"\0ana\0{ANA_PASSWORD}".encode()).decode()
        proto.dataReceived(f"AUTHENTICATE PLAIN\r\nAUTHENTICATE {payload}\r\n".encode())
        proto.dataReceived(b"NICK ana\r\nUSER ana 0 * :a\r\nCAP END\r\n")
        self.assertEqual(self.said(transport), ["AUTHENTICATE +"])
        self.runner.run_pending()  # SASL's check: then NICK, USER, CAP END and the login's
        got = self.said(transport)
        self.assertEqual(got[1], f":{SERVER} 903 * :SASL authentication successful")
        self.runner.run_pending()
        got = self.said(transport)
        self.assertTrue(got[0].startswith(f":{SERVER} 001 ana "), got)

    def test_login_timeout(self) -> None:
        _, transport = self.connect()
        self.clock.advance(60)
        got = self.said(transport)
        self.assertTrue(got[0].startswith(f":{SERVER} NOTICE * :"), got)
        self.assertEqual(got[-1], "ERROR :Closing link (login_timeout)")
        self.assertTrue(transport.disconnecting)

    def test_strikes(self) -> None:
        proto, transport = self.connect()
        proto.dataReceived(b"\xff\r\n\xfe\r\n\xfd\r\n")
        got = self.said(transport)
        self.assertEqual(got[-1], "ERROR :Closing link (strikes)")
        self.assertTrue(transport.disconnecting)

    def test_flood(self) -> None:
        proto, transport = self.connect()
        proto.dataReceived(b"PING x\r\n" * 25)
        got = self.said(transport)
        self.assertEqual(got.count(f":{SERVER} PONG {SERVER} x"), 19)  # the CAP REQ took one
        self.assertTrue(any(line.startswith(f":{SERVER} NOTICE * :") for line in got), got)


class SilentLogins:
    """A login recorder whose writes never finish (a database that hangs)."""

    def record_login(self, nickname: str, when: datetime) -> Deferred[datetime | None]:
        """Never fires."""
        return Deferred()


class WelcomeTests(SynchronousTestCase):
    """The MOTD of a login waits for the chat's last line of a login, a bounded time."""

    def test_the_welcome_ends_without_the_visit_line(self) -> None:
        clock = Clock()
        clock.advance(EPOCH.timestamp())
        parts = assemble(
            SPANISH, clock, logins=SilentLogins(), limits=Limits(flood_rate=0, max_strikes=0)
        )
        irc = IrcCommands(parts.core, parts.rooms, parts.language, SERVER)
        address = peer_address("198.51.100.9", 40001)
        transport = RecordingTransport(peerAddress=address)
        proto = IrcFactory(parts.server, irc).buildProtocol(address)
        proto.makeConnection(transport)
        proto.dataReceived(b"NICK ana\r\nUSER ana 0 * :a\r\nPING x\r\n")
        got = lines(transport.value())
        transport.clear()
        self.assertEqual(got[-1], f":{SERVER} 375 ana :- {SERVER} Message of the day -")
        clock.advance(WELCOME_WAIT)
        self.assertEqual(
            lines(transport.value()),
            [f":{SERVER} 376 ana :End of /MOTD command.", f":{SERVER} PONG {SERVER} x"],
        )
