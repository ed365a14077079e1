"""The rooms' history (protocol v1.1): what was said, kept, replayed, paged and searched.

The chat core's side of history; nothing here knows SQL. Every public message goes to a
:class:`HistoryStorage` (the ``mensajes`` table, :mod:`twisted_chat.storage.history`, which
writes in batches per reactor turn) and to an in-memory buffer of its room
(:class:`RoomBuffer`), which serves the replay after a login or a move and short
``/historial`` pages without reading the database. Deeper pages and ``/buscar`` read the
storage. Pages are cut by an opaque cursor over (time, id), never by an offset, as in Synapse's
stream tokens, so paging is exact even for messages that share a millisecond.

Stored lines reach users as :class:`~twisted_chat.events.Replayed` events: each transport shows
them as history (``* [TIME] <nick> text`` in protocol v1), never as live traffic.
"""

from __future__ import annotations

import base64
import binascii
from bisect import insort
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_chat import formatting, nicknames
from twisted_chat.commands import command
from twisted_chat.events import Event, EventSource, Public
from twisted_chat.room import ChatRoom, ChatSession, Room

#: Most messages one page may hold (``/historial N``).
MAX_PAGE = 500
#: Messages of ``/historial`` without N.
DEFAULT_PAGE = 50
#: Most messages of "since you left" at login.
MAX_MISSED = 100
#: Fewest characters of a search.
MIN_SEARCH = 3
#: Seconds between two searches of one user.
SEARCH_INTERVAL = 3.0
#: Seconds before a buffer that could not be loaded is tried again.
RELOAD_INTERVAL = 5.0
#: The words after N that introduce a cursor, in both languages.
_BEFORE_WORDS = frozenset({"antes", "before"})


class BadCursor(ValueError):
    """A cursor that this server did not make (or that was damaged on the way)."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A public message read back from history: its id, time (ms, UTC), sender and text."""

    id: str
    time: int
    sender: str
    text: str


class Said(Protocol):
    """A public message as history holds it: a live :class:`~twisted_chat.events.Public` or a
    :class:`StoredMessage` read back."""

    @property
    def id(self) -> str:
        """The message id."""

    @property
    def time(self) -> int:
        """When it was said (ms since the epoch, UTC)."""

    @property
    def sender(self) -> str:
        """Who said it."""

    @property
    def text(self) -> str:
        """What was said."""


@dataclass(frozen=True, slots=True)
class Page:
    """A page of history, oldest first, and the cursor of the page before it (``None`` when
    there is nothing older)."""

    messages: Sequence[Said]
    before: str | None


