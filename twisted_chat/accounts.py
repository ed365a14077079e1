"""Registered nicknames: password hashes in memory, checked off the reactor thread.

A registered nickname can only be used by a client that logs in with ``NICK PASSWORD``. The hashes
live in memory (loaded from table ``cuentas`` at start-up and updated on every change), so
registered nicknames stay protected while the database is down; registering or changing a
password needs the database and is refused during an outage. Hashing is argon2id through
``argon2-cffi``, run in a thread pool so a login storm cannot stall the chat. Failed attempts are
limited per client address and per nickname (:class:`~twisted_chat.limits.AttemptWindow`).
Passwords are never logged.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from twisted_chat import nicknames
from twisted_chat.limits import AttemptWindow
from twisted_chat.loading import LoadedFromStorage
from twisted_chat.logsummary import LogSummary

T = TypeVar("T")

#: Password length bounds, in characters. Passwords are one word (no spaces or tabs). The
#: maximum was 128 up to protocol version 1.2; version 1.3 raised it to 1000 (docs/PROTOCOL.md,
#: "Version 1.3"): long enough for passphrases, password managers and IRC's SASL, within what
#: one v1 line (1024 bytes) and one SASL payload (2000 bytes of base64) can carry. argon2
#: hashes such a password in the time of a short one (its cost is its memory and passes).
MIN_PASSWORD_LENGTH = 4
MAX_PASSWORD_LENGTH = 1000


class AccountStorage(Protocol):
    """Where account hashes are kept (implemented by ``twisted_chat.storage.AccountStore``)."""

    def load_accounts(self) -> defer.Deferred[dict[str, str]]:
        """Every account: ``{nick_key: password_hash}``."""

    def save_account(
        self, nickname: str, password_hash: str, when: datetime
    ) -> defer.Deferred[None]:
        """Create or replace the account of ``nickname``."""


#: Runs a blocking callable in a thread: ``deferToThreadPool`` bound to a reactor and pool.
ThreadRunner = Callable[..., defer.Deferred[Any]]


class LoginCheck(enum.Enum):
    """The outcome of checking a nickname line against the accounts."""

    OK = "ok"
    NEEDS_PASSWORD = "needs_password"  # registered nickname, no password given
    REFUSED = "refused"  # wrong password, password for an unregistered nickname, or rate limited


class AccountError(Exception):
    """A registration or password change was refused; ``reason`` names a catalogue entry."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def password_problem(password: str) -> str | None:
    """The catalogue entry explaining why ``password`` is unacceptable, or ``None``."""
    if not (MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH):
        return "password_length"
    if any(c in password for c in " \t"):
        return "password_length"
    return None


