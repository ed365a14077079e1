"""Accounts in tests: the passwords the tests log in with, and the doubles of what
:class:`~twisted_chat.accounts.Accounts` works with (its storage, its hasher, its thread runner),
for the unit tests of accounts and of operators.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from argon2 import PasswordHasher
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed

from twisted_chat import nicknames

#: The password of ``ana``, registered and an operator, in the operator tests over real sockets
#: (``tests/inprocess/test_operators.py``, ``tests/e2e/test_operators.py``).
OPERATOR_PASSWORD = "Clave-ana1"

#: The passwords of ``ana`` and ``bob``, the accounts the unit tests of accounts and operators
#: start with.
ANA_PASSWORD = "Secreto-ana1"
BOB_PASSWORD = "Secreto-bob2"


class AccountStorageDown(Exception):
    """Raised by :class:`MemoryAccountStorage` while it is unavailable."""


class MemoryAccountStorage:
    """An ``AccountStorage`` double: accounts in a dict; ``available = False`` is an outage."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, str, datetime]] = {}
        self.saves: list[tuple[str, str, datetime]] = []
        self.loads = 0
        self.available = True

    def load_accounts(self) -> Deferred[dict[str, str]]:
        """Every account as ``{nick_key: hash}``, or a failure during an outage."""
        self.loads += 1
        if not self.available:
            return fail(AccountStorageDown("load: database unavailable"))
        return succeed({key: row[1] for key, row in self.rows.items()})

    def save_account(self, nickname: str, password_hash: str, when: datetime) -> Deferred[None]:
        """Create or replace the account of ``nickname``, or fail during an outage."""
        if not self.available:
            return fail(AccountStorageDown("save: database unavailable"))
        self.saves.append((nickname, password_hash, when))
        self.rows[nicknames.key(nickname)] = (nickname, password_hash, when)
        return succeed(None)


class CountingHasher(PasswordHasher):
    """A cheap argon2 hasher that counts its calls (and can be made to blow up)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified = 0
        self.hashed = 0
        self.explode = False

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        """Count, then verify as argon2 does."""
        self.verified += 1
        if self.explode:
            raise RuntimeError("the hasher broke")
        return super().verify(hash, password)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        """Count, then hash as argon2 does."""
        self.hashed += 1
        return super().hash(password, salt=salt)


class ThreadRunner:
    """Stands in for ``deferToThreadPool``: runs the function at once, or, with ``manual`` set,
    when the test calls :meth:`run_pending`."""

    def __init__(self) -> None:
        self.manual = False
        self.calls = 0
        self._pending: list[tuple[Deferred[Any], Callable[[], Any]]] = []

    def __call__(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
        """Run ``f(*args, **kwargs)`` "in a thread"."""
        self.calls += 1
        if not self.manual:
            return maybeDeferred(f, *args, **kwargs)
        d: Deferred[Any] = Deferred()
        self._pending.append((d, lambda: f(*args, **kwargs)))
        return d

    @property
    def pending(self) -> int:
        """How many calls wait for :meth:`run_pending`."""
        return len(self._pending)

    def run_pending(self) -> None:
        """Finish every waiting call, in order."""
        pending, self._pending = self._pending, []
        for d, call in pending:
            maybeDeferred(call).chainDeferred(d)
