"""Unit tests of operators (issue 10 §4): who is one, the operator-only flag of the command
table, kicks, mutes, bans (of nicknames and networks, timed and permanent, stored first),
announcements, the disconnect causes in the factory's stats, and the operators' log.

The real :class:`ChatCore`, :class:`ChatServer`, :class:`Accounts` and :class:`Bans` run over
in-memory storage doubles and a ``Clock``; the real ``baneos`` table is tested on SQLite and
MariaDB in ``test_storage_bans.py``.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase

from tests.support.accounts import (
    ANA_PASSWORD,
    BOB_PASSWORD,
    CountingHasher,
    MemoryAccountStorage,
    ThreadRunner,
)
from tests.support.expected import (
    ADDRESS_BANNED,
    AYUDA,
    AYUDA_OPERATORS,
    NO_BANS,
    NOT_YOURSELF,
    PROMPT,
    STARTING_UP,
    TRY_LATER,
    USAGE_ANUNCIO,
    USAGE_BANEAR,
    USAGE_DESBANEAR,
    USAGE_EXPULSAR,
    USAGE_SILENCIAR,
    announcement,
    ban_done,
    ban_lifted,
    ban_line,
    ban_not_found,
    banned_now,
    bans_header,
    kick_done,
    kicked,
    left,
    mute_done,
    mute_lifted,
    muted,
    nick_banned,
    offline,
    operators_only,
    unknown_command,
    username,
    welcome,
)
from tests.support.fakes import EPOCH, Client, Clients, tcp_factory
from tests.support.logs import record_logs
from twisted_chat import nicknames
from twisted_chat.assembly import assemble
from twisted_chat.bans import Ban, Bans, parse_target
from twisted_chat.limits import Limits
from twisted_chat.operators import parse_minutes, remaining
from twisted_chat.room import format_time
from twisted_chat.text import SPANISH
from twisted_chat.userinfo import UserInfo, describe


def session_of(client: Any) -> Any:
    """The session of a test connection (logged in or at the prompt)."""
    session = client.protocol.session
    assert session is not None
    return session


class BanStorageDown(Exception):
    """Raised by :class:`MemoryBanStorage` while it is unavailable."""


class MemoryBanStorage:
    """A ``BanStorage`` double: bans in a dict; ``available = False`` is an outage."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], Ban] = {}
        self.available = True
        self.loads = 0
        self.pruned: list[float] = []

    def load_bans(self, now: float) -> Deferred[list[Ban]]:
        """The bans in force at ``now``."""
        self.loads += 1
        if not self.available:
            return fail(BanStorageDown("load: database unavailable"))
        return succeed([b for b in self.rows.values() if not b.expired(now)])

    def save_ban(self, ban: Ban) -> Deferred[None]:
        """Create or replace the ban of ``ban.target``."""
        if not self.available:
            return fail(BanStorageDown("save: database unavailable"))
        self.rows[ban.key] = ban
        return succeed(None)

    def delete_ban(self, kind: str, target: str) -> Deferred[None]:
        """Remove the ban of ``target``."""
        if not self.available:
            return fail(BanStorageDown("delete: database unavailable"))
        self.rows.pop((kind, target), None)
        return succeed(None)

    def delete_expired(self, now: float) -> Deferred[None]:
        """Remove the bans expired by ``now``."""
        self.pruned.append(now)
        for key, ban in list(self.rows.items()):
            if ban.expired(now):
                del self.rows[key]
        return succeed(None)


