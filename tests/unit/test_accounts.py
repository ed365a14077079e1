"""Unit tests of registered nicknames (issue 3, item 7): ``/registrar``, ``NICK PASSWORD`` logins,
``/password``, failed-attempt limits, storage outages, held lines and password-free logs.

The real :class:`Accounts`, :class:`ChatCore` and :class:`ChatServer` run over an in-memory
storage double that a test can switch off, a thread runner that runs the function at once (or,
for races, when the test says so), a cheap argon2 hasher (those three in
:mod:`tests.support.accounts`) and a ``Clock``. Real SQLite and MariaDB storage of ``cuentas`` is
tested elsewhere.
"""

from __future__ import annotations

from typing import ClassVar

from argon2 import PasswordHasher
from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tests.support.accounts import (
    ANA_PASSWORD,
    BOB_PASSWORD,
    AccountStorageDown,
    CountingHasher,
    MemoryAccountStorage,
    ThreadRunner,
)
from tests.support.expected import (
    LOGIN_REFUSED,
    NOT_REGISTERED,
    PASSWORD_CHANGED,
    PASSWORD_LENGTH,
    PROMPT,
    STARTING_UP,
    TRY_LATER,
    USAGE_PASSWORD,
    USAGE_REGISTRAR,
    WRONG_PASSWORD,
    already_registered,
    joined,
    left,
    password_needed,
    registered,
    taken,
    welcome,
)
from tests.support.fakes import EPOCH, Client, Clients, tcp_factory
from tests.support.logs import record_logs
from twisted_chat import nicknames
from twisted_chat.accounts import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    AccountError,
    Accounts,
    LoginCheck,
)
from twisted_chat.assembly import assemble
from twisted_chat.irc.commands import IrcCommands
from twisted_chat.irc.protocol import IrcFactory
from twisted_chat.limits import Limits
from twisted_chat.text import ENGLISH, SPANISH


class AccountsTestCase(SynchronousTestCase):
    """Base: ``ana`` and ``bob`` registered (loaded at start-up), a chat with accounts, clients
    from any address."""

    seed: ClassVar[dict[str, str]] = {"ana": ANA_PASSWORD, "bob": BOB_PASSWORD}

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(EPOCH.timestamp())
        self.storage = MemoryAccountStorage()
        self.hasher = CountingHasher()
        for nickname, password in self.seed.items():
            self.storage.rows[nicknames.key(nickname)] = (
                nickname,
                self.hasher.hash(password),
                EPOCH,
            )
        self.hasher.hashed = 0
        self.runner = ThreadRunner()
        self.accounts = Accounts(self.storage, self.clock, self.runner, hasher=self.hasher)
        self.accounts.load()
        self.parts = assemble(
            SPANISH,
            self.clock,
            accounts=self.accounts,
            limits=Limits(flood_rate=0, max_strikes=0, max_per_ip=0, login_timeout=0),
        )
        self.chat = self.parts.core
        self.server = self.parts.server
        self.factory = tcp_factory(self.parts)
        self.clients = Clients()

    def connect(self, host: str | None = None) -> Client:
        """A new connection at the prompt (its prompt already read)."""
        client = self.clients.connect(self.factory, host)
        self.assertEqual(client.received(), [PROMPT])
        return client

    def login(self, line: str, host: str | None = None) -> Client:
        """A new connection logged in with the nickname line ``line``; output then cleared."""
        client = self.connect(host)
        client.send(line + "\r\n")
        lines = client.received()
        nickname = line.split()[0]
        if not lines or lines[0] != welcome(nickname):
            raise AssertionError(f"login with {line!r} failed: {lines!r}")
        self.clients.drain()
        return client

    def attempt(self, line: str, host: str | None = None) -> list[str]:
        """What a new connection from ``host`` receives for the nickname line ``line``."""
        client = self.connect(host)
        client.send(line + "\r\n")
        return client.received()


