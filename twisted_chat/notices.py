"""Join and leave notices, gathered and written together: the one place that decides when.

In a login storm, writing each join notice to every user at once costs N writes per login, N
squared in all. Instead a room hands its join/leave events to a :class:`NoticeGathering`, which
keeps them and tells the room to write them all together (one write per recipient for all of
them) once none has come for :data:`NOTICE_QUIET` seconds: a single join goes out after 20 ms, a
storm's 20 ms after it ends. During a storm a flush costs one ``send`` per user (about 10 us on
a loopback), so flushes are spaced by :data:`NOTICE_SPACING_PER_USER` per user in the room
(250 us keeps them to a few percent of the time): the notices wait at most that long since the
previous flush, and never more than :data:`MAX_NOTICE_DELAY`.

Each recipient still gets one notice per join and leave, in order, and only those that happened
while it was in the room (the gathering remembers where each newcomer's notices start). Pending
notices are always written before any other message of the room (the room flushes them first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from twisted.internet.interfaces import IReactorTime

from twisted_chat.events import Event

NOTICE_QUIET: Final = 0.02
NOTICE_SPACING_PER_USER: Final = 0.00025
MAX_NOTICE_DELAY: Final = 2.0


def notice_delay(users: int, since_last_flush: float) -> float:
    """The longest that join/leave notices wait in a room of ``users`` whose last flush was
    ``since_last_flush`` seconds ago: what is left of 250 us per user since that flush (250 ms at
    1000 users, 1.25 s at 5000), at least 20 ms and at most 2 s."""
    wait = users * NOTICE_SPACING_PER_USER - since_last_flush
    return min(MAX_NOTICE_DELAY, max(NOTICE_QUIET, wait))


class NoticeGathering:
    """The join/leave events of one room waiting to be written, and the timer that says when.

    ``users`` tells how many users the room has (the spacing of flushes grows with it);
    ``flush`` is the room's method that writes what :meth:`take` gives.
    """

    def __init__(
        self,
        clock: IReactorTime,
        users: Callable[[], int],
        flush: Callable[[], None] | None = None,
    ) -> None:
        self.clock = clock
        self._users = users
        #: Called when the timer decides the notices must go out (the room's flush).
        self.flush = flush
        self._events: list[Event] = []
        # Where the notices of each newcomer start: it gets only those after its own join.
        self._joined_at: dict[object, int] = {}
        # When the notices were last flushed by the timer, and the current round of gathering.
        self._flushed_at = float("-inf")
        self._round = 0

    def __len__(self) -> int:
        return len(self._events)

    def add(self, event: Event, joined: object | None = None) -> None:
        """Keep ``event``; ``joined``: the member whose join it announces (it gets only the
        notices after this one)."""
        if not self._events:
            self._schedule()
        if joined is not None:
            self._joined_at[joined] = len(self._events)
        self._events.append(event)

    def take(self) -> tuple[list[Event], dict[object, int]]:
        """The pending events and where each newcomer's start, leaving nothing pending."""
        events, self._events = self._events, []
        joined, self._joined_at = self._joined_at, {}
        return events, joined

    def _schedule(self) -> None:
        """The first notice of a round: flush after a pause, or at the deadline."""
        now = self.clock.seconds()
        deadline = now + notice_delay(self._users(), now - self._flushed_at)
        self._round += 1
        # The event is kept right after this call: one seen at the first check means none
        # came since.
        self.clock.callLater(NOTICE_QUIET, self._timer, self._round, deadline, 1)

    def _timer(self, round_: int, deadline: float, seen: int) -> None:
        if round_ != self._round:
            return  # a newer round has its own timer
        pending = len(self._events)
        if not pending:
            return  # written already, ahead of a message
        now = self.clock.seconds()
        if pending != seen and now < deadline:  # still coming in: wait for a pause
            wait = min(NOTICE_QUIET, deadline - now)
            self.clock.callLater(wait, self._timer, round_, deadline, pending)
            return
        self._flushed_at = now
        if self.flush is not None:
            self.flush()