class OperatorTestCase(SynchronousTestCase):
    """Base: ``ana`` (registered, an operator), ``bob`` (registered, not named), ``carol``
    (named, not registered); clients from any address."""

    operators = ("ana", "carol")

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(EPOCH.timestamp())
        self.account_storage = MemoryAccountStorage()
        hasher = CountingHasher()
        for nickname, password in (("ana", ANA_PASSWORD), ("bob", BOB_PASSWORD)):
            key = nicknames.key(nickname)
            self.account_storage.rows[key] = (nickname, hasher.hash(password), EPOCH)
        self.accounts = self._accounts(hasher)
        self.storage = MemoryBanStorage()
        self.bans = Bans(self.storage, self.clock)
        self.bans.load()
        self.parts = assemble(
            SPANISH,
            self.clock,
            accounts=self.accounts,
            bans=self.bans,
            operators=self.operators,
            limits=Limits(flood_rate=0, max_strikes=0, max_per_ip=0, login_timeout=0),
        )
        self.chat = self.parts.core
        self.server = self.parts.server
        self.factory = tcp_factory(self.parts)
        self.clients = Clients()

    def _accounts(self, hasher: CountingHasher) -> Any:
        from twisted_chat.accounts import Accounts

        accounts = Accounts(self.account_storage, self.clock, ThreadRunner(), hasher=hasher)
        accounts.load()
        return accounts

    def connect(self, host: str | None = None) -> Client:
        """A new connection at the prompt (its prompt already read)."""
        client = self.clients.connect(self.factory, host)
        self.assertEqual(client.received(), [PROMPT])
        return client

    def login(self, line: str, host: str | None = None) -> Client:
        """A new connection logged in with the nickname line ``line``; every output cleared."""
        client = self.connect(host)
        client.send(line + "\r\n")
        lines = client.received()
        if not lines or lines[0] != welcome(line.split()[0]):
            raise AssertionError(f"login with {line!r} failed: {lines!r}")
        self.clients.drain()
        return client

    def operator(self, host: str | None = None) -> Client:
        """``ana``, logged in with her password: an operator."""
        return self.login(f"ana {ANA_PASSWORD}", host)

    def say(self, client: Client, line: str) -> list[str]:
        """Send ``line``; what ``client`` got for it."""
        client.send(line + "\r\n")
        return client.received()


class WhoIsAnOperatorTests(OperatorTestCase):
    """A registered ``--operator`` nickname logged in with its password, and nobody else."""

    def test_a_named_registered_nickname_with_its_password(self) -> None:
        ana = self.operator()
        self.assertTrue(self.chat.operators.is_operator(session_of(ana)))
        self.assertEqual(self.say(ana, "/baneos"), [NO_BANS])

    def test_what_other_nodes_are_told_of_them(self) -> None:
        # The account and operator flag a cluster carries (twisted_chat/userinfo.py): the
        # operator is one while its nickname is its account, wherever that is read.
        ana = describe(session_of(self.operator()), self.chat.operators)
        self.assertEqual(ana, UserInfo(account="ana", operator=True))
        self.assertTrue(ana.is_operator("Ana"))
        self.assertFalse(ana.is_operator("ana2"))
        self.assertFalse(ana.logged_in("ana2"))
        bob = describe(session_of(self.login(f"bob {BOB_PASSWORD}")), self.chat.operators)
        self.assertEqual(bob, UserInfo(account="bob"))
        self.assertEqual(describe(session_of(self.login("carol")), self.chat.operators), UserInfo())

    def test_not_named(self) -> None:
        bob = self.login(f"bob {BOB_PASSWORD}")
        self.assertFalse(self.chat.operators.is_operator(session_of(bob)))
        self.assertEqual(self.say(bob, "/baneos"), [operators_only("baneos")])

    def test_named_but_not_registered(self) -> None:
        carol = self.login("carol")
        self.assertFalse(self.chat.operators.is_operator(session_of(carol)))
        self.assertEqual(self.say(carol, "/KICK ana"), [operators_only("kick")])

    def test_named_registered_later_is_not_one_until_it_logs_in_with_the_password(self) -> None:
        carol = self.login("carol")
        self.say(carol, "/registrar Clave-carol3")
        self.assertFalse(self.chat.operators.is_operator(session_of(carol)))
        carol.lose()
        carol = self.login("carol Clave-carol3")
        self.assertTrue(self.chat.operators.is_operator(session_of(carol)))

    def test_acting_as_an_operator_while_connected_and_named(self) -> None:
        operators = self.chat.operators
        bob = self.login(f"bob {BOB_PASSWORD}")
        session = session_of(bob)
        operators.act_as(session, "ANA")  # IRC's OPER, once ana's password was checked
        self.assertTrue(operators.is_operator(session))
        self.assertEqual(self.say(bob, "/baneos"), [NO_BANS])
        operators.use(["carol"])  # ana is no operator any more: nor is whoever acts as her
        self.assertFalse(operators.is_operator(session))
        operators.use(["ana"])
        operators.act_as(session, "bob")  # not named: nothing
        self.assertFalse(operators.is_operator(session))
        operators.act_as(session, "ana")
        operators.forget(session)
        self.assertFalse(operators.is_operator(session))

    def test_operator_names_are_case_and_nfc_insensitive(self) -> None:
        self.parts = assemble(
            SPANISH,
            self.clock,
            accounts=self.accounts,
            operators=["ANA"],
            limits=Limits(flood_rate=0, max_per_ip=0),
        )
        self.chat = self.parts.core
        self.factory = tcp_factory(self.parts)
        ana = self.login(f"Ana {ANA_PASSWORD}")
        self.assertTrue(self.chat.operators.is_operator(session_of(ana)))

    def test_every_operator_command_is_refused_to_others_with_one_line(self) -> None:
        bob = self.login(f"bob {BOB_PASSWORD}")
        dave = self.login("dave")
        for line in [
            "/expulsar dave",
            "/kick dave spam",
            "/silenciar dave 5",
            "/mute dave 5",
            "/banear dave",
            "/ban 10.0.0.0/8",
            "/desbanear dave",
            "/unban dave",
            "/baneos",
            "/bans",
            "/anuncio hola",
            "/announce hola",
        ]:
            name = line.split()[0][1:].lower()
            self.assertEqual(self.say(bob, line), [operators_only(name)], line)
        self.assertEqual(dave.received(), [])
        self.assertFalse(dave.closing)
        self.assertEqual(self.storage.rows, {})

    def test_unknown_commands_are_still_unknown(self) -> None:
        ana = self.operator()
        self.assertEqual(self.say(ana, "/nada"), [unknown_command("nada")])

    def test_ayuda_lists_operator_commands_to_operators_only(self) -> None:
        bob = self.login(f"bob {BOB_PASSWORD}")
        self.assertEqual(self.say(bob, "/ayuda"), AYUDA)
        ana = self.operator()
        self.assertEqual(self.say(ana, "/ayuda"), [*AYUDA[:-1], *AYUDA_OPERATORS, AYUDA[-1]])

    def test_leaving_forgets_the_password_login(self) -> None:
        ana = self.operator()
        ana.lose()
        self.assertEqual(self.chat.operators._accounts, {})