class RegisterTests(AccountsTestCase):
    """``/registrar PASSWORD`` | ``/register PASSWORD`` store an argon2 hash, not the password."""

    def test_registrar_stores_an_argon2_hash(self) -> None:
        carol = self.login("carol")
        carol.send("/registrar Clave-carol3\r\n")
        self.assertEqual(carol.received(), [registered("carol")])
        [(nickname, stored, when)] = self.storage.saves
        self.assertEqual(nickname, "carol")
        self.assertTrue(stored.startswith("$argon2id$"), stored)
        self.assertNotIn("Clave-carol3", stored)
        self.assertTrue(PasswordHasher().verify(stored, "Clave-carol3"))
        self.assertEqual(when, EPOCH)
        self.assertTrue(self.accounts.is_registered("CAROL"))
        self.assertEqual(self.hasher.hashed, 1)
        self.assertFalse(carol.closing)

    def test_register_alias(self) -> None:
        carol = self.login("carol")
        carol.send("/register Clave-carol3\r\n")
        self.assertEqual(carol.received(), [registered("carol")])
        self.assertEqual(len(self.storage.saves), 1)

    def test_the_nickname_is_protected_from_then_on(self) -> None:
        carol = self.login("carol")
        carol.send("/registrar Clave-carol3\r\n")
        carol.lose()
        self.assertEqual(self.attempt("carol"), [password_needed("carol")])
        self.assertEqual(self.attempt("carol Otra-cosa9"), [LOGIN_REFUSED])
        self.assertEqual(self.attempt("carol Clave-carol3")[0], welcome("carol"))

    def test_the_others_are_told_nothing(self) -> None:
        dave = self.login("dave")
        carol = self.login("carol")
        carol.send("/registrar Clave-carol3\r\n")
        self.assertEqual(dave.received(), [])

    def test_usage_errors(self) -> None:
        carol = self.login("carol")
        for line in ["/registrar", "/registrar   ", "/registrar una dos", "/register a b c"]:
            carol.send(line + "\r\n")
            self.assertEqual(carol.received(), [USAGE_REGISTRAR], line)
        self.assertEqual(self.storage.saves, [])
        self.assertFalse(self.accounts.is_registered("carol"))

    def test_password_length(self) -> None:
        carol = self.login("carol")
        for password in ["abc", "x" * (MAX_PASSWORD_LENGTH + 1)]:
            carol.send(f"/registrar {password}\r\n")
            self.assertEqual(carol.received(), [PASSWORD_LENGTH])
        self.assertEqual(self.storage.saves, [])
        carol.send(f"/registrar {'x' * MAX_PASSWORD_LENGTH}\r\n")
        self.assertEqual(carol.received(), [registered("carol")])

    def test_long_passwords_since_version_1_3(self) -> None:
        """Passwords of up to 1000 characters (docs/PROTOCOL.md, "Version 1.3"): registered
        from a line, logged in with, changed to; the minimum of 4 stays."""
        self.assertEqual(MAX_PASSWORD_LENGTH, 1000)
        self.assertEqual(MIN_PASSWORD_LENGTH, 4)
        long = "ñ" + "Lp-9" * 150  # 601 characters, 602 bytes: as long as irctest's
        carol = self.login("carol")
        carol.send(f"/registrar {long}\r\n")
        self.assertEqual(carol.received(), [registered("carol")])
        carol.lose()
        self.assertEqual(self.attempt(f"carol {long[:-1]}"), [LOGIN_REFUSED])
        self.assertEqual(self.attempt(f"carol {long}")[0], welcome("carol"))
        ana = self.login(f"ana {ANA_PASSWORD}")
        ana.send(f"/password {ANA_PASSWORD} {'a' * 900}\r\n")
        self.assertEqual(ana.received(), [PASSWORD_CHANGED])
        ana.lose()
        self.assertEqual(self.attempt(f"ana {'a' * 900}")[0], welcome("ana"))

    def test_a_password_over_the_maximum_is_refused_unhashed(self) -> None:
        """No registered password can be longer than the maximum: a login with one is refused
        without the work of argon2 (and counts as a failed attempt)."""
        checks: list[object] = []
        for password in ["x" * (MAX_PASSWORD_LENGTH + 1), ANA_PASSWORD + "x" * 2000]:
            self.accounts.check_login("ana", password, "10.0.0.9").addCallback(checks.append)
        self.assertEqual(checks, [LoginCheck.REFUSED] * 2)
        self.assertEqual(self.hasher.verified, 0)

    def test_argon2_of_the_longest_password(self) -> None:
        """The production hasher (argon2id, 19 MiB, 2 passes) hashes and verifies a password of
        the maximum length, which it can tell from one a character shorter."""
        accounts = Accounts(self.storage, self.clock, self.runner)
        accounts.load()
        password = "Ω" * MAX_PASSWORD_LENGTH
        done: list[object] = []
        accounts.register("dora", password, EPOCH).addCallback(done.append)
        self.assertEqual(done, [None])
        checks: list[object] = []
        for attempt in (password, password[:-1], password):
            accounts.check_login("dora", attempt, "10.0.0.9").addCallback(checks.append)
        self.assertEqual(checks, [LoginCheck.OK, LoginCheck.REFUSED, LoginCheck.OK])

    def test_already_registered(self) -> None:
        ana = self.login(f"ana {ANA_PASSWORD}")
        ana.send("/registrar Otra-clave4\r\n")
        self.assertEqual(ana.received(), [already_registered("ana")])
        self.assertEqual(self.storage.saves, [])

    def test_storage_unavailable(self) -> None:
        carol = self.login("carol")
        self.storage.available = False
        carol.send("/registrar Clave-carol3\r\n")
        self.assertEqual(carol.received(), [TRY_LATER])
        self.assertFalse(carol.closing)
        # Not created in memory either: once carol leaves, anyone may take the nickname.
        self.assertFalse(self.accounts.is_registered("carol"))
        carol.lose()
        self.assertEqual(self.attempt("carol")[0], welcome("carol"))
        # And it can be registered once the database is back.
        self.storage.available = True
        self.clients[-1].send("/registrar Clave-carol3\r\n")
        self.assertEqual(self.clients[-1].received(), [registered("carol")])

    def test_storage_not_loaded_yet(self) -> None:
        """While the accounts could not be loaded, registering would overwrite unknown
        accounts: it is refused."""
        self.storage.available = False
        accounts = Accounts(self.storage, self.clock, self.runner, hasher=self.hasher)
        accounts.load()
        self.assertFalse(accounts.loaded)
        self.storage.available = True
        failures: list[Failure] = []
        accounts.register("carol", "Clave-carol3", EPOCH).addErrback(failures.append)
        [failure] = failures
        error = failure.value
        assert isinstance(error, AccountError), error
        self.assertEqual(error.reason, "storage_unavailable")
        self.assertEqual(self.storage.saves, [])

    def test_loading_is_retried_with_backoff(self) -> None:
        self.storage.available = False
        accounts = Accounts(self.storage, self.clock, self.runner, hasher=self.hasher)
        loads = self.storage.loads
        accounts.load()
        self.assertEqual(self.storage.loads, loads + 1)
        self.clock.advance(0.5)
        self.assertEqual(self.storage.loads, loads + 2)
        self.clock.advance(0.9)
        self.assertEqual(self.storage.loads, loads + 2)  # the next wait is longer
        self.storage.available = True
        self.clock.advance(0.1)
        self.assertEqual(self.storage.loads, loads + 3)
        self.assertTrue(accounts.loaded)
        self.assertTrue(accounts.is_registered("ana"))
        self.clock.advance(3600)
        self.assertEqual(self.storage.loads, loads + 3)
        self.flushLoggedErrors(AccountStorageDown)


