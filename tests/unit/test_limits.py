"""Unit tests of the abuse limits (issue 3, items 1-4): SendQ, strikes, flood control, connection
limits, login/idle timeouts, graceful shutdown of the factory, and the options that set them.

Every client is a real :class:`ChatProtocol` built by the real :class:`ChatTCPFactory`, connected to
a ``StringTransport`` whose peer address each test chooses; every timing rule runs on a ``Clock``.
The tests are ``SynchronousTestCase`` classes so they run under both ``pytest`` and ``trial``.
"""

from __future__ import annotations

import ipaddress
from typing import ClassVar

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import Clock
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase

from tests.support.expected import (
    BAD_UTF8,
    CONTROL,
    FLOOD_DROPPED,
    FLOOD_KICKED,
    IDLE_TIMEOUT,
    LOGIN_TIMEOUT,
    NICK_INVALID,
    PONG,
    PROMPT,
    SENDQ,
    SERVER_FULL,
    SHUTTING_DOWN,
    SHUTTING_DOWN_REFUSED,
    STRIKES,
    TOO_LONG,
    TOO_MANY_FROM_IP,
    joined,
    left,
    welcome,
)
from tests.support.fakes import EPOCH, Client, Clients
from tests.support.options import parse
from twisted_chat.assembly import assemble
from twisted_chat.limits import (
    DEFAULT_EXEMPT,
    AttemptWindow,
    ConnectionCounter,
    Limits,
    TokenBucket,
    parse_exempt,
)
from twisted_chat.server import ChatServer
from twisted_chat.tcp import ChatTCPFactory
from twisted_chat.text import SPANISH

#: A line over the 1024-byte limit, an invalid UTF-8 line and a line with an ANSI escape.
LONG_LINE = b"x" * 1025 + b"\r\n"
BAD_UTF8_LINE = b"caf\xe9\r\n"
CONTROL_LINE = b"\x1b[31mrojo\r\n"


def numbered(count: int, prefix: str = "m", start: int = 0) -> bytes:
    """``count`` CRLF-terminated lines ``m0``, ``m1``... as one chunk."""
    return b"".join(f"{prefix}{i}\r\n".encode() for i in range(start, start + count))


class LimitsTestCase(SynchronousTestCase):
    """Base: a chat on a ``Clock`` at :data:`EPOCH`, no database, and the limits of the class."""

    limits: ClassVar[Limits] = Limits()

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(EPOCH.timestamp())
        self.parts = assemble(SPANISH, self.clock)
        self.chat = self.parts.core
        self.clients = Clients()
        self.serve(self.limits)

    def serve(self, limits: Limits) -> ChatTCPFactory:
        """Use a new server with ``limits`` for later connections; its TCP factory."""
        self.server = ChatServer(self.chat, limits)
        self.factory = ChatTCPFactory(self.server, self.parts.lines)
        return self.factory

    def connect(self, host: str | None = None) -> Client:
        """A new connection from ``host`` (by default a fresh address in 198.51.100.0/24)."""
        return self.clients.connect(self.factory, host)

    def login(self, nickname: str, host: str | None = None) -> Client:
        """A new connection logged in as ``nickname``; everyone's output is then cleared."""
        client = self.connect(host)
        client.send(nickname + "\r\n")
        lines = client.received()
        if lines != [PROMPT, welcome(nickname)]:
            raise AssertionError(f"login as {nickname!r} failed: {lines!r}")
        self.clients.drain()
        return client


# -- TokenBucket ------------------------------------------------------------------------------


class TokenBucketTests(SynchronousTestCase):
    """``rate`` tokens per second, ``burst`` saved up at most; rate 0 is unlimited."""

    def test_burst_then_refused(self) -> None:
        bucket = TokenBucket(10, 20, now=100.0)
        self.assertEqual([bucket.take(100.0) for _ in range(20)], [True] * 20)
        self.assertFalse(bucket.take(100.0))
        self.assertFalse(bucket.take(100.0))

    def test_refill_at_the_rate(self) -> None:
        bucket = TokenBucket(10, 20, now=100.0)
        for _ in range(20):
            bucket.take(100.0)
        # One second at 10/s: exactly ten more.
        self.assertEqual([bucket.take(101.0) for _ in range(11)], [True] * 10 + [False])
        # Half a token is not enough; it is kept and completed 0.1 s later.
        self.assertFalse(bucket.take(101.05))
        self.assertTrue(bucket.take(101.15))
        self.assertFalse(bucket.take(101.15))

    def test_refill_capped_at_the_burst(self) -> None:
        bucket = TokenBucket(10, 20, now=0.0)
        for _ in range(20):
            bucket.take(0.0)
        results = [bucket.take(3600.0) for _ in range(25)]
        self.assertEqual(results, [True] * 20 + [False] * 5)

    def test_rate_zero_is_unlimited(self) -> None:
        bucket = TokenBucket(0, 20, now=0.0)
        self.assertTrue(all(bucket.take(0.0) for _ in range(10_000)))

    def test_burst_of_at_least_one(self) -> None:
        bucket = TokenBucket(1, 0, now=0.0)
        self.assertTrue(bucket.take(0.0))
        self.assertFalse(bucket.take(0.5))
        self.assertTrue(bucket.take(1.0))


# -- flood control ----------------------------------------------------------------------------


