"""In-memory doubles of the history and recado storages, for the unit tests of the chat core's
history (:mod:`twisted_chat.history`) and recados (:mod:`twisted_chat.recados`).

Each implements its protocol (:class:`~twisted_chat.history.HistoryStorage`,
:class:`~twisted_chat.history.DepartureStorage`, :class:`~twisted_chat.recados.RecadoStorage`)
over plain lists and dicts, with the semantics of the real stores (tested on SQLite and MariaDB
in ``tests/inprocess``): pages cut by cursor over (time, id), "since" with its total, searches of
whole words without case or accents, the recado limits in the store. Every read answers at once
with a fired Deferred, unless the test says otherwise through :class:`Answers`: ``failing``
(every call fails with :class:`StorageDown`, as the real stores do during an outage) or
``holding`` (every call waits in :attr:`Answers.held` until :meth:`Answers.release`).

:class:`MemoryHistoryStorage` keeps what the chat ``keep``-s in :attr:`~MemoryHistoryStorage.queued`
until the test calls :meth:`~MemoryHistoryStorage.write` (the real store's batch at the end of
the reactor turn): reads see written messages only, as the real ones do.

:class:`HistoryChat` is a whole chat core assembled as a server assembles it, over these
doubles, with ``ana`` and ``bob`` registered (passwords :data:`ANA_PASSWORD`,
:data:`BOB_PASSWORD`) and ``carol`` not, talked to through
:class:`~tests.support.fakes.FakeSession` objects.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock

from tests.support.accounts import (
    ANA_PASSWORD,
    BOB_PASSWORD,
    CountingHasher,
    MemoryAccountStorage,
    ThreadRunner,
)
from tests.support.fakes import EPOCH, FakeSession
from twisted_chat import nicknames
from twisted_chat.accounts import Accounts
from twisted_chat.assembly import Chat, assemble
from twisted_chat.events import Public
from twisted_chat.history import HistoryPlan, Page, StoredMessage, make_cursor, parse_cursor
from twisted_chat.recados import MAX_PER_RECIPIENT, MAX_PER_SENDER, Recado, Stored
from twisted_chat.text import SPANISH, Catalogue, Language
from twisted_chat.wire import LineRenderer


class StorageDown(Exception):
    """What a double fails with while :attr:`Answers.failing` is set."""


class Answers:
    """How a double answers: at once (the default), failing, or held until released."""

    def __init__(self) -> None:
        #: Every call fails with :class:`StorageDown`.
        self.failing = False
        #: Every call waits in :attr:`held` until :meth:`release`.
        self.holding = False
        #: The calls waiting: their Deferred and what computes the answer.
        self.held: list[tuple[Deferred[Any], Callable[[], Any]]] = []
        #: Every call made, as ``(method name, arguments...)``.
        self.calls: list[tuple[Any, ...]] = []

    def answer(self, call: tuple[Any, ...], compute: Callable[[], Any]) -> Deferred[Any]:
        """Record ``call`` and answer it with ``compute()``: now, as a failure, or later."""
        self.calls.append(call)
        if self.failing:
            return fail(StorageDown(f"{call[0]}: database unavailable"))
        if self.holding:
            d: Deferred[Any] = Deferred()
            self.held.append((d, compute))
            return d
        try:
            return succeed(compute())
        except Exception as e:
            return fail(e)

    def release(self) -> None:
        """Answer every held call, in order (computed now)."""
        held, self.held = self.held, []
        for d, compute in held:
            try:
                result = compute()
            except Exception as e:
                d.errback(e)
            else:
                d.callback(result)

    def called(self, name: str) -> list[tuple[Any, ...]]:
        """The calls of the method ``name``."""
        return [call for call in self.calls if call[0] == name]


_WORD = re.compile(r"[^\W_]+")


def fold_words(text: str) -> set[str]:
    """The words of ``text`` without case or accents (``Café!`` gives ``{"cafe"}``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return set(_WORD.findall(plain))


def _position(message: StoredMessage) -> tuple[int, str]:
    return (message.time, message.id)


class MemoryHistoryStorage(Answers):
    """A :class:`~twisted_chat.history.HistoryStorage` over a list of written messages."""

    def __init__(self, days: int = 30) -> None:
        super().__init__()
        self.days = days
        #: What ``keep`` was given and :meth:`write` has not written yet.
        self.queued: list[Public] = []
        #: Written messages: (room key, message), in the order written.
        self.rows: list[tuple[str, StoredMessage]] = []

    @property
    def enabled(self) -> bool:
        """Whether anything is stored (``days`` above 0)."""
        return self.days > 0

    def keep(self, event: Public) -> None:
        """Queue ``event`` for the next :meth:`write`."""
        if self.enabled and event.room is not None:
            self.queued.append(event)

    def write(self) -> None:
        """Write what is queued (the real store's batch at the end of the turn)."""
        queued, self.queued = self.queued, []
        for event in queued:
            self.add(event.room or "", event.id, event.time, event.sender, event.text)

    def add(self, room_key: str, message_id: str, time: int, sender: str, text: str) -> None:
        """Store a message directly (one said before the chat started)."""
        self.rows.append((room_key, StoredMessage(message_id, time, sender, text)))

    def room(self, room_key: str) -> list[StoredMessage]:
        """The written messages of ``room_key``, oldest first."""
        return sorted((m for k, m in self.rows if k == room_key), key=_position)

    def page(self, room_key: str, limit: int, before: str | None = None) -> Deferred[Any]:
        """The last ``limit`` messages before the cursor ``before``, as the real store cuts
        them (``BadCursor`` for a word that is not a cursor)."""

        def compute() -> Page:
            position = None if before is None else parse_cursor(before)
            messages = [
                m for m in self.room(room_key) if position is None or _position(m) < position
            ]
            shown = messages[-limit:]
            cursor = make_cursor(shown[0].time, shown[0].id) if len(messages) > limit else None
            return Page(shown, cursor)

        return self.answer(("page", room_key, limit, before), compute)

    def since(self, room_key: str, after: int, limit: int) -> Deferred[Any]:
        """The last ``limit`` messages after ``after`` (ms), and how many in all."""

        def compute() -> tuple[Page, int]:
            messages = [m for m in self.room(room_key) if m.time > after]
            shown = messages[-limit:]
            total = len(messages)
            cursor = make_cursor(shown[0].time, shown[0].id) if total > limit else None
            return Page(shown, cursor), total

        return self.answer(("since", room_key, after, limit), compute)

    def search(self, room_key: str, words: Sequence[str], limit: int) -> Deferred[Any]:
        """The latest ``limit`` messages holding every word, oldest first."""

        def compute() -> list[StoredMessage]:
            wanted = set().union(*(fold_words(w) for w in words))
            if not wanted:
                return []
            found = [m for m in self.room(room_key) if wanted <= fold_words(m.text)]
            return found[-limit:]

        return self.answer(("search", room_key, tuple(words), limit), compute)

    def forget(self, nick_key: str) -> Deferred[int]:
        """Delete every message of ``nick_key``, written or queued; fire with how many."""

        def compute() -> int:
            before = len(self.rows) + len(self.queued)
            self.rows = [(k, m) for k, m in self.rows if nicknames.key(m.sender) != nick_key]
            self.queued = [e for e in self.queued if nicknames.key(e.sender) != nick_key]
            return before - len(self.rows) - len(self.queued)

        return self.answer(("forget", nick_key), compute)

    def between(
        self,
        room_key: str,
        lower: tuple[int, str] | None,
        upper: tuple[int, str] | None,
        limit: int,
        newest: bool,
    ) -> Deferred[Any]:
        """At most ``limit`` messages strictly between ``lower`` and ``upper``, oldest first
        (the newest of them if ``newest``)."""

        def compute() -> list[StoredMessage]:
            found = [
                m
                for m in self.room(room_key)
                if (lower is None or _position(m) > lower)
                and (upper is None or _position(m) < upper)
            ]
            return found[-limit:] if newest else found[:limit]

        return self.answer(("between", room_key, lower, upper, limit, newest), compute)

    def find(self, room_key: str, message_id: str) -> Deferred[Any]:
        """The written message ``message_id`` of ``room_key``, or ``None``."""

        def compute() -> StoredMessage | None:
            return next((m for m in self.room(room_key) if m.id == message_id), None)

        return self.answer(("find", room_key, message_id), compute)


class MemoryDepartureStorage(Answers):
    """A :class:`~twisted_chat.history.DepartureStorage` over a dict."""

    def __init__(self) -> None:
        super().__init__()
        #: nick key -> when it last left (ms).
        self.left: dict[str, int] = {}

    def record_departure(self, nick_key: str, left_at: int) -> Deferred[Any]:
        """Record that ``nick_key`` left at ``left_at``."""

        def compute() -> None:
            self.left[nick_key] = left_at

        return self.answer(("record_departure", nick_key, left_at), compute)

    def last_departure(self, nick_key: str) -> Deferred[Any]:
        """When ``nick_key`` last left, or ``None``."""
        return self.answer(("last_departure", nick_key), lambda: self.left.get(nick_key))


class MemoryRecadoStorage(Answers):
    """A :class:`~twisted_chat.recados.RecadoStorage` over a list, with the real store's
    limits (:data:`~twisted_chat.recados.MAX_PER_SENDER`,
    :data:`~twisted_chat.recados.MAX_PER_RECIPIENT`)."""

    def __init__(self) -> None:
        super().__init__()
        #: The pending recados, in the order stored.
        self.rows: list[Recado] = []

    def store(
        self, recado_id: str, sender: str, recipient_key: str, text: str, time: int
    ) -> Deferred[Any]:
        """Store a recado unless a limit is reached (the same id twice: stored once)."""

        def compute() -> Stored:
            if any(r.id == recado_id for r in self.rows):
                return Stored.STORED
            pending = [r for r in self.rows if r.recipient_key == recipient_key]
            sender_key = nicknames.key(sender)
            if sum(nicknames.key(r.sender) == sender_key for r in pending) >= MAX_PER_SENDER:
                return Stored.SENDER_LIMIT
            if len(pending) >= MAX_PER_RECIPIENT:
                return Stored.RECIPIENT_LIMIT
            self.rows.append(Recado(recado_id, sender, recipient_key, text, time))
            return Stored.STORED

        return self.answer(("store", recado_id, sender, recipient_key, text, time), compute)

    def pending(self, recipient_key: str) -> Deferred[Any]:
        """The recados waiting for ``recipient_key``, oldest first."""

        def compute() -> list[Recado]:
            mine = [r for r in self.rows if r.recipient_key == recipient_key]
            return sorted(mine, key=lambda r: r.time)

        return self.answer(("pending", recipient_key), compute)

    def take(self, recado_id: str) -> Deferred[Any]:
        """Delete the recado ``recado_id``: True for the call that deleted it."""

        def compute() -> bool:
            before = len(self.rows)
            self.rows = [r for r in self.rows if r.id != recado_id]
            return len(self.rows) < before

        return self.answer(("take", recado_id), compute)

    def forget_sender(self, sender_key: str) -> Deferred[Any]:
        """Delete every recado sent by ``sender_key``; fire with how many."""

        def compute() -> int:
            before = len(self.rows)
            self.rows = [r for r in self.rows if nicknames.key(r.sender) != sender_key]
            return before - len(self.rows)

        return self.answer(("forget_sender", sender_key), compute)


class RecordingLogins:
    """A ``LoginRecorder`` double whose answers the test gives (:meth:`answer`), so that the
    previous-connection line comes when the test says, as a real database's does."""

    def __init__(self) -> None:
        self.waiting: list[Deferred[Any]] = []

    def record_login(self, nickname: str, when: Any) -> Deferred[Any]:
        """Wait for :meth:`answer`."""
        d: Deferred[Any] = Deferred()
        self.waiting.append(d)
        return d

    def answer(self, previous: Any = None) -> None:
        """Answer every login recorded so far with ``previous`` (``None``: a first visit)."""
        waiting, self.waiting = self.waiting, []
        for d in waiting:
            d.callback(previous)


#: The nicknames registered in a :class:`HistoryChat` (their keys), and their passwords.
PASSWORDS = {"ana": ANA_PASSWORD, "bob": BOB_PASSWORD, "dave": "Secreto-dave3"}


class HistoryChat:
    """A chat core with history and recados over the in-memory doubles, on a ``Clock`` set to
    :data:`~tests.support.fakes.EPOCH` (``storage``, ``departures``, ``recado_storage``: the
    doubles; ``None`` for ``recados=False`` or ``departures=False``)."""

    def __init__(
        self,
        *,
        days: int = 30,
        plan: HistoryPlan | None = None,
        texts: Catalogue = SPANISH,
        logins: RecordingLogins | None = None,
        recados: bool = True,
        departures: bool = True,
    ) -> None:
        self.clock = Clock()
        self.clock.advance(EPOCH.timestamp())
        self.texts = texts
        self.storage = MemoryHistoryStorage(days)
        self.departures = MemoryDepartureStorage() if departures else None
        self.recado_storage = MemoryRecadoStorage() if recados else None
        hasher = CountingHasher()
        account_storage = MemoryAccountStorage()
        for nickname, password in PASSWORDS.items():
            account_storage.rows[nicknames.key(nickname)] = (
                nickname,
                hasher.hash(password),
                EPOCH,
            )
        self.accounts = Accounts(account_storage, self.clock, ThreadRunner(), hasher=hasher)
        self.accounts.load()
        self.parts: Chat = assemble(
            texts,
            self.clock,
            logins=logins,
            accounts=self.accounts,
            history=self.storage,
            history_plan=plan,
            departures=self.departures,
            recados=self.recado_storage,
        )
        self.core = self.parts.core
        self.history = self.parts.history
        self.recados = self.parts.recados
        self.room = self.parts.room

    def connect(self) -> FakeSession:
        """A new session at the prompt (its prompt dropped)."""
        session = FakeSession(LineRenderer(Language(self.texts)))
        self.core.connected(session)
        session.delivered.clear()
        return session

    def login(self, nickname: str, password: bool | str | None = None) -> FakeSession:
        """A new session logged in as ``nickname``: with ``password`` if given (True: the one
        in :data:`PASSWORDS`), by default with its password if it is registered; what it was
        sent is left for :meth:`lines`."""
        session = self.connect()
        if password is None or password is True:
            password = PASSWORDS.get(nicknames.key(nickname), False)
        self.core.line_received(session, f"{nickname} {password}" if password else nickname)
        if session.nickname is None:
            raise AssertionError(f"login as {nickname!r} failed: {lines(session)!r}")
        return session

    def say(self, session: FakeSession, line: str) -> list[str]:
        """``line`` from ``session``; what it was sent for it (and before, unread)."""
        self.core.line_received(session, line)
        return lines(session)

    def talk(self, session: FakeSession, *texts: str, step: float = 1.0) -> None:
        """Public messages from ``session``, ``step`` seconds apart (so that each has its own
        time), then written by the storage; what every member got meanwhile is dropped."""
        for text in texts:
            self.clock.advance(step)
            self.core.line_received(session, text)
        self.storage.write()
        self.drain()

    def drain(self) -> None:
        """Drop what every member was sent so far."""
        for member in self.room.members():
            lines(member)  # type: ignore[arg-type]

    def leave(self, session: FakeSession) -> None:
        """``session``'s connection is gone."""
        session.closing = True
        self.core.disconnected(session)

    def now_ms(self) -> int:
        """The clock's time in milliseconds."""
        return int(self.clock.seconds() * 1000)


def lines(session: FakeSession) -> list[str]:
    """The lines ``session`` was sent since the last call, decoded (then forgotten)."""
    data = b"".join(session.delivered)
    session.delivered.clear()
    if not data:
        return []
    if not data.endswith(b"\r\n"):
        raise AssertionError(f"output does not end in CRLF: {data!r}")
    return data[:-2].decode("utf-8").split("\r\n")