class StartingUpTests(AccountsTestCase):
    """Until the registered nicknames are loaded, no nickname line logs in: every one gets
    exactly one try-again line and stays at the prompt (never an impostor); then logins work."""

    def setUp(self) -> None:
        super().setUp()
        self.storage.available = False
        self.accounts = Accounts(self.storage, self.clock, self.runner, hasher=self.hasher)
        self.accounts.load()
        self.parts = assemble(
            SPANISH,
            self.clock,
            accounts=self.accounts,
            limits=Limits(flood_rate=0, max_strikes=0, max_per_ip=0, login_timeout=0),
        )
        self.chat = self.parts.core
        self.server = self.parts.server
        self.factory = tcp_factory(self.parts)
        self.addCleanup(self.flushLoggedErrors, AccountStorageDown)

    def test_every_nickname_line_gets_one_try_again_line(self) -> None:
        self.assertFalse(self.accounts.loaded)
        client = self.connect()
        lines = [
            "ana",  # registered: the impostor case
            f"ana {ANA_PASSWORD}",
            "carol",  # free
            "carol Clave-carol3",
            "1nvalid",
            "",
        ]
        for line in lines:
            client.send(line + "\r\n")
            self.assertEqual(client.received(), [STARTING_UP], line)
        self.assertIsNone(client.protocol.nickname)
        self.assertFalse(client.closing)
        self.assertEqual(len(self.chat.room), 0)
        self.assertEqual(self.hasher.verified, 0)

    def test_logins_work_once_the_accounts_are_loaded(self) -> None:
        waiting = self.connect()
        waiting.send("ana\r\n")
        self.assertEqual(waiting.received(), [STARTING_UP])
        self.storage.available = True
        self.clock.advance(0.5)  # the retry of the load
        self.assertTrue(self.accounts.loaded)
        # The same connection, still at the prompt, can now log in, and ana is protected.
        waiting.send("ana\r\n")
        self.assertEqual(waiting.received(), [password_needed("ana")])
        waiting.send(f"ana {ANA_PASSWORD}\r\n")
        self.assertEqual(waiting.received()[0], welcome("ana"))
        self.assertEqual(self.attempt("carol")[0], welcome("carol"))

    def test_an_irc_registration_waits_until_the_accounts_are_loaded(self) -> None:
        # An IRC client does not try again by itself: its registration waits, then goes on.
        irc = IrcFactory(
            self.server, IrcCommands(self.chat, self.parts.rooms, self.parts.language, "irc.test")
        )
        impostor = self.clients.connect(irc)  # type: ignore[arg-type]
        impostor.send("NICK ana\r\nUSER ana 0 * :Ana\r\n")
        carol = self.clients.connect(irc)  # type: ignore[arg-type]
        carol.send("NICK carol\r\nUSER carol 0 * :Carol\r\n")
        self.clock.advance(0.2)
        self.assertEqual(carol.received(), [])  # nothing yet, and no error
        self.assertIsNone(carol.protocol.nickname)
        self.storage.available = True
        for _ in range(5):  # the retry of the load, then of the registrations
            self.clock.advance(0.2)
        self.assertTrue(self.accounts.loaded)
        self.assertTrue(carol.received()[0].startswith(":irc.test 001 carol "))
        self.assertEqual(carol.protocol.nickname, "carol")
        refused = impostor.received()
        self.assertTrue(refused[0].startswith(":irc.test 464 "), refused)  # never 001
        self.assertIsNone(impostor.protocol.nickname)

    def test_english(self) -> None:
        limits = Limits(flood_rate=0, max_strikes=0, login_timeout=0)
        factory = tcp_factory(assemble(ENGLISH, self.clock, accounts=self.accounts, limits=limits))
        client = self.clients.connect(factory)
        client.received()
        client.send("carol\r\n")
        self.assertEqual(
            client.received(),
            ["! The server is starting up; try again in a moment. Choose a nickname:"],
        )

    def test_no_accounts_at_all_is_no_gate(self) -> None:
        limits = Limits(flood_rate=0, max_strikes=0, login_timeout=0)
        factory = tcp_factory(assemble(SPANISH, self.clock, limits=limits))
        client = self.clients.connect(factory)
        client.received()
        client.send("carol\r\n")
        self.assertEqual(client.received()[0], welcome("carol"))