class KickTests(OperatorTestCase):
    """``/expulsar NICK [MOTIVO]`` | ``/kick``."""

    def test_kick_with_a_reason(self) -> None:
        ana = self.operator()
        bob = self.login("dave")
        eve = self.login("eve")
        self.assertEqual(self.say(ana, "/expulsar DAVE  sigue   con spam "), [kick_done("dave")])
        self.assertEqual(bob.received(), [kicked("ana", "sigue   con spam")])
        self.assertTrue(bob.closing)
        bob.lose()
        self.assertEqual(eve.received(), [left("dave")])
        self.assertEqual(ana.received(), [left("dave")])
        self.assertEqual(self.server.stats["kicked"], 1)

    def test_kick_without_a_reason(self) -> None:
        ana = self.operator()
        dave = self.login("dave")
        self.assertEqual(self.say(ana, "/kick dave"), [kick_done("dave")])
        self.assertEqual(dave.received(), [kicked("ana")])

    def test_refusals(self) -> None:
        ana = self.operator()
        self.assertEqual(self.say(ana, "/expulsar"), [USAGE_EXPULSAR])
        self.assertEqual(self.say(ana, "/expulsar 1dave"), [USAGE_EXPULSAR])
        self.assertEqual(self.say(ana, "/expulsar dave"), [offline("dave")])
        self.assertEqual(self.say(ana, "/expulsar Ana"), [NOT_YOURSELF])
        self.assertFalse(ana.closing)


