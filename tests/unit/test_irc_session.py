"""The IRC session over its life: the keepalive (the server's ``PING`` to quiet clients,
``ERROR :Ping timeout``) with ``--idle-timeout`` beside it; ``QUIT``: its reason passed on, one
``QUIT`` per reader however many rooms it shared with the quitter, rendered once per renderer;
and capabilities changed after registration (the room regroups the session by renderer). On
the IRC adapter over recording transports, with a :class:`~twisted.internet.task.Clock` (no
sockets)."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from tests.support.fakes import RecordingTransport, decode_lines, peer_address
from tests.support.ircunit import SERVER, CountingIrc, epoch_clock, irc_chat
from twisted_chat.irc.protocol import IrcProtocol
from twisted_chat.irc.session import PING_INTERVAL, PING_TIMEOUT, ping_interval, ping_timeout
from twisted_chat.limits import Limits
from twisted_chat.notices import MAX_NOTICE_DELAY


class IrcAdapter(SynchronousTestCase):
    """An assembled chat with an IRC listener on recording transports; ``idle_timeout`` is the
    ``--idle-timeout`` of the test's chat."""

    idle_timeout = 0.0
    #: Whether join and leave notices are gathered (as the service runs).
    gather_notices = False

    def setUp(self) -> None:
        self.clock = epoch_clock()
        limits = Limits(
            flood_rate=0, max_strikes=0, login_timeout=0, idle_timeout=self.idle_timeout
        )
        self.parts, self.irc, self.factory = irc_chat(
            self.clock, limits=limits, gather_notices=self.gather_notices
        )
        self.port = 41000

    def connect(self) -> tuple[IrcProtocol, RecordingTransport]:
        """A new IRC connection (nothing sent)."""
        self.port += 1
        address = peer_address("198.51.100.9", self.port)
        transport = RecordingTransport(peerAddress=address)
        proto = self.factory.buildProtocol(address)
        proto.makeConnection(transport)
        return proto, transport

    @staticmethod
    def said(transport: RecordingTransport) -> list[str]:
        """What ``transport`` was written since the last call."""
        data = transport.value()
        transport.clear()
        return decode_lines(data)

    def user(self, nick: str) -> tuple[IrcProtocol, RecordingTransport]:
        """A registered IRC user, its welcome read."""
        proto, transport = self.connect()
        proto.dataReceived(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
        got = self.said(transport)
        self.assertTrue(got[0].startswith(f":{SERVER} 001 {nick} "), got)
        return proto, transport


class KeepaliveTests(IrcAdapter):
    """Without ``--idle-timeout``: ``PING`` after a quiet interval, the close after the
    timeout, and any line as an answer."""

    def ping_of(self, transport: RecordingTransport) -> str:
        """The token of the one ``PING`` just written to ``transport``."""
        (line,) = self.said(transport)
        self.assertTrue(line.startswith("PING :"), line)
        return line[len("PING :") :]

    def test_a_quiet_client_is_pinged_then_closed(self) -> None:
        proto, transport = self.user("ana")
        self.clock.advance(PING_INTERVAL - 1)
        self.assertEqual(self.said(transport), [])
        self.clock.advance(1)
        self.assertTrue(self.ping_of(transport))
        self.clock.advance(PING_TIMEOUT - 1)
        self.assertEqual(self.said(transport), [])
        self.assertFalse(transport.disconnecting)
        self.clock.advance(1)
        self.assertEqual(self.said(transport), ["ERROR :Ping timeout"])
        self.assertTrue(transport.disconnecting)
        assert proto.session is not None
        self.assertEqual(proto.session.disconnect_cause, "ping_timeout")
        self.assertEqual(self.parts.core.disconnects.pending.get("ping_timeout"), 1)

    def test_pong_answers_and_the_next_ping_comes_after_another_quiet_interval(self) -> None:
        proto, transport = self.user("ana")
        self.clock.advance(PING_INTERVAL)
        token = self.ping_of(transport)
        proto.dataReceived(f"PONG :{token}\r\n".encode())
        self.clock.advance(PING_TIMEOUT)  # the look after the PING sees the PONG
        self.assertEqual(self.said(transport), [])
        self.assertFalse(transport.disconnecting)
        self.clock.advance(PING_INTERVAL - 1)
        self.assertEqual(self.said(transport), [])
        self.clock.advance(1)  # the next look: quiet since the last one
        self.assertTrue(self.ping_of(transport))

    def test_any_line_is_a_sign_of_life(self) -> None:
        proto, transport = self.user("ana")
        for _ in range(10):
            self.clock.advance(PING_INTERVAL - 1)
            proto.dataReceived(b"LUSERS\r\n")
        self.assertFalse(any(line.startswith("PING") for line in self.said(transport)))
        self.assertFalse(transport.disconnecting)
        self.clock.advance(PING_INTERVAL)
        proto.dataReceived(b"WHATEVER\r\n")  # an unknown command is a line too
        self.clock.advance(PING_TIMEOUT)
        self.assertFalse(transport.disconnecting)

    def test_no_ping_before_registration_nor_after_the_close(self) -> None:
        proto, transport = self.connect()
        proto.dataReceived(b"NICK ana\r\n")  # not registered: the login timeout's business
        self.clock.advance(PING_INTERVAL * 3)
        self.assertEqual(self.said(transport), [])
        bob, bob_out = self.user("bob")
        bob.dataReceived(b"QUIT :bye\r\n")
        self.said(bob_out)
        bob.connectionLost(None)  # type: ignore[arg-type]
        self.assertEqual(self.clock.getDelayedCalls(), [])  # the keepalive's timer is gone
        self.clock.advance(PING_INTERVAL + PING_TIMEOUT)
        self.assertEqual(self.said(bob_out), [])


class KeepaliveWithIdleTimeoutTests(IrcAdapter):
    """``--idle-timeout 90``: the keepalive looks every 30 s and a PING waits 30 s, so a live
    client is pinged within 60 s of its last line and its answer comes before the idle timeout:
    it is never closed for idling; a dead one is closed by whichever comes first."""

    idle_timeout = 90.0

    def test_interval_and_timeout_follow_the_idle_timeout(self) -> None:
        self.assertEqual((ping_interval(0), ping_timeout(0)), (PING_INTERVAL, PING_TIMEOUT))
        self.assertEqual((ping_interval(90), ping_timeout(90)), (30, 30))
        self.assertEqual((ping_interval(150), ping_timeout(150)), (50, 50))
        self.assertEqual((ping_interval(3600), ping_timeout(3600)), (PING_INTERVAL, PING_TIMEOUT))

    def test_a_client_that_only_answers_pings_is_never_idle(self) -> None:
        proto, transport = self.user("ana")
        pings = 0
        for _ in range(60):  # 600 s, in steps of 10
            self.clock.advance(10)
            for line in self.said(transport):
                self.assertTrue(line.startswith("PING :"), line)
                pings += 1
                proto.dataReceived(b"PONG :" + line[len("PING :") :].encode() + b"\r\n")
        self.assertFalse(transport.disconnecting)
        self.assertGreaterEqual(pings, 600 // 90)

    def test_a_client_busy_just_after_a_look_is_pinged_before_the_idle_timeout(self) -> None:
        proto, transport = self.user("ana")
        self.clock.advance(10)
        proto.dataReceived(b"LUSERS\r\n")
        self.clock.advance(20)  # the first look, which saw that line
        self.clock.advance(0.5)  # just after it
        proto.dataReceived(b"LUSERS\r\n")
        self.said(transport)
        self.clock.advance(29.5)  # the look at 60 s sees the line
        self.clock.advance(29.75)
        self.assertEqual(self.said(transport), [])
        self.clock.advance(0.25)  # the look at 90 s, 59.5 s after the line: PING
        (line,) = self.said(transport)
        self.assertTrue(line.startswith("PING :"), line)
        proto.dataReceived(b"PONG :x\r\n")  # answered: not idle
        self.clock.advance(60)
        self.assertFalse(transport.disconnecting)

    def test_a_dead_client_is_closed(self) -> None:
        _, transport = self.user("ana")
        self.clock.advance(30)
        self.assertTrue(self.said(transport)[0].startswith("PING :"))
        self.clock.advance(30)
        self.assertEqual(self.said(transport), ["ERROR :Ping timeout"])
        self.assertTrue(transport.disconnecting)


class QuitTests(IrcAdapter):
    """``QUIT :reason`` as the other IRC users read it."""

    def test_reason_and_one_quit_per_reader_rendered_once(self) -> None:
        counting = CountingIrc(self.parts.language, SERVER)
        self.irc._renderers[counting.caps] = counting
        ana, ana_out = self.user("ana")
        bob, bob_out = self.user("bob")
        cris, cris_out = self.user("cris")
        for channel in (b"#uno", b"#dos", b"#tres"):
            ana.dataReceived(b"JOIN " + channel + b"\r\n")
            bob.dataReceived(b"JOIN " + channel + b"\r\n")
        cris.dataReceived(b"JOIN #tres\r\n")  # shares only the last room with bob
        for transport in (ana_out, bob_out, cris_out):
            self.said(transport)
        CountingIrc.renders = 0
        bob.dataReceived(b"QUIT :  hasta luego  \r\n")
        self.assertEqual(self.said(bob_out), ["ERROR :Quit: hasta luego"])
        bob.connectionLost(None)  # type: ignore[arg-type]
        quit_line = ":bob!bob@irc.test QUIT :Quit: hasta luego"
        self.assertEqual(self.said(ana_out), [quit_line])
        self.assertEqual(self.said(cris_out), [quit_line])
        # #uno (ana), #dos (nobody new), #tres (cris): one render per room with new readers
        self.assertEqual(CountingIrc.renders, 2)

    def test_no_reason_and_a_lost_connection(self) -> None:
        ana, ana_out = self.user("ana")
        bob, _ = self.user("bob")
        cris, _ = self.user("cris")
        for proto in (ana, bob, cris):
            proto.dataReceived(b"JOIN #uno\r\n")
        self.said(ana_out)
        bob.dataReceived(b"QUIT\r\n")
        bob.connectionLost(None)  # type: ignore[arg-type]
        cris.connectionLost(None)  # type: ignore[arg-type]
        self.assertEqual(
            self.said(ana_out),
            [":bob!bob@irc.test QUIT :Quit", ":cris!cris@irc.test QUIT :Quit"],
        )


class QuitWithGatheredNoticesTests(IrcAdapter):
    """As the service runs (join and leave notices gathered): a departure from several rooms
    writes the pending notices first, then its one ``QUIT``."""

    gather_notices = True

    def test_pending_join_then_one_quit(self) -> None:
        ana, ana_out = self.user("ana")
        bob, _ = self.user("bob")
        cris, _ = self.user("cris")
        for proto in (ana, bob):
            proto.dataReceived(b"JOIN #uno\r\nJOIN #dos\r\n")
        self.clock.advance(MAX_NOTICE_DELAY)
        self.said(ana_out)
        cris.dataReceived(b"JOIN #uno\r\n")  # its JOIN waits, gathered
        self.assertEqual(self.said(ana_out), [])
        bob.dataReceived(b"QUIT :me voy\r\n")
        bob.connectionLost(None)  # type: ignore[arg-type]
        self.assertEqual(
            self.said(ana_out),
            [":cris!cris@irc.test JOIN #uno", ":bob!bob@irc.test QUIT :Quit: me voy"],
        )
        self.clock.advance(MAX_NOTICE_DELAY)
        self.assertEqual(self.said(ana_out), [])  # nothing left to flush, nothing twice


class CapAfterRegistrationTests(IrcAdapter):
    """``CAP REQ`` after registration, also of what changes how lines are written."""

    def test_server_time_on_and_off_with_everything_in_between(self) -> None:
        ana, ana_out = self.user("ana")
        bob, bob_out = self.user("bob")
        for proto in (ana, bob):
            proto.dataReceived(b"JOIN #uno\r\n")
        ana.dataReceived(b"CAP REQ :server-time echo-message\r\n")
        self.said(bob_out)
        self.assertEqual(self.said(ana_out)[-1], f":{SERVER} CAP ana ACK :server-time echo-message")
        bob.dataReceived(b"PRIVMSG #uno :hola\r\n")
        (tagged,) = self.said(ana_out)
        self.assertTrue(tagged.startswith("@time="), tagged)
        self.assertTrue(tagged.endswith(" :bob!bob@irc.test PRIVMSG #uno :hola"), tagged)
        ana.dataReceived(b"PRIVMSG #uno :eco\r\n")  # echo-message: its own message back
        self.assertTrue(self.said(ana_out)[0].endswith("PRIVMSG #uno :eco"))
        self.assertEqual(self.said(bob_out), [":ana!ana@irc.test PRIVMSG #uno :eco"])
        ana.dataReceived(b"CAP REQ :-server-time -echo-message\r\n")
        self.said(ana_out)
        ana.dataReceived(b"CAP LIST\r\n")
        self.assertEqual(self.said(ana_out), [f":{SERVER} CAP ana LIST :"])
        bob.dataReceived(b"PRIVMSG #uno :otra\r\n")
        self.assertEqual(self.said(ana_out), [":bob!bob@irc.test PRIVMSG #uno :otra"])
        ana.dataReceived(b"PRIVMSG #uno :sin eco\r\n")
        self.assertEqual(self.said(ana_out), [])
        chatroom = self.parts.core.room.find_room("uno")
        assert chatroom is not None
        self.assertEqual([len(group) for group in chatroom.groups.values()], [2])  # one group