class LoginTests(AccountsTestCase):
    """``NICK`` and ``NICK PASSWORD`` on the nickname line against the registered nicknames."""

    def test_registered_nickname_without_password(self) -> None:
        other = self.login("carol")
        client = self.connect()
        client.send("ana\r\n")
        self.assertEqual(client.received(), [password_needed("ana")])
        self.assertIsNone(client.protocol.nickname)
        self.assertEqual(other.received(), [])
        self.assertEqual(self.hasher.verified, 0)
        # Blank password: the same as none.
        client.send("ana   \t\r\n")
        self.assertEqual(client.received(), [password_needed("ana")])

    def test_right_password(self) -> None:
        other = self.login("carol")
        client = self.connect()
        client.send(f"ana {ANA_PASSWORD}\r\n")
        self.assertEqual(client.received(), [welcome("ana")])
        self.assertEqual(other.received(), [joined("ana")])
        self.assertEqual(client.protocol.nickname, "ana")
        self.assertEqual(self.hasher.verified, 1)

    def test_right_password_after_being_asked(self) -> None:
        client = self.connect()
        client.send("ana\r\n")
        client.send(f"ana {ANA_PASSWORD}\r\n")
        self.assertEqual(client.received(), [password_needed("ana"), welcome("ana")])

    def test_wrong_password_and_unregistered_nickname_get_the_same_line(self) -> None:
        wrong = self.attempt("ana Incorrecta1")
        unregistered = self.attempt("carol Cualquiera1")
        self.assertEqual(wrong, [LOGIN_REFUSED])
        self.assertEqual(unregistered, [LOGIN_REFUSED])

    def test_refused_then_another_try_on_the_same_connection(self) -> None:
        client = self.connect()
        client.send("ana Incorrecta1\r\n")
        self.assertEqual(client.received(), [LOGIN_REFUSED])
        self.assertFalse(client.closing)
        client.send(f"ana {ANA_PASSWORD}\r\n")
        self.assertEqual(client.received(), [welcome("ana")])

    def test_password_of_another_account_is_refused(self) -> None:
        self.assertEqual(self.attempt(f"ana {BOB_PASSWORD}"), [LOGIN_REFUSED])

    def test_unregistered_nickname_without_password_logs_in(self) -> None:
        self.assertEqual(self.attempt("carol"), [welcome("carol")])

    def test_protection_is_case_insensitive(self) -> None:
        self.assertEqual(self.attempt("ANA"), [password_needed("ANA")])
        self.assertEqual(self.attempt("Ana"), [password_needed("Ana")])
        self.assertEqual(self.attempt("aNa Incorrecta1"), [LOGIN_REFUSED])
        # With the password, the user logs in as typed.
        client = self.connect()
        client.send(f"ANA {ANA_PASSWORD}\r\n/username\r\n")
        self.assertEqual(client.received(), [welcome("ANA"), "* Tu nickname es ANA."])

    def test_the_logged_in_nickname_is_taken_in_any_case(self) -> None:
        self.login(f"ana {ANA_PASSWORD}")
        self.assertEqual(self.attempt(f"ANA {ANA_PASSWORD}"), [taken("ANA")])
        self.assertEqual(self.attempt("Ana"), [taken("Ana")])

    def test_check_login_outcomes(self) -> None:
        results: list[LoginCheck] = []
        host = "203.0.113.5"
        self.accounts.check_login("ana", None, host).addCallback(results.append)
        self.accounts.check_login("ana", ANA_PASSWORD, host).addCallback(results.append)
        self.accounts.check_login("ana", "Incorrecta1", host).addCallback(results.append)
        self.accounts.check_login("carol", None, host).addCallback(results.append)
        self.accounts.check_login("carol", "Cualquiera1", host).addCallback(results.append)
        self.assertEqual(
            results,
            [
                LoginCheck.NEEDS_PASSWORD,
                LoginCheck.OK,
                LoginCheck.REFUSED,
                LoginCheck.OK,
                LoginCheck.REFUSED,
            ],
        )

    def test_hashing_runs_through_the_thread_runner(self) -> None:
        self.attempt(f"ana {ANA_PASSWORD}")
        self.assertEqual(self.runner.calls, 1)
        carol = self.login("carol")
        carol.send("/registrar Clave-carol3\r\n")
        self.assertEqual(self.runner.calls, 2)

    def test_a_failing_check_is_a_refusal(self) -> None:
        self.hasher.explode = True
        client = self.connect()
        client.send(f"ana {ANA_PASSWORD}\r\n")
        self.assertEqual(client.received(), [LOGIN_REFUSED])
        self.assertFalse(client.closing)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class AttemptLimitTests(AccountsTestCase):
    """After 5 failed attempts within a minute from one address or for one nickname, further
    attempts get the same ``! `` line without the password being checked."""

    def test_five_failures_from_one_address(self) -> None:
        for _ in range(5):  # one second apart, against another account
            self.assertEqual(self.attempt("bob Incorrecta1", "203.0.113.5"), [LOGIN_REFUSED])
            self.clock.advance(1)
        self.assertEqual(self.hasher.verified, 5)
        # The right password for ana, from the same address: refused, and not even checked.
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}", "203.0.113.5"), [LOGIN_REFUSED])
        self.assertEqual(self.hasher.verified, 5)
        # From another address ana is fine (ana's own count is untouched).
        ana = self.login(f"ana {ANA_PASSWORD}", "203.0.113.6")
        self.assertEqual(self.hasher.verified, 6)
        ana.lose()
        # Still blocked until the oldest failure is a minute old (it was 60 - 5 s ago)...
        self.clock.advance(54)
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}", "203.0.113.5"), [LOGIN_REFUSED])
        self.assertEqual(self.hasher.verified, 6)
        # ...then the address may try again.
        self.clock.advance(1)
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}", "203.0.113.5")[0], welcome("ana"))

    def test_unregistered_nicknames_count_too(self) -> None:
        for i in range(5):
            self.attempt(f"nadie{i} Cualquiera1", "203.0.113.5")
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}", "203.0.113.5"), [LOGIN_REFUSED])
        self.assertEqual(self.hasher.verified, 0)

    def test_five_failures_for_one_nickname(self) -> None:
        for i in range(5):  # from five addresses
            self.assertEqual(self.attempt("ana Incorrecta1", f"203.0.113.{i + 1}"), [LOGIN_REFUSED])
        self.assertEqual(self.hasher.verified, 5)
        # A sixth address, right password: refused, not checked.
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}", "203.0.113.99"), [LOGIN_REFUSED])
        self.assertEqual(self.attempt(f"ANA {ANA_PASSWORD}", "203.0.113.98"), [LOGIN_REFUSED])
        self.assertEqual(self.hasher.verified, 5)
        # That address is not blocked for other nicknames.
        self.assertEqual(self.attempt(f"bob {BOB_PASSWORD}", "203.0.113.99")[0], welcome("bob"))
        self.clock.advance(59.9)
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}", "203.0.113.97"), [LOGIN_REFUSED])
        self.clock.advance(0.1)
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}", "203.0.113.97")[0], welcome("ana"))

    def test_four_failures_do_not_block(self) -> None:
        for _ in range(4):
            self.attempt("ana Incorrecta1", "203.0.113.5")
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}", "203.0.113.5")[0], welcome("ana"))

    def test_only_failures_within_a_minute_count(self) -> None:
        for _ in range(4):
            self.attempt("ana Incorrecta1", "203.0.113.5")
        self.clock.advance(61)
        for _ in range(4):
            self.attempt("ana Incorrecta1", "203.0.113.5")
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}", "203.0.113.5")[0], welcome("ana"))

    def test_blocked_attempts_do_not_extend_the_block(self) -> None:
        for _ in range(5):
            self.attempt("ana Incorrecta1", "203.0.113.5")
        for _ in range(30):
            self.clock.advance(1)
            self.attempt("ana Incorrecta1", "203.0.113.5")
        self.assertEqual(self.hasher.verified, 5)
        self.clock.advance(30)
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}", "203.0.113.5")[0], welcome("ana"))

    def test_same_line_whatever_was_wrong(self) -> None:
        for _ in range(5):
            self.attempt("ana Incorrecta1", "203.0.113.5")
        blocked = self.attempt(f"ana {ANA_PASSWORD}", "203.0.113.5")
        wrong = self.attempt("bob Incorrecta1", "203.0.113.77")
        unregistered = self.attempt("carol Cualquiera1", "203.0.113.78")
        self.assertEqual(blocked, [LOGIN_REFUSED])
        self.assertEqual(wrong, blocked)
        self.assertEqual(unregistered, blocked)

    def test_prune_forgets_old_failures(self) -> None:
        for i in range(3):
            self.attempt("ana Incorrecta1", f"203.0.113.{i + 1}")
        self.assertEqual(len(self.accounts._by_host), 3)
        self.clock.advance(61)
        self.accounts.prune()
        self.assertEqual(len(self.accounts._by_host), 0)
        self.assertEqual(len(self.accounts._by_nick), 0)