class FloodTests(LimitsTestCase):
    """``--flood-rate 10 --flood-burst 20 --flood-kick 10``: lines over budget are dropped with at
    most one ``! `` per second; a client over budget for 10 s is disconnected."""

    limits = Limits(flood_rate=10, flood_burst=20, flood_kick=10, max_strikes=0)

    def login(self, nickname: str, host: str | None = None) -> Client:
        """Log in, then let the bucket refill: the nickname line itself costs a token."""
        client = super().login(nickname, host)
        self.clock.advance(5)
        return client

    def test_burst_passes_then_one_notice(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send(numbered(20))
        self.assertEqual(ana.received(), [])
        self.assertEqual(bob.received(), [f"<ana> m{i}" for i in range(20)])
        ana.send(b"m20\r\n")
        self.assertEqual(ana.received(), [FLOOD_DROPPED])
        self.assertEqual(bob.received(), [])
        self.assertFalse(ana.closing)

    def test_a_whole_burst_right_after_logging_in(self) -> None:
        # Nickname lines are not messages: the budget starts afresh at login.
        bob = self.login("bob")
        ana = self.connect()
        ana.received()
        ana.send(b"_bad\r\n_worse\r\nana\r\n" + numbered(20))
        self.assertEqual(bob.received(), [joined("ana"), *(f"<ana> m{i}" for i in range(20))])
        ana.received()
        ana.send(numbered(1, "extra"))
        self.assertEqual(ana.received(), [FLOOD_DROPPED])
        self.assertFalse(ana.closing)

    def test_dropped_lines_are_not_relayed(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send(numbered(30))
        self.assertEqual(ana.received(), [FLOOD_DROPPED])
        self.assertEqual(bob.received(), [f"<ana> m{i}" for i in range(20)])

    def test_at_most_one_notice_per_second(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send(numbered(21))
        self.assertEqual(ana.received(), [FLOOD_DROPPED])
        # More drops within the same second: no further notice.
        for i in range(5):
            ana.send(f"again{i}\r\n")
        self.clock.advance(0.5)
        ana.send(numbered(10, "half"))  # 5 tokens: 5 pass, 5 dropped, still silent
        self.assertEqual(ana.received(), [])
        self.assertEqual(
            bob.received(),
            [*(f"<ana> m{i}" for i in range(20)), *(f"<ana> half{i}" for i in range(5))],
        )
        self.clock.advance(0.5)
        ana.send(numbered(10, "late"))  # 5 tokens: 5 pass, then a notice again (1 s later)
        self.assertEqual(ana.received(), [FLOOD_DROPPED])
        self.assertEqual(bob.received(), [f"<ana> late{i}" for i in range(5)])

    def test_a_second_later_the_rate_is_available_again(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send(numbered(21))
        ana.received()
        bob.received()
        self.clock.advance(1)
        ana.send(numbered(11, "next"))
        self.assertEqual(ana.received(), [FLOOD_DROPPED])
        self.assertEqual(bob.received(), [f"<ana> next{i}" for i in range(10)])

    def test_commands_count_too(self) -> None:
        ana = self.login("ana")
        ana.send(b"/ping\r\n" * 25)
        self.assertEqual(ana.received(), [PONG] * 20 + [FLOOD_DROPPED])

    def test_applies_at_the_nickname_prompt(self) -> None:
        client = self.connect()
        client.received()
        client.send(b"1bad\r\n" * 25)
        self.assertEqual(client.received(), [NICK_INVALID] * 20 + [FLOOD_DROPPED])

    def test_client_that_keeps_flooding_is_kicked_after_flood_kick_seconds(self) -> None:
        """50 lines/s against a rate of 10/s: lines are being dropped all the time (one line
        gets through each time a token refills), so after 10 s the client is disconnected."""
        ana, bob = self.login("ana"), self.login("bob")
        start = self.clock.seconds()
        ana.send(numbered(25))  # burst used up: the first line dropped at `start`
        kicked_after: float | None = None
        for step in range(150):  # up to 15 s in steps of 0.1 s, 5 lines per step
            self.clock.advance(0.1)
            ana.send(numbered(5, f"s{step}-"))
            if ana.closing:
                kicked_after = self.clock.seconds() - start
                break
        self.assertIsNotNone(
            kicked_after,
            "a client that kept sending 50 lines/s (lines dropped every 0.1 s) for 15 s was "
            "never disconnected with --flood-kick 10",
        )
        assert kicked_after is not None
        self.assertGreaterEqual(kicked_after, 10 - 1e-6)
        self.assertLess(kicked_after, 11)
        self.assertEqual(ana.received()[-1], FLOOD_KICKED)
        ana.lose()
        self.assertEqual(bob.received()[-1], left("ana"))
        self.assertEqual(self.server.stats["flood"], 1)

    def test_client_that_slows_down_is_not_kicked(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send(numbered(25))
        for step in range(50):  # 5 s at 50 lines/s
            self.clock.advance(0.1)
            ana.send(numbered(5, f"fast{step}-"))
        self.assertFalse(ana.closing)
        ana.received()
        bob.received()
        for i in range(150):  # then 30 s at 5 lines/s: under budget
            self.clock.advance(0.2)
            ana.send(f"slow{i}\r\n")
        self.assertFalse(ana.closing)
        self.assertEqual(ana.received(), [])
        self.assertEqual(bob.received(), [f"<ana> slow{i}" for i in range(150)])

    def test_a_flood_after_slowing_down_starts_a_new_count(self) -> None:
        ana = self.login("ana")
        self.flood(ana, 5.0)
        for i in range(25):  # 5 s at 5 lines/s: no drops
            self.clock.advance(0.2)
            ana.send(f"slow{i}\r\n")
        self.flood(ana, 7.0)  # 12 s after the first drop, but only 7 s into this flood
        self.assertFalse(ana.closing)
        self.flood(ana, 4.0)
        self.assertTrue(ana.closing)
        self.assertEqual(ana.received()[-1], FLOOD_KICKED)

    def flood(self, client: Client, seconds: float) -> None:
        """``client`` sends 50 lines/s for ``seconds`` (in steps of 0.1 s)."""
        for step in range(round(seconds * 10)):
            self.clock.advance(0.1)
            client.send(numbered(5, f"f{step}-"))

    def test_flood_kick_zero_never_kicks(self) -> None:
        self.serve(Limits(flood_rate=10, flood_burst=20, flood_kick=0, max_strikes=0))
        ana = self.login("ana")
        for step in range(300):  # 30 s at 50 lines/s
            self.clock.advance(0.1)
            ana.send(numbered(5, f"s{step}-"))
        self.assertFalse(ana.closing)

    def test_rate_zero_turns_flood_control_off(self) -> None:
        self.serve(Limits(flood_rate=0, max_strikes=0))
        ana, bob = self.login("ana"), self.login("bob")
        ana.send(numbered(1000))
        self.assertEqual(ana.received(), [])
        self.assertEqual(bob.received(), [f"<ana> m{i}" for i in range(1000)])
        self.assertFalse(ana.closing)


# -- strikes ----------------------------------------------------------------------------------


class StrikeTests(LimitsTestCase):
    """``--max-strikes 3``: three bad lines in a row (over-long, invalid UTF-8, control
    characters) end the connection, before or after login; a good line resets the count."""

    limits = Limits(max_strikes=3, flood_rate=0)

    def assertStruckOut(self, client: Client, data: bytes, errors: list[str]) -> None:
        """Sending ``data`` (three bad lines) gets ``errors`` then the strikes line, and closes."""
        client.send(data)
        self.assertEqual(client.received(), [*errors, STRIKES])
        self.assertTrue(client.closing)

    def test_over_long_lines_before_login(self) -> None:
        client = self.connect()
        client.received()
        client.send(LONG_LINE * 2)
        self.assertEqual(client.received(), [TOO_LONG, TOO_LONG])
        self.assertFalse(client.closing)
        self.assertStruckOut(client, LONG_LINE, [TOO_LONG])

    def test_invalid_utf8_before_login(self) -> None:
        client = self.connect()
        client.received()
        self.assertStruckOut(client, BAD_UTF8_LINE * 3, [BAD_UTF8] * 3)

    def test_control_characters_before_login(self) -> None:
        client = self.connect()
        client.received()
        self.assertStruckOut(client, CONTROL_LINE * 3, [NICK_INVALID] * 3)

    def test_mixed_before_login(self) -> None:
        client = self.connect()
        client.received()
        self.assertStruckOut(
            client, LONG_LINE + BAD_UTF8_LINE + CONTROL_LINE, [TOO_LONG, BAD_UTF8, NICK_INVALID]
        )

    def test_over_long_lines_after_login(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.assertStruckOut(ana, LONG_LINE * 3, [TOO_LONG] * 3)
        ana.lose()
        self.assertEqual(bob.received(), [left("ana")])

    def test_invalid_utf8_after_login(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.assertStruckOut(ana, BAD_UTF8_LINE * 3, [BAD_UTF8] * 3)
        ana.lose()
        self.assertEqual(bob.received(), [left("ana")])

    def test_control_characters_after_login(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.assertStruckOut(
            ana, CONTROL_LINE + b"/ping\x07\r\n" + "#bob \u009b\r\n".encode(), [CONTROL] * 3
        )
        ana.lose()
        self.assertEqual(bob.received(), [left("ana")])

    def test_mixed_after_login(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.assertStruckOut(
            ana, CONTROL_LINE + LONG_LINE + BAD_UTF8_LINE, [CONTROL, TOO_LONG, BAD_UTF8]
        )
        ana.lose()
        self.assertEqual(bob.received(), [left("ana")])
        self.assertEqual(self.server.stats["strikes"], 1)

    def test_good_line_resets_the_count_after_login(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send(LONG_LINE + BAD_UTF8_LINE + b"hola\r\n" + CONTROL_LINE + LONG_LINE)
        self.assertEqual(ana.received(), [TOO_LONG, BAD_UTF8, CONTROL, TOO_LONG])
        self.assertEqual(bob.received(), ["<ana> hola"])
        self.assertFalse(ana.closing)
        self.assertStruckOut(ana, BAD_UTF8_LINE, [BAD_UTF8])

    def test_a_command_resets_the_count(self) -> None:
        ana = self.login("ana")
        ana.send(LONG_LINE * 2 + b"/ping\r\n" + LONG_LINE * 2)
        self.assertEqual(ana.received(), [TOO_LONG, TOO_LONG, PONG, TOO_LONG, TOO_LONG])
        self.assertFalse(ana.closing)

    def test_the_nickname_line_resets_the_count(self) -> None:
        client = self.connect()
        client.received()
        client.send(LONG_LINE * 2 + b"ana\r\n" + BAD_UTF8_LINE * 2)
        self.assertEqual(
            client.received(), [TOO_LONG, TOO_LONG, welcome("ana"), BAD_UTF8, BAD_UTF8]
        )
        self.assertFalse(client.closing)
        self.assertStruckOut(client, CONTROL_LINE, [CONTROL])

    def test_lines_after_the_last_strike_are_not_processed(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send(LONG_LINE * 3 + b"after\r\n")
        self.assertEqual(ana.received(), [TOO_LONG] * 3 + [STRIKES])
        self.assertEqual(bob.received(), [])

    def test_zero_strikes_never_disconnects(self) -> None:
        self.serve(Limits(max_strikes=0, flood_rate=0))
        client = self.connect()
        client.received()
        client.send((LONG_LINE + BAD_UTF8_LINE + CONTROL_LINE) * 20)
        self.assertEqual(client.received(), [TOO_LONG, BAD_UTF8, NICK_INVALID] * 20)
        self.assertFalse(client.closing)
        client.send("ana\r\n")
        self.assertEqual(client.received(), [welcome("ana")])
        client.send((LONG_LINE + BAD_UTF8_LINE + CONTROL_LINE) * 20)
        self.assertEqual(client.received(), [TOO_LONG, BAD_UTF8, CONTROL] * 20)
        self.assertFalse(client.closing)

    def test_unterminated_partial_line_is_not_buffered_and_reported_once(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send(b"y" * 5000)
        self.assertEqual(ana.received(), [TOO_LONG])
        for _ in range(100):
            ana.send(b"y" * 5000)
        self.assertEqual(ana.received(), [])
        self.assertLessEqual(ana.protocol._splitter.pending, 1025)
        ana.send(b"tail\r\nhola\r\n")
        self.assertEqual(ana.received(), [])
        self.assertEqual(bob.received(), ["<ana> hola"])
        self.assertFalse(ana.closing)

    def test_an_unterminated_over_long_line_is_one_strike(self) -> None:
        ana = self.login("ana")
        ana.send(b"z" * 5000)
        ana.send(b"z" * 5000 + b"\n" + LONG_LINE)
        self.assertEqual(ana.received(), [TOO_LONG, TOO_LONG])
        self.assertFalse(ana.closing)
        self.assertStruckOut(ana, BAD_UTF8_LINE, [BAD_UTF8])


# -- login and idle timeouts ------------------------------------------------------------------


class LoginTimeoutTests(LimitsTestCase):
    """``--login-timeout 60``: a connection not logged in after 60 s gets ``! `` and is closed."""

    limits = Limits(login_timeout=60, flood_rate=0)

    def test_not_logged_in_in_time(self) -> None:
        client = self.connect()
        self.assertEqual(client.received(), [PROMPT])
        self.clock.advance(59.9)
        self.assertFalse(client.closing)
        self.assertEqual(client.received(), [])
        self.clock.advance(0.1)
        self.assertEqual(client.received(), [LOGIN_TIMEOUT])
        self.assertTrue(client.closing)
        client.lose()
        self.assertEqual(self.server.stats["login_timeout"], 1)
        self.assertEqual(self.server.counter.total, 0)

    def test_lines_at_the_prompt_do_not_extend_it(self) -> None:
        client = self.connect()
        client.received()
        for _ in range(5):
            self.clock.advance(11)
            client.send("1bad\r\n")
        self.assertEqual(client.received(), [NICK_INVALID] * 5)
        self.clock.advance(5)
        self.assertEqual(client.received(), [LOGIN_TIMEOUT])
        self.assertTrue(client.closing)

    def test_logged_in_in_time_is_not_closed(self) -> None:
        client = self.connect()
        self.clock.advance(59)
        client.send("ana\r\n")
        self.assertEqual(client.received(), [PROMPT, welcome("ana")])
        self.clock.advance(3600)
        self.assertEqual(client.received(), [])
        self.assertFalse(client.closing)

    def test_others_do_not_see_a_timed_out_connection(self) -> None:
        bob = self.login("bob")
        client = self.connect()
        self.clock.advance(60)
        self.assertTrue(client.closing)
        client.lose()
        self.assertEqual(bob.received(), [])

    def test_zero_is_off(self) -> None:
        self.serve(Limits(login_timeout=0, flood_rate=0))
        client = self.connect()
        client.received()
        self.clock.advance(100_000)
        self.assertEqual(client.received(), [])
        self.assertFalse(client.closing)

    def test_default_is_sixty_seconds(self) -> None:
        self.serve(Limits())
        client = self.connect()
        client.received()
        self.clock.advance(59.9)
        self.assertFalse(client.closing)
        self.clock.advance(0.1)
        self.assertEqual(client.received(), [LOGIN_TIMEOUT])
        self.assertTrue(client.closing)


class IdleTimeoutTests(LimitsTestCase):
    """``--idle-timeout 30``: a logged-in client that sends no line for 30 s is closed; receiving
    does not count; ``/ping`` answers exactly ``* pong`` and keeps it alive."""

    limits = Limits(idle_timeout=30, login_timeout=0, flood_rate=0)

    def test_silent_client_is_closed(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        for _ in range(2):  # bob talks to ana every 10 s; ana only reads
            self.clock.advance(10)
            bob.send("hola\r\n")
        self.assertEqual(ana.received(), ["<bob> hola", "<bob> hola"])
        self.assertFalse(ana.closing)
        self.clock.advance(9.9)
        self.assertFalse(ana.closing)
        self.clock.advance(0.1)
        self.assertEqual(ana.received(), [IDLE_TIMEOUT])
        self.assertTrue(ana.closing)
        self.assertFalse(bob.closing)
        ana.lose()
        self.assertEqual(bob.received(), [left("ana")])
        self.assertEqual(self.server.stats["idle_timeout"], 1)

    def test_sending_lines_keeps_it_alive(self) -> None:
        ana = self.login("ana")
        for i in range(20):  # 10 minutes, a line every 29 s (a public message to nobody)
            self.clock.advance(29)
            ana.send(f"sigo{i}\r\n")
        self.assertFalse(ana.closing)
        self.assertEqual(ana.received(), [])
        self.clock.advance(30)
        self.assertTrue(ana.closing)

    def test_ping_answers_pong_and_keeps_it_alive(self) -> None:
        ana = self.login("ana")
        for _ in range(10):
            self.clock.advance(25)
            ana.send("/ping\r\n")
            self.assertEqual(ana.received(), [PONG])
        self.assertFalse(ana.closing)

    def test_the_timer_restarts_from_the_last_line(self) -> None:
        ana = self.login("ana")
        self.clock.advance(20)
        ana.send("/ping\r\n")
        self.clock.advance(29.9)
        self.assertFalse(ana.closing)
        self.clock.advance(0.1)
        self.assertTrue(ana.closing)

    def test_not_applied_at_the_prompt(self) -> None:
        client = self.connect()
        self.clock.advance(3600)
        self.assertFalse(client.closing)

    def test_zero_is_off(self) -> None:
        self.serve(Limits(idle_timeout=0, login_timeout=0, flood_rate=0))
        ana = self.login("ana")
        self.clock.advance(100_000)
        self.assertEqual(ana.received(), [])
        self.assertFalse(ana.closing)


class PingTests(LimitsTestCase):
    """``/ping`` answers exactly ``* pong``."""

    def test_ping(self) -> None:
        ana = self.login("ana")
        ana.send("/ping\r\n")
        self.assertEqual(ana.transport.value(), b"* pong\r\n")

    def test_ping_with_arguments_and_in_capitals(self) -> None:
        ana = self.login("ana")
        ana.send("/PING 12345\r\n")
        self.assertEqual(ana.received(), [PONG])

    def test_others_see_nothing(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        ana.send("/ping\r\n")
        self.assertEqual(bob.received(), [])


# -- SendQ ------------------------------------------------------------------------------------


class SendQTests(LimitsTestCase):
    """``--sendq 1000``: while the transport has paused the protocol's producer, output past
    1000 bytes aborts the connection; a resume empties the count."""

    limits = Limits(sendq=1000, flood_rate=0, max_strikes=0)

    #: 94 characters: ``<bob> `` + text + CRLF is 102 bytes on the wire.
    TEXT = "x" * 94
    LINE = f"<bob> {TEXT}"

    def say(self, sender: Client, times: int) -> None:
        """``sender`` sends :attr:`TEXT` ``times`` times."""
        for _ in range(times):
            sender.send(self.TEXT + "\r\n")

    def test_a_producer_of_its_own_is_registered(self) -> None:
        ana = self.login("ana")
        producer = ana.producer
        self.assertTrue(IPushProducer.providedBy(producer))
        self.assertIsNot(producer, ana.protocol)
        self.assertTrue(ana.transport.streaming)

    def test_no_limit_while_the_transport_is_not_paused(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.say(bob, 100)  # 10 200 bytes, ten times the SendQ
        self.assertFalse(ana.aborted)
        self.assertEqual(ana.received(), [self.LINE] * 100)

    def test_slow_consumer_is_aborted(self) -> None:
        ana, bob, carol = self.login("ana"), self.login("bob"), self.login("carol")
        ana.producer.pauseProducing()
        self.say(bob, 9)  # 918 bytes pending
        self.assertFalse(ana.aborted)
        self.assertFalse(ana.closing)
        self.say(bob, 1)  # 1020 bytes: over
        self.assertTrue(ana.aborted)
        self.assertEqual(ana.received(), [self.LINE] * 10 + [SENDQ])
        # Delivery to the others goes on, and the aborted client gets nothing more.
        self.say(bob, 5)
        self.assertEqual(ana.transport.value(), b"")
        self.assertEqual(carol.received(), [self.LINE] * 15)
        # The reactor reports the aborted connection lost: everyone else sees it leave.
        ana.lose(ConnectionLost())
        self.assertEqual(bob.received(), [left("ana")])
        self.assertEqual(carol.received(), [left("ana")])
        self.assertEqual(self.server.stats["sendq"], 1)
        self.assertNotIn(ana.protocol.session, self.server.connections)

    def test_resume_resets_the_count(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        for _ in range(5):
            ana.producer.pauseProducing()
            self.say(bob, 9)  # 918 bytes each time; 4590 in all
            ana.producer.resumeProducing()
        self.assertFalse(ana.aborted)
        self.assertEqual(len(ana.received()), 45)

    def test_only_output_while_paused_counts(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.say(bob, 50)
        ana.producer.pauseProducing()
        self.say(bob, 9)
        self.assertFalse(ana.aborted)
        self.say(bob, 1)
        self.assertTrue(ana.aborted)

    def test_own_command_output_counts_too(self) -> None:
        ana = self.login("ana")
        ana.producer.pauseProducing()
        ana.send("/ayuda\r\n" * 10)
        self.assertTrue(ana.aborted)
        self.assertEqual(ana.received()[-1], SENDQ)

    def test_client_at_the_prompt_is_not_counted_in_the_room(self) -> None:
        bob = self.login("bob")
        client = self.connect()
        client.received()
        client.producer.pauseProducing()
        client.send(b"1bad\r\n" * 20)  # about 2 KB of errors
        self.assertTrue(client.aborted)
        client.lose(ConnectionLost())
        self.assertEqual(bob.received(), [])
        self.assertEqual(self.server.counter.total, 1)


# -- connection limits ------------------------------------------------------------------------


class MaxClientsTests(LimitsTestCase):
    """``--max-clients 3``: the fourth connection gets one ``! `` line and is closed."""

    limits = Limits(max_clients=3, max_per_ip=0, flood_rate=0)

    def test_the_one_too_many_is_refused(self) -> None:
        first = self.login("ana")
        others = [self.connect(), self.connect()]  # at the prompt: counted too
        self.clients.drain()
        refused = self.connect()
        self.assertEqual(refused.received(), [SERVER_FULL])
        self.assertTrue(refused.closing)
        self.assertEqual(self.server.counter.total, 3)
        self.assertEqual(len(self.server.connections), 3)
        self.assertEqual(self.server.stats["refused_server_full"], 1)
        refused.lose()
        self.assertEqual(self.server.counter.total, 3)
        self.assertEqual(first.received(), [])
        for client in others:
            self.assertFalse(client.closing)

    def test_refused_connection_gets_nothing_else(self) -> None:
        for _ in range(3):
            self.connect()
        refused = self.connect()
        refused.send("ana\r\n")
        self.clock.advance(3600)
        self.assertEqual(refused.received(), [SERVER_FULL])
        self.assertIsNone(refused.protocol.nickname)

    def test_admitted_again_after_one_leaves(self) -> None:
        clients = [self.connect() for _ in range(3)]
        self.assertTrue(self.connect().closing)
        clients[0].lose()
        self.assertEqual(self.server.counter.total, 2)
        again = self.connect()
        self.assertEqual(again.received(), [PROMPT])
        self.assertFalse(again.closing)
        again.send("ana\r\n")
        self.assertEqual(again.received(), [welcome("ana")])
        self.assertTrue(self.connect().closing)

    def test_zero_means_no_cap(self) -> None:
        self.serve(Limits(max_clients=0, max_per_ip=0, flood_rate=0))
        clients = [self.connect() for _ in range(200)]
        self.assertFalse(any(c.closing for c in clients))
        self.assertEqual(self.server.counter.total, 200)

    def test_exempt_addresses_count_towards_max_clients(self) -> None:
        self.serve(Limits(max_clients=3, max_per_ip=1, flood_rate=0))
        for _ in range(3):
            self.assertFalse(self.connect("127.0.0.1").closing)
        refused = self.connect("127.0.0.1")
        self.assertEqual(refused.received(), [SERVER_FULL])


class MaxPerIPTests(LimitsTestCase):
    """``--max-per-ip 2`` with ``--exempt none``: a third connection from one address is refused;
    other addresses and exempt networks are not affected."""

    limits = Limits(max_per_ip=2, exempt=(), flood_rate=0)

    def test_third_from_one_address_is_refused(self) -> None:
        self.connect("203.0.113.5")
        self.login("ana", "203.0.113.5")
        refused = self.connect("203.0.113.5")
        self.assertEqual(refused.received(), [TOO_MANY_FROM_IP])
        self.assertTrue(refused.closing)
        self.assertEqual(self.server.stats["refused_per_ip"], 1)
        self.assertEqual(self.server.counter.total, 2)
        refused.lose()
        other = self.connect("203.0.113.6")
        self.assertEqual(other.received(), [PROMPT])
        self.assertFalse(other.closing)

    def test_admitted_again_after_one_leaves(self) -> None:
        first = self.connect("203.0.113.5")
        self.connect("203.0.113.5")
        self.assertTrue(self.connect("203.0.113.5").closing)
        first.lose()
        again = self.connect("203.0.113.5")
        self.assertEqual(again.received(), [PROMPT])
        self.assertFalse(again.closing)

    def test_ipv4_mapped_ipv6_counts_as_ipv4(self) -> None:
        self.connect("203.0.113.5")
        self.connect("::ffff:203.0.113.5")
        self.assertEqual(self.server.counter.hosts(), 1)
        refused = self.connect("203.0.113.5")
        self.assertEqual(refused.received(), [TOO_MANY_FROM_IP])
        refused6 = self.connect("::ffff:203.0.113.5")
        self.assertEqual(refused6.received(), [TOO_MANY_FROM_IP])

    def test_ipv6_addresses(self) -> None:
        self.connect("2001:db8::1")
        self.connect("2001:db8::1")
        self.assertEqual(self.connect("2001:db8::1").received(), [TOO_MANY_FROM_IP])
        self.assertEqual(self.connect("2001:db8::2").received(), [PROMPT])

    def test_without_exempt_loopback_is_limited(self) -> None:
        self.connect("127.0.0.1")
        self.connect("127.0.0.1")
        self.assertEqual(self.connect("127.0.0.1").received(), [TOO_MANY_FROM_IP])

    def test_loopback_exempt_by_default(self) -> None:
        self.serve(Limits(max_per_ip=2, flood_rate=0))
        for host in ["127.0.0.1"] * 5 + ["127.0.0.2"] * 3 + ["::1"] * 3 + ["::ffff:127.0.0.1"] * 3:
            client = self.connect(host)
            self.assertEqual(client.received(), [PROMPT], host)
        self.connect("203.0.113.5")
        self.connect("203.0.113.5")
        self.assertEqual(self.connect("203.0.113.5").received(), [TOO_MANY_FROM_IP])

    def test_exempt_networks_from_parse_exempt(self) -> None:
        exempt = parse_exempt(["127.0.0.0/8", "::1", "none", "10.0.0.0/8"])
        self.serve(Limits(max_per_ip=1, exempt=tuple(exempt), flood_rate=0))
        for _ in range(4):
            self.assertEqual(self.connect("10.1.2.3").received(), [PROMPT])
        self.assertEqual(self.connect("10.200.0.1").received(), [PROMPT])
        # The defaults were removed by "none".
        self.connect("127.0.0.1")
        self.assertEqual(self.connect("127.0.0.1").received(), [TOO_MANY_FROM_IP])
        self.connect("::1")
        self.assertEqual(self.connect("::1").received(), [TOO_MANY_FROM_IP])

    def test_zero_means_no_cap(self) -> None:
        self.serve(Limits(max_per_ip=0, exempt=(), flood_rate=0))
        clients = [self.connect("203.0.113.5") for _ in range(50)]
        self.assertFalse(any(c.closing for c in clients))


class ParseExemptTests(SynchronousTestCase):
    """``--exempt`` values: CIDR networks or addresses; ``none`` clears the list so far."""

    def test_none_clears_what_came_before(self) -> None:
        self.assertEqual(
            parse_exempt(["127.0.0.0/8", "::1", "none", "10.0.0.0/8"]),
            [ipaddress.ip_network("10.0.0.0/8")],
        )

    def test_none_alone_and_in_any_case(self) -> None:
        self.assertEqual(parse_exempt(["none"]), [])
        self.assertEqual(parse_exempt([*DEFAULT_EXEMPT, "NONE"]), [])
        self.assertEqual(parse_exempt([*DEFAULT_EXEMPT, " None "]), [])

    def test_defaults(self) -> None:
        self.assertEqual(
            parse_exempt(DEFAULT_EXEMPT),
            [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")],
        )
        self.assertEqual(Limits().exempt, tuple(parse_exempt(DEFAULT_EXEMPT)))

    def test_single_addresses_and_host_bits(self) -> None:
        self.assertEqual(
            parse_exempt(["::1", "192.0.2.7", "10.1.2.3/8"]),
            [
                ipaddress.ip_network("::1/128"),
                ipaddress.ip_network("192.0.2.7/32"),
                ipaddress.ip_network("10.0.0.0/8"),
            ],
        )

    def test_bad_values(self) -> None:
        for bad in ["bogus", "10.0.0.0/33", "300.1.2.3", "", "nonee"]:
            with self.assertRaises(ValueError, msg=bad):
                parse_exempt([bad])


class ConnectionCounterTests(SynchronousTestCase):
    """The per-address bookkeeping behind ``--max-per-ip`` and ``--max-clients``."""

    def test_counts_and_forgets(self) -> None:
        counter = ConnectionCounter(10, 2, [])
        counter.opened("203.0.113.5")
        counter.opened("::ffff:203.0.113.5")
        counter.opened("203.0.113.6")
        self.assertEqual((counter.total, counter.hosts()), (3, 2))
        self.assertEqual(counter.refuse_reason("203.0.113.5"), "per_ip")
        self.assertIsNone(counter.refuse_reason("203.0.113.6"))
        counter.closed("203.0.113.5")
        counter.closed("::ffff:203.0.113.5")
        counter.closed("203.0.113.6")
        self.assertEqual((counter.total, counter.hosts()), (0, 0))

    def test_server_full_before_per_ip(self) -> None:
        counter = ConnectionCounter(1, 1, [])
        counter.opened("203.0.113.5")
        self.assertEqual(counter.refuse_reason("203.0.113.5"), "server_full")
        self.assertEqual(counter.refuse_reason("203.0.113.6"), "server_full")

    def test_exemption_is_remembered_only_while_the_host_is_connected(self) -> None:
        counter = ConnectionCounter(100, 1, parse_exempt(["198.51.100.0/24"]))
        for host in ("198.51.100.7", "203.0.113.5"):
            counter.opened(host)
        self.assertIsNone(counter.refuse_reason("198.51.100.7"))  # exempt, checked once
        self.assertIsNone(counter.refuse_reason("198.51.100.7"))
        self.assertEqual(counter.refuse_reason("203.0.113.5"), "per_ip")
        counter.opened("198.51.100.7")
        for host in ("198.51.100.7", "198.51.100.7", "203.0.113.5"):
            counter.closed(host)
        self.assertEqual((counter.total, counter.hosts()), (0, 0))
        self.assertEqual(counter._exempt_hosts, {})  # nothing kept for hosts that left

    def test_no_address_is_not_limited_per_ip(self) -> None:
        counter = ConnectionCounter(10, 1, [])
        counter.opened(None)
        counter.opened(None)
        self.assertIsNone(counter.refuse_reason(None))
        self.assertEqual((counter.total, counter.hosts()), (2, 0))


class AttemptWindowTests(SynchronousTestCase):
    """Failed attempts in a sliding window: blocked after ``limit`` within ``window`` seconds."""

    def test_blocked_until_the_oldest_failure_expires(self) -> None:
        window = AttemptWindow(5, 60.0)
        for t in range(5):
            self.assertFalse(window.blocked("k", 1000.0 + t))
            window.fail("k", 1000.0 + t)
        self.assertTrue(window.blocked("k", 1004.0))
        self.assertTrue(window.blocked("k", 1059.9))
        self.assertFalse(window.blocked("k", 1060.0))
        self.assertFalse(window.blocked("other", 1004.0))

    def test_prune_bounds_memory(self) -> None:
        window = AttemptWindow(5, 60.0)
        for i in range(100):
            window.fail(f"k{i}", 0.0)
        self.assertEqual(len(window), 100)
        window.prune(61.0)
        self.assertEqual(len(window), 0)


class StatsTests(LimitsTestCase):
    """``ChatServer.stats`` counts disconnects and refusals by cause."""

    limits = Limits(
        max_clients=4, max_per_ip=1, exempt=(), max_strikes=2, login_timeout=60, flood_rate=0
    )

    def test_counters_by_cause(self) -> None:
        quitter = self.login("ana", "203.0.113.1")
        struck = self.login("bob", "203.0.113.2")
        slow = self.connect("203.0.113.3")
        self.assertEqual(self.connect("203.0.113.3").received(), [TOO_MANY_FROM_IP])
        also_slow = self.connect("203.0.113.4")
        self.assertEqual(self.connect("203.0.113.5").received(), [SERVER_FULL])
        quitter.send("/salir\r\n")
        quitter.lose()
        struck.send(LONG_LINE * 2)
        self.assertTrue(struck.closing)
        struck.lose()
        self.clock.advance(60)
        self.assertTrue(slow.closing)
        self.assertTrue(also_slow.closing)
        slow.lose()
        also_slow.lose()
        self.assertEqual(
            {k: v for k, v in self.server.stats.items() if v},
            {
                "refused_per_ip": 1,
                "refused_server_full": 1,
                "client": 1,
                "strikes": 1,
                "login_timeout": 2,
            },
        )


# -- graceful shutdown ------------------------------------------------------------------------


class ShutdownTests(LimitsTestCase):
    """``ChatServer.shutdown``: a ``* `` notice to every connection, then close; refuse new
    ones; fire when all are gone, aborting the rest after the timeout."""

    limits = Limits(flood_rate=0)

    def test_everyone_told_and_closed(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        at_prompt = self.connect()
        at_prompt.received()
        fired: list[None] = []
        self.server.shutdown(1.5).addCallback(fired.append)
        for client in (ana, bob, at_prompt):
            self.assertEqual(client.received(), [SHUTTING_DOWN])
            self.assertTrue(client.closing)
            self.assertFalse(client.aborted)
        self.assertEqual(fired, [])
        ana.lose()
        self.assertEqual(bob.received(), [])  # closing: no leave notice after the goodbye
        bob.lose()
        self.assertEqual(fired, [])
        at_prompt.lose()
        self.assertEqual(fired, [None])
        self.assertEqual(self.server.stats["shutdown"], 3)
        self.assertEqual(self.server.counter.total, 0)

    def test_new_connections_refused(self) -> None:
        ana = self.login("ana")
        self.server.shutdown(1.5)
        late = self.connect()
        self.assertEqual(late.received(), [SHUTTING_DOWN_REFUSED])
        self.assertTrue(late.closing)
        self.assertNotIn(late.protocol.session, self.server.connections)
        late.lose()
        ana.lose()
        self.assertEqual(self.server.counter.total, 0)

    def test_lines_after_the_notice_are_not_processed(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.server.shutdown(1.5)
        self.clients.drain()
        ana.send("hola\r\n/listar\r\n")
        self.assertEqual(ana.received(), [])
        self.assertEqual(bob.received(), [])

    def test_the_rest_are_aborted_after_the_timeout(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        fired: list[None] = []
        self.server.shutdown(1.5).addCallback(fired.append)
        ana.lose()
        self.clock.advance(1.4)
        self.assertFalse(bob.aborted)
        self.clock.advance(0.1)
        self.assertTrue(bob.aborted)
        self.assertFalse(ana.aborted)
        self.assertEqual(fired, [])
        bob.lose(ConnectionLost())
        self.assertEqual(fired, [None])

    def test_no_abort_when_all_closed_in_time(self) -> None:
        ana = self.login("ana")
        fired: list[None] = []
        self.server.shutdown(1.5).addCallback(fired.append)
        ana.lose()
        self.assertEqual(fired, [None])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_nobody_connected_fires_at_once(self) -> None:
        fired: list[None] = []
        d: Deferred[None] = self.server.shutdown(1.5)
        d.addCallback(fired.append)
        self.assertEqual(fired, [None])


# -- options ----------------------------------------------------------------------------------


class LimitOptionsTests(SynchronousTestCase):
    """The ``twistd chat`` options of issue 3: their defaults, values and usage errors."""

    DEFAULTS: ClassVar[dict[str, str]] = {
        "sendq": "1048576",
        "max-strikes": "10",
        "flood-rate": "10",
        "flood-burst": "20",
        "flood-kick": "10",
        "max-clients": "10000",
        "max-per-ip": "16",
        "login-timeout": "60",
        "idle-timeout": "0",
        "db-queue": "100000",
    }

    def test_defaults(self) -> None:
        options = parse()
        for name, value in self.DEFAULTS.items():
            self.assertEqual(options[name], value, name)
        limits = options.settings.limits
        self.assertEqual(limits.sendq, 1_048_576)
        self.assertEqual(limits.max_strikes, 10)
        self.assertEqual(limits.flood_rate, 10)
        self.assertEqual(limits.flood_burst, 20)
        self.assertEqual(limits.flood_kick, 10)
        self.assertEqual(limits.max_clients, 10_000)
        self.assertEqual(limits.max_per_ip, 16)
        self.assertEqual(
            limits.exempt,
            (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")),
        )
        self.assertEqual(limits.login_timeout, 60)
        self.assertEqual(limits.idle_timeout, 0)
        self.assertEqual(options.settings.database.queue, 100_000)
        self.assertEqual(limits, Limits())

    def test_values(self) -> None:
        options = parse(
            "--sendq=4096",
            "--max-strikes=3",
            "--flood-rate=2.5",
            "--flood-burst=5",
            "--flood-kick=30",
            "--max-clients=100",
            "--max-per-ip=4",
            "--login-timeout=15",
            "--idle-timeout=300",
            "--db-queue=50",
        )
        self.assertEqual(
            options.settings.limits,
            Limits(
                sendq=4096,
                max_strikes=3,
                flood_rate=2.5,
                flood_burst=5,
                flood_kick=30,
                max_clients=100,
                max_per_ip=4,
                login_timeout=15,
                idle_timeout=300,
            ),
        )
        self.assertEqual(options.settings.database.queue, 50)

    def test_zero_turns_off(self) -> None:
        limits = parse(
            "--max-strikes=0",
            "--flood-rate=0",
            "--flood-kick=0",
            "--max-clients=0",
            "--max-per-ip=0",
            "--login-timeout=0",
            "--idle-timeout=0",
        ).settings.limits
        self.assertEqual(
            (
                limits.max_strikes,
                limits.flood_rate,
                limits.flood_kick,
                limits.max_clients,
                limits.max_per_ip,
                limits.login_timeout,
                limits.idle_timeout,
            ),
            (0, 0, 0, 0, 0, 0, 0),
        )

    def test_exempt_adds_to_the_default(self) -> None:
        limits = parse("--exempt", "10.0.0.0/8", "--exempt", "2001:db8::/32").settings.limits
        self.assertEqual(
            limits.exempt,
            tuple(
                ipaddress.ip_network(n)
                for n in ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "2001:db8::/32"]
            ),
        )

    def test_exempt_none_removes_the_default(self) -> None:
        self.assertEqual(parse("--exempt", "none").settings.limits.exempt, ())
        self.assertEqual(
            parse("--exempt", "none", "--exempt", "10.0.0.0/8").settings.limits.exempt,
            (ipaddress.ip_network("10.0.0.0/8"),),
        )

    def test_bad_values_are_usage_errors(self) -> None:
        bad = {
            "sendq": ["0", "-1", "abc", "1.5", ""],
            "max-strikes": ["-1", "x", "2.5"],
            "flood-rate": ["-1", "x", "nan", "inf", "1e400"],
            "flood-burst": ["0", "-3", "x"],
            "flood-kick": ["-1", "nan", "x"],
            "max-clients": ["-1", "x", "1.5"],
            "max-per-ip": ["-1", "x"],
            "login-timeout": ["-1", "x", "nan"],
            "idle-timeout": ["-5", "x", "inf"],
            "db-queue": ["0", "-1", "x"],
            "exempt": ["bogus", "10.0.0.0/33", "300.1.2.3"],
        }
        for name, values in bad.items():
            for value in values:
                with self.assertRaises(UsageError, msg=f"--{name}={value}") as caught:
                    parse(f"--{name}={value}")
                self.assertIn(f"--{name}", str(caught.exception))


# -- new limits while running (a configuration reload) -----------------------------------------


class UseLimitsTests(LimitsTestCase):
    """``ChatServer.use_limits``: new and open connections get the new limits."""

    limits = Limits(flood_rate=0, max_per_ip=2, login_timeout=0, max_strikes=0)

    def test_flood_control_turned_on_for_open_connections(self) -> None:
        ana, bob = self.login("ana"), self.login("bob")
        self.server.use_limits(Limits(flood_rate=1, flood_burst=2, max_per_ip=2))
        ana.send(numbered(3))
        self.assertEqual(bob.received(), ["<ana> m0", "<ana> m1"])
        self.assertEqual(ana.received(), [FLOOD_DROPPED.replace("10", "1")])
        self.server.use_limits(Limits(flood_rate=0, max_per_ip=2))
        ana.send(numbered(30))
        self.assertEqual(len(bob.received()), 30)

    def test_per_ip_limit_for_new_connections_only(self) -> None:
        ana = self.login("ana", "203.0.113.7")
        bob = self.login("bob", "203.0.113.7")
        self.server.use_limits(Limits(flood_rate=0, max_per_ip=1, login_timeout=0))
        carol = self.connect("203.0.113.7")
        self.assertEqual(carol.received(), [TOO_MANY_FROM_IP])
        self.assertFalse(ana.closing or bob.closing)
        self.server.use_limits(Limits(flood_rate=0, max_per_ip=3, login_timeout=0))
        dora = self.connect("203.0.113.7")
        self.assertEqual(dora.received(), [PROMPT])

    def test_idle_timeout_turned_on_and_off(self) -> None:
        ana = self.login("ana")
        self.clock.advance(100)
        self.server.use_limits(Limits(flood_rate=0, idle_timeout=30, login_timeout=0))
        self.clock.advance(29)
        self.assertFalse(ana.closing)  # counted from the change, not from the login
        self.server.use_limits(Limits(flood_rate=0, idle_timeout=0, login_timeout=0))
        self.clock.advance(300)
        self.assertFalse(ana.closing)
        self.server.use_limits(Limits(flood_rate=0, idle_timeout=10, login_timeout=0))
        self.clock.advance(10)
        self.assertEqual(ana.received(), [IDLE_TIMEOUT])
        self.assertTrue(ana.closing)