class MuteTests(OperatorTestCase):
    """``/silenciar NICK MINUTOS`` | ``/mute``: public and private messages refused."""

    def test_mute_refuses_messages_not_commands(self) -> None:
        ana = self.operator()
        dave = self.login("dave")
        eve = self.login("eve")
        self.assertEqual(self.say(ana, "/silenciar dave 5"), [mute_done("dave", 5)])
        self.assertEqual(self.say(dave, "hola"), [muted("5 min")])
        self.assertEqual(self.say(dave, "#eve hola"), [muted("5 min")])
        self.assertEqual(eve.received(), [])
        self.assertEqual(self.say(dave, "/username"), [username("dave")])
        self.assertEqual(self.say(dave, "   "), [])  # blank lines: still no reply
        self.clock.advance(4 * 60 + 20)
        self.assertEqual(self.say(dave, "hola"), [muted("40 s")])
        self.clock.advance(40)
        self.assertEqual(self.say(dave, "hola"), [])
        self.assertEqual(eve.received(), ["<dave> hola"])

    def test_mute_outlives_a_reconnection(self) -> None:
        ana = self.operator()
        dave = self.login("dave")
        self.say(ana, "/mute dave 1")
        dave.lose()
        dave = self.login("Dave")
        self.assertEqual(self.say(dave, "hola"), [muted("1 min")])

    def test_zero_lifts_it(self) -> None:
        ana = self.operator()
        dave = self.login("dave")
        eve = self.login("eve")
        self.say(ana, "/silenciar dave 10")
        self.assertEqual(self.say(ana, "/silenciar dave 0"), [mute_lifted("dave")])
        self.assertEqual(self.say(dave, "hola"), [])
        self.assertEqual(eve.received(), ["<dave> hola"])

    def test_refusals(self) -> None:
        ana = self.operator()
        self.login("dave")
        for line in [
            "/silenciar",
            "/silenciar dave",
            "/silenciar dave x",
            "/silenciar dave -1",
            "/silenciar dave 1.5",
            "/silenciar dave ²",
            "/silenciar dave 5 más",
            "/silenciar 1dave 5",
        ]:
            self.assertEqual(self.say(ana, line), [USAGE_SILENCIAR], line)
        self.assertEqual(self.say(ana, "/silenciar eve 5"), [offline("eve")])
        self.assertEqual(self.say(ana, "/silenciar ana 5"), [NOT_YOURSELF])

    def test_expired_mutes_are_pruned(self) -> None:
        ana = self.operator()
        self.login("dave")
        self.say(ana, "/silenciar dave 1")
        self.assertTrue(self.chat.room.mutes)
        self.clock.advance(61)
        self.chat.room.prune_mutes(self.clock.seconds())
        self.assertFalse(self.chat.room.mutes)


class BanNicknameTests(OperatorTestCase):
    """``/banear NICK [MINUTOS] [MOTIVO]`` | ``/ban``, ``/desbanear`` | ``/unban``,
    ``/baneos`` | ``/bans``."""

    def test_a_ban_disconnects_the_user_and_refuses_its_logins(self) -> None:
        ana = self.operator()
        dave = self.login("dave")
        eve = self.login("eve")
        self.assertEqual(self.say(ana, "/banear Dave insultos"), [ban_done("Dave")])
        self.assertEqual(dave.received(), [banned_now("ana", "insultos")])
        self.assertTrue(dave.closing)
        dave.lose()
        self.assertEqual(eve.received(), [left("dave")])
        self.assertEqual(self.server.stats["banned"], 1)
        self.assertEqual(list(self.storage.rows), [("nick", "dave")])
        # Refused at login with one line, and the connection stays at the prompt.
        again = self.connect()
        self.assertEqual(self.say(again, "DAVE"), [nick_banned("DAVE")])
        self.assertFalse(again.closing)
        self.assertEqual(self.say(again, "dave2"), [welcome("dave2")])

    def test_a_timed_ban_expires_by_itself(self) -> None:
        ana = self.operator()
        until = format_time(self.clock.seconds() + 30 * 60)
        self.assertEqual(self.say(ana, "/ban dave 30 flood"), [ban_done("dave", f"hasta {until}")])
        self.assertEqual(
            self.say(ana, "/bans"),
            [bans_header(1), ban_line("dave", "ana", "flood", f"hasta {until}")],
        )
        client = self.connect()
        self.assertEqual(self.say(client, "dave"), [nick_banned("dave", f"hasta {until}")])
        self.clock.advance(30 * 60)
        self.assertEqual(self.say(client, "dave"), [welcome("dave")])
        self.clients.drain()
        self.assertEqual(self.say(ana, "/bans"), [NO_BANS])
        self.bans.prune()
        self.assertEqual(self.storage.rows, {})

    def test_unban(self) -> None:
        ana = self.operator()
        self.say(ana, "/banear dave")
        self.assertEqual(self.say(ana, "/desbanear DAVE"), [ban_lifted("DAVE")])
        self.assertEqual(self.storage.rows, {})
        self.assertEqual(self.say(ana, "/unban dave"), [ban_not_found("dave")])
        self.assertEqual(self.say(self.connect(), "dave"), [welcome("dave")])

    def test_listing(self) -> None:
        ana = self.operator()
        self.say(ana, "/banear zoe")
        self.say(ana, "/banear 10.1.2.3 proxy abierto")
        self.say(ana, "/banear bob 5")
        until = format_time(self.clock.seconds() + 300)
        self.assertEqual(
            self.say(ana, "/baneos"),
            [
                bans_header(3),
                ban_line("10.1.2.3/32", "ana", "proxy abierto"),
                ban_line("bob", "ana", until=f"hasta {until}"),
                ban_line("zoe", "ana"),
            ],
        )

    def test_a_second_ban_replaces_the_first(self) -> None:
        ana = self.operator()
        self.say(ana, "/banear dave 5")
        self.say(ana, "/banear dave para siempre")
        self.assertEqual(
            self.say(ana, "/baneos"), [bans_header(1), ban_line("dave", "ana", "para siempre")]
        )

    def test_usage_and_refusals(self) -> None:
        ana = self.operator()
        for line in [
            "/banear",
            "/banear 1dave",
            "/banear 300.1.2.3",
            "/banear 10.0.0.0/33",
            "/banear dave 0",
            "/banear dave 5x motivo",
        ]:
            self.assertEqual(self.say(ana, line), [USAGE_BANEAR], line)
        for line in ["/desbanear", "/desbanear a b", "/desbanear ::g"]:
            self.assertEqual(self.say(ana, line), [USAGE_DESBANEAR], line)
        self.assertEqual(self.say(ana, "/banear ANA"), [NOT_YOURSELF])
        self.assertEqual(self.storage.rows, {})

    def test_the_database_unavailable(self) -> None:
        ana = self.operator()
        dave = self.login("dave")
        self.storage.available = False
        self.assertEqual(self.say(ana, "/banear dave"), [TRY_LATER])
        self.assertEqual(dave.received(), [])
        self.assertFalse(dave.closing)
        self.assertIsNone(self.bans.nick_ban("dave"))
        self.storage.available = True
        self.say(ana, "/banear dave")
        self.storage.available = False
        self.assertEqual(self.say(ana, "/desbanear dave"), [TRY_LATER])
        self.assertIsNotNone(self.bans.nick_ban("dave"))

    def test_bans_survive_a_restart(self) -> None:
        ana = self.operator()
        self.say(ana, "/banear dave")
        bans = Bans(self.storage, self.clock)
        bans.load()
        self.assertIsNotNone(bans.nick_ban("Dave"))