def make_cursor(time: int, message_id: str) -> str:
    """The opaque cursor of the position just before the message ``(time, message_id)``."""
    raw = f"{time}:{message_id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def parse_cursor(cursor: str) -> tuple[int, str]:
    """The ``(time, id)`` a cursor of :func:`make_cursor` stands for; :class:`BadCursor` if it
    is not one."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        time, message_id = raw.split(":", 1)
        if not message_id or not time.isdigit():
            raise ValueError(raw)
        return int(time), message_id
    except (ValueError, UnicodeError, binascii.Error) as e:
        raise BadCursor(f"not a history cursor: {cursor!r}") from e


def _position(message: Said) -> tuple[int, str]:
    return (message.time, message.id)


#: Seconds after this node starts listening to a room during which a buffer read from the
#: storage is not taken as the room's whole history (see :meth:`History.missed`): it is read
#: again once they are over.
UNSURE_AFTER_LISTENING = 2.0
#: Longest wait, in seconds, for a command's answer read from the storage before the user's
#: next lines are processed anyway (answers come in the order of the commands until then).
ANSWER_WAIT = 5.0
#: Most message ids whose arrival order is remembered (:class:`Cut`).
ARRIVALS = 4096
#: An id above every message id (ids are ASCII letters and digits).
_AFTER_EVERY_ID = "\x7f"


class Cut:
    """Where the history a session is shown stops and live delivery starts: the messages
    said before it (up to the end of its millisecond: another node's message of that
    millisecond is not lost whatever its id), except those that reached this node after it
    (they are delivered live; shown again they would come twice)."""

    __slots__ = ("_arrivals", "position", "seq")

    def __init__(self, now_ms: int, seq: int, arrivals: dict[str, int]) -> None:
        #: The position (time, id) just after this millisecond: where older pages start.
        self.position = (now_ms, _AFTER_EVERY_ID)
        self.seq = seq
        self._arrivals = arrivals

    def before(self, message: Said) -> bool:
        """Whether ``message`` belongs to the history shown (not to live delivery)."""
        if _position(message) >= self.position:
            return False
        arrived = self._arrivals.get(message.id)
        return arrived is None or arrived <= self.seq


class HistoryStorage(Protocol):
    """Where public messages are kept (implemented by
    :class:`twisted_chat.storage.history.HistoryStore`)."""

    @property
    def enabled(self) -> bool:
        """Whether anything is stored (``--history-days`` above 0)."""

    @property
    def days(self) -> int:
        """Days messages are kept."""

    def keep(self, event: Public) -> None:
        """Store ``event`` (in this reactor turn's batch; nobody waits for it)."""

    def page(self, room_key: str, limit: int, before: str | None = None) -> defer.Deferred[Any]:
        """The last ``limit`` messages of ``room_key`` before the cursor ``before``: a
        :class:`Page`; fails with :class:`BadCursor` for a cursor it did not make."""

    def since(self, room_key: str, after: int, limit: int) -> defer.Deferred[Any]:
        """The last ``limit`` messages of ``room_key`` after ``after`` (ms): a :class:`Page`
        and how many there are in all."""

    def search(self, room_key: str, words: Sequence[str], limit: int) -> defer.Deferred[Any]:
        """The latest ``limit`` messages of ``room_key`` holding every word, oldest first."""

    def forget(self, nick_key: str) -> defer.Deferred[int]:
        """Delete every message of ``nick_key``; fire with how many."""

    def between(
        self,
        room_key: str,
        lower: tuple[int, str] | None,
        upper: tuple[int, str] | None,
        limit: int,
        newest: bool,
    ) -> defer.Deferred[Any]:
        """At most ``limit`` messages of ``room_key`` strictly between the positions ``lower``
        and ``upper`` (``None``: unbounded), oldest first: the newest of them if ``newest``,
        else the oldest."""

    def find(self, room_key: str, message_id: str) -> defer.Deferred[Any]:
        """The stored message ``message_id`` of ``room_key`` (a :class:`StoredMessage`), or
        ``None``."""


class DepartureStorage(Protocol):
    """When registered users last left (implemented by
    :class:`twisted_chat.storage.departures.DepartureStore`)."""

    def record_departure(self, nick_key: str, left_at: int) -> defer.Deferred[Any]:
        """Record that ``nick_key`` left at ``left_at`` (ms)."""

    def last_departure(self, nick_key: str) -> defer.Deferred[Any]:
        """When ``nick_key`` last left (ms), or ``None``."""


@dataclass(frozen=True)
class HistoryPlan:
    """How much history is shown: the replay (``--history-replay`` messages of the last
    ``--history-replay-hours``) and the size of each room's buffer in memory."""

    replay: int = 20
    replay_hours: float = 24.0
    buffer: int = 100


class RoomBuffer:
    """The last messages of one room in memory, oldest first.

    ``loaded``: the stored messages were read in (until then it holds only what was said since
    start-up). ``complete``: it holds every stored message of the room (the room had fewer
    than fit), so what it lacks does not exist.
    """

    __slots__ = ("complete", "loaded", "loading", "messages", "stale", "tried_at")

    def __init__(self, size: int) -> None:
        self.messages: deque[Said] = deque(maxlen=size)
        self.loaded = False
        self.complete = False
        self.loading: list[defer.Deferred[RoomBuffer]] | None = None
        self.tried_at = -RELOAD_INTERVAL
        #: What it holds may be wrong (read again after the cluster missed events): the next
        #: :meth:`fill` keeps only the messages newer than the storage's.
        self.stale = False

    def add(self, message: Said) -> None:
        """Add a message said now (in order; one from another node may come a little late)."""
        messages = self.messages
        if len(messages) == messages.maxlen:
            self.complete = False
        last = messages[-1] if messages else None
        if last is not None and (
            message.time < last.time or (message.time == last.time and message.id < last.id)
        ):
            ordered = sorted([*messages, message], key=_position)
            messages.clear()
            messages.extend(ordered)
        else:
            messages.append(message)

    def fill(self, stored: Sequence[Said], complete: bool) -> None:
        """Take the stored messages read from the storage (oldest first), keeping those said
        since (when :attr:`stale`, only those newer than the newest stored: one it lacks
        before that was erased meanwhile, by ``/olvidar`` on another node)."""
        seen = {m.id for m in stored}
        merged = list(stored)
        newest = _position(stored[-1]) if self.stale and stored else None
        for message in self.messages:
            if message.id not in seen and (newest is None or _position(message) > newest):
                insort(merged, message, key=_position)
        self.stale = False
        maxlen = self.messages.maxlen or 0
        self.messages.clear()
        self.messages.extend(merged)
        self.complete = complete and len(merged) <= maxlen
        self.loaded = True

    def page(self, limit: int, before: tuple[int, str] | None) -> Page | None:
        """The last ``limit`` messages before ``before`` if this buffer can tell them exactly,
        else ``None`` (read the storage)."""
        if not self.loaded:
            return None
        candidates = [m for m in self.messages if before is None or _position(m) < before]
        if len(candidates) > limit:
            shown = candidates[-limit:]
            return Page(shown, make_cursor(shown[0].time, shown[0].id))
        if self.complete:
            return Page(candidates, None)
        return None

    def select(
        self,
        lower: tuple[int, str] | None,
        upper: tuple[int, str] | None,
        limit: int,
        newest: bool,
    ) -> list[Said] | None:
        """What :meth:`History.select` asks, if this buffer can tell it exactly (it holds every
        message from its first one on), else ``None``."""
        if not self.loaded:
            return None
        candidates = [
            m
            for m in self.messages
            if (lower is None or _position(m) > lower) and (upper is None or _position(m) < upper)
        ]
        covered = self.complete or (
            lower is not None and bool(self.messages) and lower >= _position(self.messages[0])
        )
        if newest and (covered or len(candidates) >= limit):
            return candidates[-limit:]
        if not newest and covered:
            return candidates[:limit]
        return None

    def drop(self, keep: Callable[[Said], bool]) -> None:
        """Forget the messages ``keep`` rejects (retention, ``/olvidar``)."""
        kept = [m for m in self.messages if keep(m)]
        if len(kept) != len(self.messages):
            self.messages.clear()
            self.messages.extend(kept)


class History:
    """The history of every room: buffers in memory, the storage behind them, and what users
    are shown of it (retention line, replay, "since you left", pages, search)."""

    log = Logger()

    def __init__(
        self,
        storage: HistoryStorage,
        room: Room,
        events: EventSource,
        plan: HistoryPlan | None = None,
        departures: DepartureStorage | None = None,
    ) -> None:
        self.storage = storage
        self.room = room
        self.events = events
        self.plan = plan = plan or HistoryPlan()
        self.departures = departures
        self._buffers: dict[str, RoomBuffer] = {}
        self._size = max(plan.buffer, plan.replay, 1)
        # History on or off is set at start-up (``--history-days`` needs a restart).
        self._on = storage.enabled
        self._keep = storage.keep
        # The order in which the last messages reached this node (id -> number), for cuts.
        self._arrivals: OrderedDict[str, int] = OrderedDict()
        self._arrived = 0
        # Room key -> until when a buffer read in may lack other nodes' last messages.
        self._unsure: dict[str, float] = {}
        #: The reactor's time (the event source's clock: a reactor, or a test's Clock).
        self.reactor: IReactorTime = cast(IReactorTime, events.clock)

    @property
    def enabled(self) -> bool:
        """Whether history is on (``--history-days`` above 0)."""
        return self.storage.enabled

    # -- what was said ---------------------------------------------------------------------

    def said(self, event: Public) -> None:
        """``event`` was said on this node: store it (once, here) and remember it (the path of
        every public message: kept short)."""
        if self._on:
            self._keep(event)
            buffer = self._buffers.get(event.room)  # type: ignore[arg-type]
            if buffer is None:
                self.heard(event)
            else:
                self._arrive(event.id)
                buffer.add(event)

    def _arrive(self, message_id: str) -> None:
        """Number ``message_id`` in the order messages reach this node (bounded)."""
        self._arrived += 1
        arrivals = self._arrivals
        arrivals[message_id] = self._arrived
        if len(arrivals) > ARRIVALS:
            arrivals.popitem(last=False)  # O(1), where a dict's first key is found by a scan

    def heard(self, event: Public) -> None:
        """``event`` was said (here or on another node, which stores it): remember it in its
        room's buffer."""
        room_key = event.room
        if room_key is None or not self._on or formatting.is_ctcp_query(event.text):
            return  # (a CTCP query to a channel is for IRC clients then: never kept)
        buffer = self._buffers.get(room_key)
        if buffer is None:
            buffer = self._buffers[room_key] = RoomBuffer(self._size)
        self._arrive(event.id)
        buffer.add(event)

    def buffer(self, room_key: str) -> defer.Deferred[RoomBuffer]:
        """The buffer of ``room_key``, its stored messages read in (if the storage answers)."""
        buffer = self._buffers.get(room_key)
        if buffer is None:
            buffer = self._buffers[room_key] = RoomBuffer(self._size)
        if buffer.loaded:
            return defer.succeed(buffer)
        now = self.events.clock.seconds()
        waiting: defer.Deferred[RoomBuffer] = defer.Deferred()
        if buffer.loading is not None:
            buffer.loading.append(waiting)
            return waiting
        if now - buffer.tried_at < RELOAD_INTERVAL:
            return defer.succeed(buffer)  # the storage failed a moment ago: what is here
        buffer.tried_at = now
        buffer.loading = [waiting]

        def loaded(page: Page) -> None:
            # What the retention purge has not deleted yet (it may be running: at start-up,
            # on a database that kept old messages) is gone all the same.
            oldest = self.events.now_ms() - self.storage.days * 86_400_000
            unsure = self._unsure.get(room_key, 0.0) - self.events.clock.seconds()
            complete = page.before is None and unsure <= 0
            buffer.fill([m for m in page.messages if m.time >= oldest], complete)
            if unsure > 0:
                self.reactor.callLater(unsure, self._read_again, room_key, buffer)
            else:
                self._unsure.pop(room_key, None)

        def failed(failure: Failure) -> None:
            self.log.info("history of {room} not read: {error}", room=room_key, error=failure.value)

        def done(_: object) -> None:
            waiters, buffer.loading = buffer.loading or [], None
            for waiter in waiters:
                waiter.callback(buffer)

        read = self.storage.page(room_key, self._size)
        read.addCallbacks(loaded, failed).addBoth(done)
        return waiting

    def _read_again(self, room_key: str, buffer: RoomBuffer) -> None:
        """Read ``buffer`` in again now that what other nodes said before this node listened
        to the room is stored (:data:`UNSURE_AFTER_LISTENING`)."""
        if self._buffers.get(room_key) is not buffer:
            return
        if buffer.loading is not None:  # asked for within the moment: read once more after it
            self.reactor.callLater(0.5, self._read_again, room_key, buffer)
            return
        self._unsure.pop(room_key, None)
        buffer.loaded = False
        buffer.tried_at = -RELOAD_INTERVAL
        self.buffer(room_key)

    def reload(self) -> None:
        """Read every buffer in again from the storage (after the cluster missed messages)."""
        for buffer in self._buffers.values():
            buffer.loaded = False
            buffer.stale = True
            buffer.tried_at = -RELOAD_INTERVAL
        for room_key in list(self._buffers):
            self.buffer(room_key)

    def missed(self, room_key: str | None) -> None:
        """This node may have missed messages said on other nodes: in ``room_key`` (it had no
        member there, and did not listen; its buffer is dropped, read again when next
        needed), or in every room (``None``: after a Redis outage; every buffer is read
        again)."""
        if room_key is None:
            self.reload()
        else:
            self._buffers.pop(room_key, None)
            # The channel is listened to a moment after it is asked for, and the other nodes'
            # last messages reach the storage a moment after they are said: a buffer read in
            # meanwhile may lack some, so it is read again once that moment is over.
            self._unsure[room_key] = self.events.clock.seconds() + UNSURE_AFTER_LISTENING

    def prune(self, now_ms: int) -> None:
        """Drop the buffers of rooms that are gone, and what retention deleted."""
        rooms = self.room.rooms
        for room_key in [k for k in self._buffers if k not in rooms]:
            del self._buffers[room_key]
        now = self.events.clock.seconds()
        for room_key in [k for k, until in self._unsure.items() if until <= now]:
            del self._unsure[room_key]
        oldest = now_ms - self.storage.days * 86_400_000
        for buffer in self._buffers.values():
            if buffer.messages and buffer.messages[0].time < oldest:
                buffer.drop(lambda m: m.time >= oldest)

    def forgotten(self, nick_key: str) -> None:
        """Every message of ``nick_key`` was erased: drop them from the buffers too."""
        for buffer in self._buffers.values():
            buffer.drop(lambda m: nicknames.key(m.sender) != nick_key)

    # -- what users are shown --------------------------------------------------------------

    def retention_line(self) -> Event:
        """The welcome's line saying how long public messages are kept."""
        if self.storage.enabled:
            return self.events.notice("history_kept", days=self.storage.days)
        return self.events.notice("history_off")

    def lines(self, room_key: str, messages: Iterable[Said]) -> list[Event]:
        """``messages`` of ``room_key`` as stored lines."""
        replayed = self.events.replayed
        return [replayed(m.id, m.time, room_key, m.sender, m.text) for m in messages]

    def cut(self) -> Cut:
        """Where history stops for a session that joins a room now.

        It gets what is said from now on live: the history it is shown (the replay, "since
        you left") stops here, or the messages said while the storage was read would come
        twice, live and then as history.
        """
        return Cut(self.events.now_ms(), self._arrived, self._arrivals)

    def replay(
        self, session: ChatSession, room_key: str, cut: Cut | None = None
    ) -> defer.Deferred[None]:
        """Show ``session`` the room's last messages of the replay window (after a login or a
        move) said before ``cut`` (by default, now); fires once they are delivered."""

        def show(recent: list[Said]) -> None:
            if recent and not session.closing:
                session.deliver_all(self.lines(room_key, recent))

        return self.recent(room_key, cut).addCallback(show)

    def recent(self, room_key: str, cut: Cut | None = None) -> defer.Deferred[list[Said]]:
        """The messages of the replay of ``room_key`` (``--history-replay`` of the last
        ``--history-replay-hours``) said before ``cut`` (by default, now), oldest first."""
        if not self.storage.enabled or self.plan.replay <= 0:
            return defer.succeed([])
        before = cut or self.cut()

        def pick(buffer: RoomBuffer) -> list[Said]:
            oldest = self.events.now_ms() - int(self.plan.replay_hours * 3_600_000)
            return [m for m in buffer.messages if m.time >= oldest and before.before(m)][
                -self.plan.replay :
            ]

        return self.buffer(room_key).addCallback(pick)

    def at_login(
        self, session: ChatSession, room_key: str, registered: bool
    ) -> defer.Deferred[None]:
        """What a new login is shown of its room's history: what was said since it last left
        (``registered``: logged in with a password), else the plain replay."""
        departures = self.departures
        cut = self.cut()
        if not registered or departures is None or not self.storage.enabled:
            return self.replay(session, room_key, cut)
        nick_key = nicknames.key(session.nickname or "")

        def known(left_at: int | None) -> defer.Deferred[None]:
            if left_at is None or session.closing:
                return self.replay(session, room_key, cut)
            return self._since(session, room_key, left_at, cut)

        def unknown(failure: Failure) -> defer.Deferred[None]:
            self.log.info("departure of {nick} not read: {error}", nick=nick_key, error=failure)
            return self.replay(session, room_key, cut)

        read: Any = departures.last_departure(nick_key)
        shown: defer.Deferred[None] = read.addCallbacks(known, unknown)
        return shown

    def _since(
        self, session: ChatSession, room_key: str, left_at: int, cut: Cut
    ) -> defer.Deferred[None]:
        """Show what was said in ``room_key`` after ``left_at`` and before ``cut``: at most
        :data:`MAX_MISSED` messages, then how many more and the command for them."""

        def from_buffer(buffer: RoomBuffer) -> Any:
            messages = buffer.messages
            covered = buffer.loaded and (
                buffer.complete or (bool(messages) and messages[0].time <= left_at)
            )
            if covered:
                missed = [m for m in messages if m.time > left_at and cut.before(m)]
                shown = missed[-MAX_MISSED:]
                cursor = (
                    make_cursor(shown[0].time, shown[0].id) if len(missed) > MAX_MISSED else None
                )
                return self._show_missed(session, room_key, Page(shown, cursor), len(missed), cut)
            return self.storage.since(room_key, left_at, MAX_MISSED).addCallbacks(
                lambda found: self._show_missed(
                    session, room_key, found[0], found[1], cut, buffer, left_at
                ),
                lambda failure: self._since_failed(session, room_key, failure, cut),
            )

        return self.buffer(room_key).addCallback(from_buffer)

    def _since_failed(self, session: ChatSession, room_key: str, failure: Failure, cut: Cut) -> Any:
        self.log.info("history since a departure not read: {error}", error=failure.value)
        return self.replay(session, room_key, cut)

    def _show_missed(
        self,
        session: ChatSession,
        room_key: str,
        page: Page,
        total: int,
        cut: Cut,
        buffer: RoomBuffer | None = None,
        left_at: int = 0,
    ) -> None:
        if session.closing:
            return
        messages = [m for m in page.messages if cut.before(m)]
        total -= len(page.messages) - len(messages)  # stored since the login: shown live
        if buffer is not None:  # messages still on their way to the storage
            newest = _position(messages[-1]) if messages else (0, "")
            # (said after the departure: a buffer that could not be loaded holds what was
            # said since start-up, before the departure too; and before the cut)
            newer = [
                m
                for m in buffer.messages
                if newest < _position(m) and cut.before(m) and m.time > left_at
            ]
            messages += newer
            total += len(newer)
            if len(messages) > MAX_MISSED:
                messages = messages[-MAX_MISSED:]
        lines = self.lines(room_key, messages)
        if total > len(messages):
            # (before the first shown; before the cut when more than a page was said during
            # the login, all of it delivered live)
            cursor = make_cursor(*(_position(messages[0]) if messages else cut.position))
            more = total - len(messages)
            lines.append(
                self.events.notice("history_missed", count=more, n=DEFAULT_PAGE, cursor=cursor)
            )
        if lines:
            session.deliver_all(lines)

    def departed(self, nick_key: str) -> None:
        """A user logged in with a password left: remember when (for "since you left")."""
        if self.departures is None or not self.storage.enabled:
            return
        recorded = self.departures.record_departure(nick_key, self.events.now_ms())
        recorded.addErrback(
            lambda failure: self.log.info(
                "departure of {nick} not recorded: {error}", nick=nick_key, error=failure.value
            )
        )

    def read_page(
        self, room_key: str, limit: int, before: tuple[int, str] | None, cursor: str | None
    ) -> defer.Deferred[Page]:
        """A page of ``room_key``: from its buffer when that can tell it exactly, else from the
        storage (with what is still on its way to it)."""

        def from_buffer(buffer: RoomBuffer) -> Any:
            page = buffer.page(limit, before)
            if page is not None:
                return page
            read = self.storage.page(room_key, limit, cursor)
            if before is None:
                read.addCallback(self._with_unwritten, buffer, limit)
            return read

        return self.buffer(room_key).addCallback(from_buffer)

    @staticmethod
    def _with_unwritten(page: Page, buffer: RoomBuffer, limit: int) -> Page:
        """The newest page as stored, with the messages said since that the storage has not
        written yet."""
        messages = list(page.messages)
        newest = _position(messages[-1]) if messages else (0, "")
        newer = [m for m in buffer.messages if _position(m) > newest]
        if not newer:
            return page
        messages += newer
        if len(messages) <= limit:
            return Page(messages, page.before)
        shown = messages[-limit:]
        return Page(shown, make_cursor(shown[0].time, shown[0].id))

    def select(
        self,
        room_key: str,
        lower: tuple[int, str] | None,
        upper: tuple[int, str] | None,
        limit: int,
        newest: bool,
    ) -> defer.Deferred[list[Said]]:
        """At most ``limit`` messages of ``room_key`` strictly between the positions (time,
        id) ``lower`` and ``upper`` (``None``: unbounded), oldest first: the newest of them if
        ``newest``, else the oldest (IRC's ``CHATHISTORY``). From the room's buffer when it can
        tell them exactly, else from the storage with what is still on its way to it."""

        def from_buffer(buffer: RoomBuffer) -> Any:
            found = buffer.select(lower, upper, limit, newest)
            if found is not None:
                return found
            read = self.storage.between(room_key, lower, upper, limit, newest)
            return read.addCallback(self._with_unwritten_range, buffer, lower, upper, limit, newest)

        return self.buffer(room_key).addCallback(from_buffer)

    @staticmethod
    def _with_unwritten_range(
        stored: Sequence[Said],
        buffer: RoomBuffer,
        lower: tuple[int, str] | None,
        upper: tuple[int, str] | None,
        limit: int,
        newest: bool,
    ) -> list[Said]:
        """``stored`` with the buffer's messages in the range that the storage has not
        written yet (the newest ones), cut to ``limit`` again."""
        seen = {m.id for m in stored}
        newer = [
            m
            for m in buffer.messages
            if m.id not in seen
            and (lower is None or _position(m) > lower)
            and (upper is None or _position(m) < upper)
        ]
        if not newer:
            return list(stored)
        merged = sorted([*stored, *newer], key=_position)
        return merged[-limit:] if newest else merged[:limit]

    def locate(self, room_key: str, message_id: str) -> defer.Deferred[Said | None]:
        """The message ``message_id`` of ``room_key`` (from its buffer, else the storage), or
        ``None`` if the room has no such message."""

        def from_buffer(buffer: RoomBuffer) -> Any:
            for message in buffer.messages:
                if message.id == message_id:
                    return message
            return self.storage.find(room_key, message_id)

        return self.buffer(room_key).addCallback(from_buffer)


class HistoryCommands:
    """``/historial`` and ``/buscar``: a group of the command table."""

    log = Logger()

    def __init__(self, history: History) -> None:
        self.history = history
        self.events = history.events
        self.room = history.room
        # nick key -> when it last searched (pruned as it grows)
        self._searched: dict[str, float] = {}

    @command(
        "historial",
        "history",
        es="muestra los últimos N mensajes de tu sala (50; antes CURSOR: los anteriores)",
        en="show the last N messages of your room (50; before CURSOR: older ones)",
        usage=("[N] [antes CURSOR]", "[N] [before CURSOR]"),
    )
    def historial(self, session: ChatSession, args: str) -> None:
        """The last N messages of the user's room, oldest first, and the command for the page
        before when older ones exist."""
        self.show_page(session, self.room.room_of(session), args)

    def show_page(self, session: ChatSession, chatroom: ChatRoom, args: str) -> None:
        """``/historial``'s answer for the room ``chatroom`` (the caller checked that
        ``session`` may read it: a member)."""
        events = self.events
        if not self.history.enabled:
            session.deliver(events.error("history_disabled"))
            return
        parsed = _parse_page_args(args)
        if parsed is None:
            session.deliver(events.error("history_usage", max=MAX_PAGE))
            return
        limit, cursor = parsed
        try:
            before = None if cursor is None else parse_cursor(cursor)
        except BadCursor:
            session.deliver(events.error("history_bad_cursor", cursor=cursor or ""))
            return

        def show(page: Page) -> None:
            if session.closing:
                return
            if not page.messages:
                session.deliver(events.notice("history_empty", room=chatroom.name))
                return
            lines: list[Event] = [
                events.notice("history_header", count=len(page.messages), room=chatroom.name)
            ]
            lines += self.history.lines(chatroom.key, page.messages)
            if page.before is not None:
                lines.append(events.notice("history_more", n=limit, cursor=page.before))
            session.deliver_all(lines)

        def failed(failure: Failure) -> None:
            if failure.check(BadCursor):
                session.deliver(events.error("history_bad_cursor", cursor=cursor or ""))
                return
            self.log.info("history page not read: {error}", error=failure.value)
            session.deliver(events.error("history_unavailable"))

        reading = self.history.read_page(chatroom.key, limit, before, cursor)
        reading.addCallbacks(as_answer(session, show), as_answer(session, failed))
        answer_in_order(session, reading, self.history.reactor)

    @command(
        "buscar",
        "search",
        es="busca en tu sala los mensajes con todas las palabras de TEXTO",
        en="find the messages of your room holding every word of TEXT",
        usage=("TEXTO", "TEXT"),
    )
    def buscar(self, session: ChatSession, args: str) -> None:
        """Up to 20 messages of the user's room holding every word, oldest first; one search
        per :data:`SEARCH_INTERVAL` seconds per user."""
        self.search_in(session, self.room.room_of(session), args)

    def search_in(self, session: ChatSession, chatroom: ChatRoom, args: str) -> None:
        """``/buscar``'s answer in the room ``chatroom`` (the caller checked that ``session``
        may read it: a member)."""
        events = self.events
        if not self.history.enabled:
            session.deliver(events.error("history_disabled"))
            return
        text = " ".join(args.split())
        if len(text) < MIN_SEARCH:
            session.deliver(events.error("search_short", min=MIN_SEARCH))
            return
        now = self.events.clock.seconds()
        nick_key = nicknames.key(session.nickname or "")
        last = self._searched.get(nick_key)
        if last is not None and now - last < SEARCH_INTERVAL:
            wait = max(1, int(SEARCH_INTERVAL - (now - last) + 0.999))
            session.deliver(events.error("search_wait", seconds=wait))
            return
        self._remember_search(nick_key, now)

        def show(found: list[StoredMessage]) -> None:
            if session.closing:
                return
            if not found:
                session.deliver(events.notice("search_none", room=chatroom.name, text=text))
                return
            header = events.notice("search_header", count=len(found), room=chatroom.name, text=text)
            session.deliver_all([header, *self.history.lines(chatroom.key, found)])

        def failed(failure: Failure) -> None:
            self.log.info("search not done: {error}", error=failure.value)
            session.deliver(events.error("history_unavailable"))

        searched = self.history.storage.search(chatroom.key, text.split(), 20)
        searched.addCallbacks(as_answer(session, show), as_answer(session, failed))
        answer_in_order(session, searched, self.history.reactor)

    def _remember_search(self, nick_key: str, now: float) -> None:
        searched = self._searched
        if len(searched) > 1000:
            for key in [k for k, t in searched.items() if now - t >= SEARCH_INTERVAL]:
                del searched[key]
        searched[nick_key] = now


def as_answer(session: ChatSession, callback: Callable[..., Any]) -> Callable[..., Any]:
    """``callback``, the later answer of the command ``session`` is running, as the session
    wants it run: an IRC session keeps it in the command's labeled response
    (:meth:`twisted_chat.irc.session.IrcSession.as_answer`); other sessions run it as it is."""
    wrap = getattr(session, "as_answer", None)
    return callback if wrap is None else wrap(callback)


def answer_in_order(
    session: ChatSession, answered: defer.Deferred[Any], clock: IReactorTime
) -> None:
    """Keep ``session``'s next lines until ``answered`` (a command's answer read from the
    storage) fires, or at most :data:`ANSWER_WAIT` seconds, so that its answers come in the
    order of its commands (a ``/historial`` then ``/username``: the page first)."""
    state: dict[str, Any] = {"answered": False, "timer": None}

    def release(result: object = None) -> object:
        state["answered"] = True
        timer: IDelayedCall | None = state["timer"]
        if timer is not None:
            state["timer"] = None
            if timer.active():
                timer.cancel()
            session.release()
        return result

    answered.addBoth(release)
    if not state["answered"]:  # not from memory: read from the storage
        session.hold()
        state["timer"] = clock.callLater(ANSWER_WAIT, release)


def _parse_page_args(args: str) -> tuple[int, str | None] | None:
    """``[N] [antes CURSOR]`` as ``(N, cursor)``, or ``None`` if it is not that."""
    words = args.split()
    limit = DEFAULT_PAGE
    if words and words[0].isdigit() and words[0].isascii():
        limit = int(words[0])
        words = words[1:]
        if not 1 <= limit <= MAX_PAGE:
            return None
    if not words:
        return limit, None
    if len(words) == 2 and words[0].lower() in _BEFORE_WORDS:
        return limit, words[1]
    return None


class ForgetCommand:
    """``/olvidar``: a user logged in with a password erases everything stored that they sent
    (their messages in history, their pending recados)."""

    log = Logger()

    def __init__(
        self,
        history: History | None,
        events: EventSource,
        has_password: Callable[[ChatSession], bool],
        forget_recados: Callable[[str], defer.Deferred[Any]] | None = None,
    ) -> None:
        self.history = history
        self.events = events
        self.has_password = has_password
        self.forget_recados = forget_recados

    @command(
        "olvidar",
        "forget",
        es="borra todos tus mensajes guardados y tus recados pendientes (pide confirmación)",
        en="erase every stored message and pending memo of yours (asks to confirm)",
        usage=("[confirmar]", "[confirm]"),
    )
    def olvidar(self, session: ChatSession, args: str) -> None:
        """Ask for ``/olvidar confirmar``; with it, erase and say how many."""
        events = self.events
        if not self.has_password(session):
            session.deliver(events.error("forget_password"))
            return
        word = args.strip(" \t").lower()
        if not word:
            session.deliver(events.notice("forget_ask"))
            return
        if word not in ("confirmar", "confirm"):
            session.deliver(events.error("forget_usage"))
            return
        nick_key = nicknames.key(session.nickname or "")
        self.erase(nick_key).addCallbacks(
            lambda counts: session.deliver(
                events.notice("forget_done", messages=counts[0], recados=counts[1])
            ),
            lambda failure: self._failed(session, nick_key, failure),
        )

    @defer.inlineCallbacks
    def erase(self, nick_key: str) -> Any:
        """Erase what ``nick_key`` sent; fire with ``(messages, recados)``."""
        messages = recados = 0
        if self.history is not None:
            messages = yield self.history.storage.forget(nick_key)
            self.history.forgotten(nick_key)
            self.history.room.erased(nick_key)  # and on the other nodes of a cluster
        if self.forget_recados is not None:
            recados = yield self.forget_recados(nick_key)
        self.log.info(
            "{nick} erased {messages} messages and {recados} recados",
            nick=nick_key,
            messages=messages,
            recados=recados,
        )
        return (messages, recados)

    def _failed(self, session: ChatSession, nick_key: str, failure: Failure) -> None:
        self.log.info("erasing for {nick} failed: {error}", nick=nick_key, error=failure.value)
        session.deliver(self.events.error("forget_unavailable"))