class Accounts(LoadedFromStorage[dict[str, str]]):
    """Registered nicknames and their password hashes."""

    log = Logger()
    what = "registered nicknames"

    def __init__(
        self,
        storage: AccountStorage | None,
        clock: IReactorTime,
        run_in_thread: ThreadRunner,
        hasher: PasswordHasher | None = None,
        max_failures: int = 5,
        failure_window: float = 60.0,
    ) -> None:
        super().__init__(clock, stored=storage is not None)
        self._storage = storage
        self._run_in_thread = run_in_thread
        # OWASP's argon2id minimum: 19 MiB, 2 passes; about 40 ms per hash here.
        self._hasher = hasher or PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
        self._hashes: dict[str, str] = {}
        #: Failed logins (wrong password, rate limited), summarised in the log.
        self.failed_logins = LogSummary("failed logins", clock)
        self._by_host = AttemptWindow(max_failures, failure_window)
        self._by_nick = AttemptWindow(max_failures, failure_window)
        #: Called with ``(nick_key, password_hash)`` after every registration or password
        #: change made here (a cluster tells the other nodes).
        self.changed: list[Callable[[str, str], None]] = []

    # -- start-up ---------------------------------------------------------------------------

    def _read(self) -> defer.Deferred[dict[str, str]]:
        assert self._storage is not None  # only called with storage
        return self._storage.load_accounts()

    def _take(self, hashes: dict[str, str]) -> int:
        # Registrations made since start-up (none can be, while unloaded) would win.
        hashes.update(self._hashes)
        self._hashes = hashes
        return len(hashes)

    def _retake(self, hashes: dict[str, str]) -> None:
        self._hashes.update(hashes)

    def set_hash(self, nick_key: str, password_hash: str) -> None:
        """Take a registration or password change made elsewhere (another node)."""
        self._hashes[nick_key] = password_hash

    # -- queries ----------------------------------------------------------------------------

    def is_registered(self, nickname: str) -> bool:
        """Whether ``nickname`` (any case) is registered."""
        return nicknames.key(nickname) in self._hashes

    def __len__(self) -> int:
        return len(self._hashes)

    def prune(self) -> None:
        """Forget failed attempts older than the window (bounded memory)."""
        now = self._clock.seconds()
        self._by_host.prune(now)
        self._by_nick.prune(now)

    # -- login ------------------------------------------------------------------------------

    @defer.inlineCallbacks
    def check_login(self, nickname: str, password: str | None, host: str) -> Any:
        """Decide whether this nickname line may log in; fires with a :class:`LoginCheck`."""
        nick_key = nicknames.key(nickname)
        stored = self._hashes.get(nick_key)
        if password is None:
            return LoginCheck.OK if stored is None else LoginCheck.NEEDS_PASSWORD
        now = self._clock.seconds()
        if self._by_host.blocked(host, now) or self._by_nick.blocked(nick_key, now):
            self.log.debug("login for {nick} from {host} rate limited", nick=nickname, host=host)
            self.failed_logins.count("rate_limited")
            return LoginCheck.REFUSED
        # Count the attempt as failed until it is known to be good, so that parallel attempts
        # from one address cannot get more checks than the limit allows.
        self._by_host.fail(host, now)
        self._by_nick.fail(nick_key, now)
        good = False
        # A password longer than any that can be registered cannot be right: not hashed.
        if stored is not None and len(password) <= MAX_PASSWORD_LENGTH:
            try:
                good = yield self._run_in_thread(self._verify, stored, password)
            except Exception:
                self.log.failure("password check for {nick} failed", nick=nickname)
        if good:
            self._by_host.forgive(host, now)
            self._by_nick.forgive(nick_key, now)
            return LoginCheck.OK
        self.log.debug("failed login for {nick} from {host}", nick=nickname, host=host)
        self.failed_logins.count("bad_password" if stored is not None else "not_registered")
        return LoginCheck.REFUSED

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    # -- changes ----------------------------------------------------------------------------

    @defer.inlineCallbacks
    def register(self, nickname: str, password: str, when: datetime) -> Any:
        """Register ``nickname`` with ``password``; fails with :class:`AccountError`."""
        problem = password_problem(password)
        if problem:
            raise AccountError(problem)
        if self.is_registered(nickname):
            raise AccountError("already_registered")
        yield self._store(nickname, password, when)
        self.log.info("{nick} registered", nick=nickname)

    @defer.inlineCallbacks
    def change_password(self, nickname: str, old: str, new: str, host: str, when: datetime) -> Any:
        """Replace the password of ``nickname`` after checking ``old``; fails with AccountError."""
        stored = self._hashes.get(nicknames.key(nickname))
        if stored is None:
            raise AccountError("not_registered")
        problem = password_problem(new)
        if problem:
            raise AccountError(problem)
        check = yield self.check_login(nickname, old, host)
        if check is not LoginCheck.OK:
            raise AccountError("wrong_password")
        yield self._store(nickname, new, when)
        self.log.info("{nick} changed password", nick=nickname)

    @defer.inlineCallbacks
    def _store(self, nickname: str, password: str, when: datetime) -> Any:
        if self._storage is None:
            raise AccountError("storage_unavailable")
        if not self.loaded:
            raise AccountError("storage_unavailable")
        password_hash = yield self._run_in_thread(self._hasher.hash, password)
        try:
            yield self._storage.save_account(nickname, password_hash, when)
        except Exception as e:
            self.log.warn("saving the account of {nick} failed: {error}", nick=nickname, error=e)
            raise AccountError("storage_unavailable") from None
        nick_key = nicknames.key(nickname)
        self._hashes[nick_key] = password_hash
        for callback in self.changed:
            callback(nick_key, password_hash)