class BanNetworkTests(OperatorTestCase):
    """Bans of an address or a network: refused at connect, connected users disconnected."""

    def test_a_banned_address_gets_one_line_and_is_closed(self) -> None:
        ana = self.operator(host="192.0.2.1")
        self.assertEqual(self.say(ana, "/banear 203.0.113.0/24 bots"), [ban_done("203.0.113.0/24")])
        client = self.clients.connect(self.factory, "203.0.113.77")
        self.assertEqual(client.received(), [ADDRESS_BANNED])
        self.assertTrue(client.closing)
        self.assertEqual(self.server.stats["banned"], 1)
        self.assertEqual(self.server.counter.total, 1)  # only ana's connection is counted
        other = self.clients.connect(self.factory, "203.0.114.1")
        self.assertEqual(other.received(), [PROMPT])

    def test_connected_users_in_the_network_are_disconnected(self) -> None:
        ana = self.operator(host="192.0.2.1")
        dave = self.login("dave", host="2001:db8::5")
        waiting = self.connect(host="2001:db8::6")
        eve = self.login("eve", host="198.51.100.200")
        self.assertEqual(self.say(ana, "/ban 2001:db8::/32"), [ban_done("2001:db8::/32")])
        self.assertEqual(dave.received(), [banned_now("ana")])
        self.assertTrue(dave.closing)
        self.assertEqual(eve.received(), [])
        # A connection at the prompt is closed at its next nickname line.
        self.assertEqual(self.say(waiting, "fred"), [ADDRESS_BANNED])
        self.assertTrue(waiting.closing)

    def test_ipv4_mapped_addresses_are_the_ipv4_address(self) -> None:
        ana = self.operator(host="192.0.2.1")
        self.say(ana, "/banear ::ffff:203.0.113.9")
        self.assertEqual(self.say(ana, "/baneos")[1:], [ban_line("203.0.113.9/32", "ana")])
        client = self.clients.connect(self.factory, "::ffff:203.0.113.9")
        self.assertEqual(client.received(), [ADDRESS_BANNED])

    def test_an_operator_cannot_ban_its_own_address(self) -> None:
        ana = self.operator(host="192.0.2.1")
        self.assertEqual(self.say(ana, "/banear 192.0.2.0/24"), [NOT_YOURSELF])