class PasswordChangeTests(AccountsTestCase):
    """``/password OLD NEW`` changes the password of the current, registered nickname."""

    def test_change(self) -> None:
        ana = self.login(f"ana {ANA_PASSWORD}")
        ana.send(f"/password {ANA_PASSWORD} Nueva-clave5\r\n")
        self.assertEqual(ana.received(), [PASSWORD_CHANGED])
        [(nickname, stored, when)] = self.storage.saves
        self.assertEqual(nickname, "ana")
        self.assertTrue(stored.startswith("$argon2id$"))
        self.assertNotIn("Nueva-clave5", stored)
        self.assertTrue(PasswordHasher().verify(stored, "Nueva-clave5"))
        self.assertEqual(when, EPOCH)
        ana.lose()
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}"), [LOGIN_REFUSED])
        self.assertEqual(self.attempt("ana Nueva-clave5")[0], welcome("ana"))

    def test_wrong_old_password(self) -> None:
        ana = self.login(f"ana {ANA_PASSWORD}")
        ana.send("/password Incorrecta1 Nueva-clave5\r\n")
        self.assertEqual(ana.received(), [WRONG_PASSWORD])
        self.assertEqual(self.storage.saves, [])
        ana.lose()
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}")[0], welcome("ana"))

    def test_usage_errors(self) -> None:
        ana = self.login(f"ana {ANA_PASSWORD}")
        for line in ["/password", "/password solo", "/password a b c"]:
            ana.send(line + "\r\n")
            self.assertEqual(ana.received(), [USAGE_PASSWORD], line)
        self.assertEqual(self.storage.saves, [])

    def test_new_password_too_short(self) -> None:
        ana = self.login(f"ana {ANA_PASSWORD}")
        ana.send(f"/password {ANA_PASSWORD} abc\r\n")
        self.assertEqual(ana.received(), [PASSWORD_LENGTH])
        self.assertEqual(self.storage.saves, [])

    def test_not_registered(self) -> None:
        carol = self.login("carol")
        carol.send("/password Vieja-clave1 Nueva-clave5\r\n")
        self.assertEqual(carol.received(), [NOT_REGISTERED])

    def test_storage_unavailable(self) -> None:
        ana = self.login(f"ana {ANA_PASSWORD}")
        self.storage.available = False
        ana.send(f"/password {ANA_PASSWORD} Nueva-clave5\r\n")
        self.assertEqual(ana.received(), [TRY_LATER])
        ana.lose()
        # Nothing changed, in memory either.
        self.assertEqual(self.attempt("ana Nueva-clave5"), [LOGIN_REFUSED])
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}")[0], welcome("ana"))


class OutageTests(AccountsTestCase):
    """Registered nicknames stay protected while the database is down (hashes in memory)."""

    def test_protected_during_an_outage(self) -> None:
        self.storage.available = False
        self.assertEqual(self.attempt("ana"), [password_needed("ana")])
        self.assertEqual(self.attempt("ana Incorrecta1"), [LOGIN_REFUSED])
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}")[0], welcome("ana"))

    def test_a_registration_survives_an_outage(self) -> None:
        carol = self.login("carol")
        carol.send("/registrar Clave-carol3\r\n")
        carol.lose()
        self.storage.available = False
        self.assertEqual(self.attempt("carol"), [password_needed("carol")])
        self.assertEqual(self.attempt("carol Clave-carol3")[0], welcome("carol"))

    def test_changes_during_an_outage_ask_to_try_later(self) -> None:
        ana = self.login(f"ana {ANA_PASSWORD}")
        carol = self.login("carol")
        self.storage.available = False
        carol.send("/registrar Clave-carol3\r\n")
        ana.send(f"/password {ANA_PASSWORD} Nueva-clave5\r\n")
        self.assertEqual(carol.received(), [TRY_LATER])
        self.assertEqual(ana.received(), [TRY_LATER])
        self.assertFalse(self.accounts.is_registered("carol"))