class AnnounceTests(OperatorTestCase):
    """``/anuncio TEXTO`` | ``/announce``: a ``* `` notice to every user."""

    def test_everyone_gets_it(self) -> None:
        ana = self.operator()
        dave = self.login("dave")
        prompt = self.connect()
        self.assertEqual(
            self.say(ana, "/anuncio  reinicio a las 10 "),
            [announcement("ana", "reinicio a las 10")],
        )
        self.assertEqual(dave.received(), [announcement("ana", "reinicio a las 10")])
        self.assertEqual(prompt.received(), [])

    def test_usage(self) -> None:
        ana = self.operator()
        self.assertEqual(self.say(ana, "/announce   "), [USAGE_ANUNCIO])


class LogTests(OperatorTestCase):
    """Every operator action is logged at info level: who, what, on whom, why."""

    def test_actions_are_logged_with_fields(self) -> None:
        ana = self.operator()
        self.login("dave")
        self.login("eve")
        events = record_logs(self)
        self.say(ana, "/silenciar eve 3")
        self.say(ana, "/expulsar dave spam")
        self.say(ana, "/banear 10.0.0.0/8 red")
        self.say(ana, "/desbanear 10.0.0.0/8")
        self.say(ana, "/anuncio hola")
        actions = [
            (e["operator"], e["action"], e["target"], e["reason"])
            for e in events.events
            if "action" in e and e.get("log_level") == LogLevel.info
        ]
        self.assertEqual(
            actions,
            [
                ("ana", "mute", "eve", "3 min"),
                ("ana", "kick", "dave", "spam"),
                ("ana", "ban", "net 10.0.0.0/8 (permanente)", "red"),
                ("ana", "unban", "net 10.0.0.0/8", ""),
                ("ana", "announce", "everyone", "hola"),
            ],
        )


class StartUpTests(OperatorTestCase):
    """Until the bans are loaded nobody logs in (a banned nickname could); loading retries."""

    def test_no_logins_until_the_bans_are_loaded(self) -> None:
        self.storage.available = False
        self.bans = Bans(self.storage, self.clock)
        self.bans.load()
        self.parts = assemble(
            SPANISH,
            self.clock,
            accounts=self.accounts,
            bans=self.bans,
            limits=Limits(flood_rate=0, max_per_ip=0),
        )
        self.chat = self.parts.core
        self.server = self.parts.server
        self.factory = tcp_factory(self.parts)
        client = self.connect()
        self.assertEqual(self.say(client, "dave"), [STARTING_UP])
        self.storage.available = True
        self.clock.advance(0.5)
        self.assertTrue(self.bans.loaded)
        self.assertEqual(self.say(client, "dave"), [welcome("dave")])
        self.flushLoggedErrors(BanStorageDown)


class ParsingTests(SynchronousTestCase):
    """NICK, IP and CIDR for ``/banear``; MINUTOS; the time left."""

    def test_targets(self) -> None:
        self.assertEqual(parse_target("Dave"), ("nick", "dave"))
        self.assertEqual(parse_target("José"), ("nick", "josé"))
        self.assertEqual(parse_target("10.1.2.3"), ("net", "10.1.2.3/32"))
        self.assertEqual(parse_target("10.1.2.3/8"), ("net", "10.0.0.0/8"))
        self.assertEqual(parse_target("2001:DB8::1"), ("net", "2001:db8::1/128"))
        self.assertEqual(parse_target("::ffff:10.0.0.0/104"), ("net", "10.0.0.0/8"))
        for bad in ["1dave", "10.0.0", "10.0.0.0/40", "::g", "a.b", "", "-x"]:
            self.assertIsNone(parse_target(bad), bad)

    def test_minutes(self) -> None:
        self.assertEqual(parse_minutes("5", allow_zero=False), 5)
        self.assertEqual(parse_minutes("0", allow_zero=True), 0)
        for bad in ["0", "-1", "1.5", "²", "", "x", "99999999999"]:
            self.assertIsNone(parse_minutes(bad, allow_zero=False), bad)

    def test_remaining(self) -> None:
        self.assertEqual(remaining(300), "5 min")
        self.assertEqual(remaining(61), "2 min")
        self.assertEqual(remaining(59.2), "60 s")
        self.assertEqual(remaining(0.1), "1 s")