class HeldLinesTests(AccountsTestCase):
    """While a password is checked the connection's later lines wait (and are then processed in
    order), and the nickname is taken for everyone else."""

    def test_lines_in_the_same_chunk_after_the_check(self) -> None:
        bob = self.login(f"bob {BOB_PASSWORD}")
        client = self.connect()
        client.send(f"ana {ANA_PASSWORD}\r\nhola\r\n/username\r\n#bob psst\r\n")
        self.assertEqual(
            client.received(), [welcome("ana"), "* Tu nickname es ana.", "-> *bob* psst"]
        )
        self.assertEqual(bob.received(), [joined("ana"), "<ana> hola", "*ana* psst"])

    def test_lines_wait_while_the_check_runs(self) -> None:
        bob = self.login(f"bob {BOB_PASSWORD}")
        self.runner.manual = True
        client = self.connect()
        client.send(f"ana {ANA_PASSWORD}\r\nhola\r\n/username\r\n")
        client.send("otra\r\n")
        self.assertEqual(self.runner.pending, 1)
        self.assertEqual(client.received(), [])
        self.assertEqual(bob.received(), [])
        self.assertEqual(client.transport.producerState, "paused")
        self.runner.run_pending()
        self.assertEqual(client.received(), [welcome("ana"), "* Tu nickname es ana."])
        self.assertEqual(bob.received(), [joined("ana"), "<ana> hola", "<ana> otra"])
        self.assertEqual(client.transport.producerState, "producing")

    def test_held_lines_after_a_refusal_are_nickname_lines(self) -> None:
        self.runner.manual = True
        client = self.connect()
        client.send("ana Incorrecta1\r\ncarol\r\nhola\r\n")
        self.assertEqual(client.received(), [])
        self.runner.run_pending()
        self.assertEqual(client.received(), [LOGIN_REFUSED, welcome("carol")])

    def test_held_lines_wait_for_a_second_check(self) -> None:
        self.runner.manual = True
        client = self.connect()
        client.send(f"ana Incorrecta1\r\nana {ANA_PASSWORD}\r\n/username\r\n")
        self.runner.run_pending()
        self.assertEqual(client.received(), [LOGIN_REFUSED])
        self.assertEqual(self.runner.pending, 1)
        self.runner.run_pending()
        self.assertEqual(client.received(), [welcome("ana"), "* Tu nickname es ana."])

    def test_nickname_taken_while_the_check_runs(self) -> None:
        self.runner.manual = True
        first = self.connect()
        first.send(f"ana {ANA_PASSWORD}\r\n")
        second = self.connect()
        second.send(f"ana {ANA_PASSWORD}\r\n")
        self.assertEqual(second.received(), [taken("ana")])
        second.send("ANA\r\n")
        self.assertEqual(second.received(), [taken("ANA")])
        self.assertEqual(self.runner.pending, 1)
        self.runner.run_pending()
        self.assertEqual(first.received(), [welcome("ana")])
        self.assertEqual(second.received(), [])  # still at the prompt: no join notices
        second.send("carol\r\n")
        self.assertEqual(second.received(), [welcome("carol")])

    def test_nickname_free_again_after_a_failed_check(self) -> None:
        self.runner.manual = True
        first = self.connect()
        first.send("ana Incorrecta1\r\n")
        self.runner.run_pending()
        self.assertEqual(first.received(), [LOGIN_REFUSED])
        self.runner.manual = False
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}")[0], welcome("ana"))

    def test_client_gone_during_the_check(self) -> None:
        bob = self.login(f"bob {BOB_PASSWORD}")
        self.runner.manual = True
        client = self.connect()
        client.send(f"ana {ANA_PASSWORD}\r\nhola\r\n")
        client.lose()
        self.runner.run_pending()
        self.assertEqual(client.received(), [])
        self.assertEqual(bob.received(), [])
        self.runner.manual = False
        self.assertEqual(self.attempt(f"ana {ANA_PASSWORD}")[0], welcome("ana"))
        self.assertEqual(bob.received(), [joined("ana")])

    def test_leave_notice_once_for_a_user_held_then_gone(self) -> None:
        bob = self.login(f"bob {BOB_PASSWORD}")
        client = self.login(f"ana {ANA_PASSWORD}")
        client.lose()
        self.assertEqual(bob.received(), [left("ana")])


class NoPasswordsInLogsTests(AccountsTestCase):
    """Passwords never appear in logged events, whatever happens to them."""

    def setUp(self) -> None:
        super().setUp()
        self.events = record_logs(self)

    def event_texts(self) -> list[str]:
        """Each captured event as text: formatted, its fields' reprs, and any traceback."""
        texts: list[str] = []
        for event in self.events.events:
            parts = [formatEvent(event), *(repr(value) for value in event.values())]
            failure = event.get("log_failure")
            if isinstance(failure, Failure):
                parts.append(failure.getTraceback())
            texts.append("\n".join(parts))
        return texts

    def test_no_password_in_any_event(self) -> None:
        secrets = [
            ANA_PASSWORD,
            "Mal-Intento7",
            "Clave-carol3",
            "Nueva-clave5",
            "Durante-caida8",
            "Explota-ya9",
        ]
        self.login(f"ana {ANA_PASSWORD}", "203.0.113.1").lose()
        for _ in range(6):
            self.attempt("ana Mal-Intento7", "203.0.113.2")
        carol = self.login("carol")
        carol.send("/registrar Clave-carol3\r\n")
        carol.send("/password Mal-Intento7 Nueva-clave5\r\n")
        carol.send("/password Clave-carol3 Nueva-clave5\r\n")
        self.storage.available = False
        dave = self.login("dave")
        dave.send("/registrar Durante-caida8\r\n")
        carol.send("/password Nueva-clave5 Durante-caida8\r\n")
        self.storage.available = True
        self.hasher.explode = True
        self.attempt("bob Explota-ya9", "203.0.113.3")
        self.flushLoggedErrors(RuntimeError)
        texts = self.event_texts()
        # The log did record what happened (so the search below is not vacuous).
        formatted = [formatEvent(event) for event in self.events.events]
        for expected in [
            "failed login for ana from 203.0.113.2",
            "carol registered",
            "carol changed password",
            "saving the account of dave failed: save: database unavailable",
            "password check for bob failed",
        ]:
            self.assertIn(expected, formatted)
        for text in texts:
            for secret in secrets:
                if secret in text:
                    self.fail(f"password {secret!r} logged in: {text.splitlines()[0]!r}")


class ParallelAttemptTests(SynchronousTestCase):
    """Attempts still being checked count against the limit: parallel tries from one address
    cannot get more password checks than the limit allows."""

    def test_parallel_attempts_are_limited(self) -> None:
        clock = Clock()
        pending: list[tuple[defer.Deferred[bool], bool]] = []

        def later(function: object, *args: object) -> defer.Deferred[bool]:
            d: defer.Deferred[bool] = defer.Deferred()
            pending.append((d, False))
            return d

        accounts = Accounts(None, clock, later, max_failures=5)
        accounts._hashes = {f"user{i}": "hash" for i in range(10)}
        results: list[object] = []
        for i in range(10):
            accounts.check_login(f"user{i}", "guess", "203.0.113.9").addCallback(results.append)
        self.assertEqual(len(pending), 5)  # the other five were refused without a check
        self.assertEqual(results, [LoginCheck.REFUSED] * 5)
        for d, _ in pending:
            d.callback(False)
        self.assertEqual(results, [LoginCheck.REFUSED] * 10)

    def test_a_good_parallel_attempt_is_forgiven(self) -> None:
        clock = Clock()
        pending: list[defer.Deferred[bool]] = []

        def later(function: object, *args: object) -> defer.Deferred[bool]:
            d: defer.Deferred[bool] = defer.Deferred()
            pending.append(d)
            return d

        accounts = Accounts(None, clock, later, max_failures=2)
        accounts._hashes = {"ana": "hash", "bob": "hash"}
        results: list[object] = []
        accounts.check_login("ana", "right", "203.0.113.9").addCallback(results.append)
        pending[0].callback(True)
        accounts.check_login("bob", "right", "203.0.113.9").addCallback(results.append)
        pending[1].callback(True)
        accounts.check_login("ana", "right", "203.0.113.9").addCallback(results.append)
        self.assertEqual(len(pending), 3)
        pending[2].callback(True)
        self.assertEqual(results, [LoginCheck.OK] * 3)
